"""Validator statistics side by side with reference implementations, in one run (ratios, no asserts).

* MMD permutation test: all permutations in one matrix product vs re-indexing the kernel per
  permutation (``mmd_permutation_naive``), 2,000 vs 2,000 x 128, 100 permutations (goal >= 50x).
* Energy test: ours (same distance matrix, one product) vs dcor's permutation energy test.
* PRDC: ours (blocked) vs the ``prdc`` package; peak memory of ours at 50,000 vs 50,000.
* Fréchet distance: symmetric eigendecomposition vs ``scipy.linalg.sqrtm``.
* KS per feature: vectorised vs a ``scipy.stats.ks_2samp`` loop.

    python benchmarks/bench_validators.py [--quick] [--prdc-n 50000]
"""
from __future__ import annotations

import argparse
import os
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def _time(fn, repeat=1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def row(name, ours, ref, note=""):
    print(f"{name:<44} ours {ours * 1e3:9.1f} ms   reference {ref * 1e3:9.1f} ms   x{ref / ours:7.1f}  {note}", flush=True)


def main(argv=None) -> None:
    from synthgen.validators import stats as S

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--prdc-n", type=int, default=50_000, help="samples per side for the PRDC memory run")
    a = ap.parse_args(argv)
    n = 500 if a.quick else 2000
    r = np.random.default_rng(0)
    x, y = r.normal(size=(n, 128)), r.normal(size=(n, 128)) + 0.05

    t_ours, o = _time(lambda: S.mmd_permutation(x, y, 100, np.random.default_rng(1)))
    t_ref, ref = _time(lambda: S.mmd_permutation_naive(x, y, 100, np.random.default_rng(1)))
    row(f"MMD perm test {n}x{n}x128, 100 perms", t_ours, t_ref, f"end to end, kernel included (mmd2 equal: {np.isclose(o['mmd2'], ref['mmd2'])})")
    # the permutation phase alone, both given the same kernel matrix (what the 50x goal is about)
    K, _ = S.rbf_kernel(np.vstack([x, y]))
    N = 2 * n
    rng = np.random.default_rng(1)

    def perms_product():
        assign = np.argsort(rng.random((N, 100)), axis=0) < n
        return S.mmd2_from_weights(K, S._weights(assign, n, n))

    def perms_reindex():
        out = []
        for _ in range(100):
            q = rng.permutation(N)
            ix, iy = q[:n], q[n:]
            out.append(K[np.ix_(ix, ix)].mean() + K[np.ix_(iy, iy)].mean() - 2 * K[np.ix_(ix, iy)].mean())
        return out

    t_ours, _ = _time(perms_product)
    t_ref, _ = _time(perms_reindex)
    row("  100 permutations only, kernel given", t_ours, t_ref, "one matrix product vs re-indexing per permutation (goal >= 50x)")

    try:
        import dcor

        m = min(n, 1000)
        t_ours, o = _time(lambda: S.kernel_tests(x[:m], y[:m], 100, np.random.default_rng(1)))
        dcor.homogeneity.energy_test(x[:50], y[:50], num_resamples=2)  # JIT warm-up, not timed
        t_ref, ref = _time(lambda: dcor.homogeneity.energy_test(x[:m], y[:m], num_resamples=100, random_state=1))
        row(f"energy test {m}x{m}x128, 100 perms (+MMD)", t_ours, t_ref, f"vs dcor.homogeneity.energy_test (p ours {o['p_energy']:.3f}, dcor {ref.pvalue:.3f})")
    except ImportError:
        print("energy test: dcor not installed (pip install 'synthgen-rare[bench]')")

    try:
        import prdc as prdc_pkg

        m = min(n, 2000)
        t_ours, o = _time(lambda: S.prdc(x[:m, :64], y[:m, :64], 5))
        t_ref, ref = _time(lambda: prdc_pkg.compute_prdc(x[:m, :64], y[:m, :64], 5))
        same = all(np.isclose(o[k], ref[k]) for k in o)
        row(f"PRDC {m}x{m}x64, k=5", t_ours, t_ref, f"vs prdc.compute_prdc (identical: {same})")
    except ImportError:
        print("PRDC: prdc not installed (pip install 'synthgen-rare[bench]')")

    import scipy.linalg

    d = 256 if a.quick else 512
    z1, z2 = r.normal(size=(4 * d, d)), r.normal(size=(4 * d, d)) * 1.1
    s1, s2 = np.cov(z1, rowvar=False), np.cov(z2, rowvar=False)
    mu1, mu2 = z1.mean(0), z2.mean(0)
    t_ours, fo = _time(lambda: S.frechet_distance(mu1, s1, mu2, s2))

    def ref_fd():
        covmean = scipy.linalg.sqrtm(s1 @ s2).real
        return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))

    t_ref, fr = _time(ref_fd)
    row(f"Frechet distance {d}-d", t_ours, t_ref, f"vs scipy.linalg.sqrtm (rel diff {abs(fo - fr) / fr:.1e})")

    from scipy.stats import ks_2samp

    k = 64
    t_ours, (dd, _) = _time(lambda: S.ks_test(x[:, :k], y[:, :k]))
    t_ref, dr = _time(lambda: [ks_2samp(x[:, j], y[:, j]).statistic for j in range(k)])
    row(f"KS per feature {n}x{n}x{k}", t_ours, t_ref, f"vs ks_2samp loop (D equal: {np.allclose(dd, dr)})")

    N = 5000 if a.quick else a.prdc_n
    big_x, big_y = r.normal(size=(N, 16)).astype(np.float64), r.normal(size=(N, 16))
    tracemalloc.start()
    t, res = _time(lambda: S.prdc(big_x, big_y, 5))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    dense = 3 * N * N * 8
    print(f"PRDC {N:,} vs {N:,} x16: {t:.1f} s, peak extra memory {peak / 2**20:.0f} MiB "
          f"(a dense distance matrix alone, as the prdc package builds three of: {N * N * 8 / 2**30:.1f} GiB each, "
          f"{dense / 2**30:.1f} GiB)  -> {res}", flush=True)


if __name__ == "__main__":
    main()
