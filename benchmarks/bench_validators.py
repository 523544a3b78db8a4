"""Validator statistics: synthgen, the best installed peer and the minimal reference, in one run.

Each row times three things on the same data (CPU-time medians over ``--repeat`` runs, one thread):

* synthgen (``synthgen.validators.stats``),
* the best installed peer package (dcor, prdc, scipy; torchmetrics / pytorch-fid / alibi-detect /
  torch-two-sample when installed, skipped with a message otherwise: alibi-detect is BSL-licensed and
  never a dependency),
* the minimal reference: the same maths in a few lines of numpy, written below, with the same results
  (the line prints the largest difference),

and prints peer / synthgen ("vs best peer", above 1 = synthgen faster) and synthgen / reference
("vs limit", 1.0 = at the limit, above 1 = slower than the limit).

    python benchmarks/bench_validators.py [--quick] [--repeat 3] [--fd-dim 1024] [--big-n 10000] [--prdc-n 50000]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tracemalloc
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script or through run_all

import numpy as np

from benchmarks.common import median_of


def line(name: str, ours: float, peer: tuple[str, float] | None, limit: float, same: str) -> None:
    p = f"{peer[0]} {peer[1]:8.3f} s  vs best peer {peer[1] / ours:6.1f}x" if peer else f"{'(no installed peer)':<34}"
    print(f"{name:<40} synthgen {ours:8.3f} s | {p} | limit {limit:8.3f} s  vs limit {ours / limit:5.2f}  ({same})",
          flush=True)


def missing(*names: str) -> list[str]:
    return [n for n in names if importlib.util.find_spec(n) is None]


# --- minimal references: the same maths, a few lines of numpy -------------------------------------

def ref_kernel_tests(x, y, P, rng, energy=True):
    """float32 GEMM for the squared distances, exact median bandwidth, dense kernel, all permutations
    as one matrix product per kernel."""
    n, N = len(x), len(x) + len(y)
    z = np.vstack([x, y]).astype(np.float32)
    sq = np.einsum("ij,ij->i", z, z)
    d = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0)
    np.fill_diagonal(d, 0)
    med = np.median(d[np.triu_indices(N, 1)])
    assign = np.zeros((N, P + 1), bool)
    assign[:n, 0] = True
    assign[:, 1:] = np.argsort(rng.random((N, P)), axis=0) < n
    W = np.where(assign, 1 / n, -1 / len(y)).astype(np.float32)
    out = {"mmd2": np.einsum("ip,ip->p", W, np.exp(-d / np.float32(med)) @ W, dtype=np.float64)}
    if energy:
        out["energy"] = -np.einsum("ip,ip->p", W, np.sqrt(d) @ W, dtype=np.float64)
    return out


def ref_prdc(x, y, k):
    def dist(a, b):
        return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0))

    rr = np.partition(dist(x, x), k, axis=1)[:, k]
    fr = np.partition(dist(y, y), k, axis=1)[:, k]
    d = dist(y, x)
    return {"precision": (d < rr).any(1).mean(), "recall": (d < fr[:, None]).any(0).mean(),
            "density": (d < rr).sum(1).mean() / k, "coverage": (d.min(0) < rr).mean()}


def ref_frechet(mu1, s1, mu2, s2):
    low = np.linalg.cholesky(s1)
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(low.T @ s2 @ low), 0, None)).sum()
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * tr)


def ref_ks(x, y):
    from scipy.stats import kstwo

    xs, ys = np.sort(x.T, axis=1), np.sort(y.T, axis=1)
    n, m = len(x), len(y)
    d = np.empty(x.shape[1])
    for j in range(len(d)):
        z = np.concatenate([xs[j], ys[j]])
        gap = np.searchsorted(xs[j], z, "right") / n - np.searchsorted(ys[j], z, "right") / m
        d[j] = max(gap.max(), np.clip(-gap.min(), 0, 1))
    return d, kstwo.sf(d, np.round(n * m / (n + m)))


def main(argv: list[str] | None = None) -> None:
    from synthgen.validators import stats as S

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per implementation (the median is used)")
    ap.add_argument("--fd-dim", type=int, default=1024, help="dimensions of the Fréchet distance")
    ap.add_argument("--ks-n", type=int, default=100_000, help="samples per side for KS (128 columns)")
    ap.add_argument("--big-n", type=int, default=10_000, help="samples per side for the MMD memory run (0: skip)")
    ap.add_argument("--prdc-n", type=int, default=50_000, help="samples per side for the PRDC memory run (0: skip)")
    a = ap.parse_args([] if argv is None else argv)
    q = a.quick
    R = 1 if q else a.repeat
    r = np.random.default_rng(0)
    print(f"CPU-time medians of {R} runs, one thread; vs best peer = peer / synthgen, vs limit = synthgen / reference")

    # MMD ------------------------------------------------------------------------------------------
    n = 500 if q else 2000
    x, y = r.normal(size=(n, 128)), r.normal(size=(n, 128)) + 0.05
    if missing("alibi_detect", "torch_two_sample"):
        print(f"MMD peers: {', '.join(missing('alibi_detect', 'torch_two_sample'))} not installed "
              "(alibi-detect is BSL-licensed: never a dependency); skipped")
    for P in (100, 1000):
        t_s, o = median_of(lambda P=P: S.mmd_permutation(x, y, P, np.random.default_rng(1), device="cpu"), R)
        t_r, ref = median_of(lambda P=P: ref_kernel_tests(x, y, P, np.random.default_rng(1), energy=False), R)
        same = f"MMD² rel diff {abs(o['mmd2'] - ref['mmd2'][0]) / abs(ref['mmd2'][0]):.1e}"
        line(f"MMD {n}x{n}x128, {P} perms", t_s, None, t_r, same)

    # energy + MMD ---------------------------------------------------------------------------------
    m = min(n, 1000)
    t_s, o = median_of(lambda: S.kernel_tests(x[:m], y[:m], 100, np.random.default_rng(1), device="cpu"), R)
    t_r, ref = median_of(lambda: ref_kernel_tests(x[:m], y[:m], 100, np.random.default_rng(1)), R)
    peer = None
    if not missing("dcor"):
        import dcor

        dcor.homogeneity.energy_test(x[:50], y[:50], num_resamples=2)  # JIT warm-up, not timed
        t_p, _ = median_of(lambda: dcor.homogeneity.energy_test(x[:m], y[:m], num_resamples=100, random_state=1), R)
        peer = ("dcor", t_p)
    else:
        print("energy: dcor not installed (pip install 'synthgen-rare[bench]'); skipped")
    same = f"energy rel diff {abs(o['energy'] - ref['energy'][0]) / abs(ref['energy'][0]):.1e}"
    line(f"energy + MMD {m}x{m}x128, 100 perms", t_s, peer, t_r, same)

    # PRDC -----------------------------------------------------------------------------------------
    m = min(n, 2000)
    xp, yp = x[:m, :64], y[:m, :64]
    t_s, o = median_of(lambda: S.prdc(xp, yp, 5), R)
    t_r, ref = median_of(lambda: ref_prdc(xp, yp, 5), R)
    peer = None
    if not missing("prdc"):
        import prdc as prdc_pkg

        t_p, _ = median_of(lambda: prdc_pkg.compute_prdc(xp, yp, 5), R)
        peer = ("prdc", t_p)
    else:
        print("PRDC: prdc not installed (pip install 'synthgen-rare[bench]'); skipped")
    same = f"identical: {all(np.isclose(o[k], ref[k], rtol=0, atol=1e-12) for k in o)}"
    line(f"PRDC {m}x{m}x64, k=5", t_s, peer, t_r, same)

    # Fréchet --------------------------------------------------------------------------------------
    import scipy.linalg

    d = 256 if q else a.fd_dim
    z1, z2 = r.normal(size=(4 * d, d)), r.normal(size=(4 * d, d)) * 1.1
    s1, s2 = np.cov(z1, rowvar=False), np.cov(z2, rowvar=False)
    mu1, mu2 = z1.mean(0), z2.mean(0)
    t_s, fo = median_of(lambda: S.frechet_distance(mu1, s1, mu2, s2), R)
    t_r, fr = median_of(lambda: ref_frechet(mu1, s1, mu2, s2), R)

    def sqrtm_fd():  # pytorch-fid's and clean-fid's formula
        covmean = scipy.linalg.sqrtm(s1 @ s2).real
        return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))

    t_p, fp = median_of(sqrtm_fd, R)
    if missing("torchmetrics", "pytorch_fid"):
        print(f"Fréchet peers: {', '.join(missing('torchmetrics', 'pytorch_fid'))} not installed; "
              "scipy.linalg.sqrtm (pytorch-fid's formula) stands in")
    line(f"Frechet distance {d}-d", t_s, ("sqrtm", t_p), t_r,
         f"rel diff vs sqrtm {abs(fo - fp) / fp:.1e}, vs reference {abs(fo - fr) / fr:.1e}")

    # KS -------------------------------------------------------------------------------------------
    from scipy.stats import ks_2samp

    kn = 5000 if q else a.ks_n
    xk, yk = r.normal(size=(kn, 128)), r.normal(size=(kn, 128)) + 0.01
    method = "asymp"  # scipy's choice above 10,000 per side; the numpy reference computes that p-value too
    t_s, (dd, pp) = median_of(lambda: S.ks_test(xk, yk, method=method), R)
    t_p, res = median_of(lambda: ks_2samp(xk, yk, axis=0, method=method), R)
    t_r, (dr, _) = median_of(lambda: ref_ks(xk, yk), R)
    same = (f"D equal to scipy: {np.array_equal(dd, res.statistic)}, max p diff {np.max(np.abs(pp - res.pvalue)):.0e}, "
            f"D vs reference {np.max(np.abs(dd - dr)):.0e}")
    line(f"KS 128 columns x {kn:,} per side", t_s, ("scipy axis=0", t_p), t_r, same)

    # memory ---------------------------------------------------------------------------------------
    bn = 2000 if q else a.big_n
    if bn:
        bx, by = r.normal(size=(bn, 128)), r.normal(size=(bn, 128))
        tracemalloc.start()
        t, res = median_of(lambda: S.mmd_permutation(bx, by, 100, np.random.default_rng(1), device="cpu"), 1)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        one = (2 * bn) ** 2 * 4
        print(f"MMD {bn:,} vs {bn:,} x128, 100 perms: {t:.1f} s, peak {peak / 2**30:.2f} GiB = "
              f"{peak / one:.2f}x one float32 N x N matrix ({one / 2**30:.2f} GiB)", flush=True)
    N = 5000 if q else a.prdc_n
    if N:
        big_x, big_y = r.normal(size=(N, 16)), r.normal(size=(N, 16))
        tracemalloc.start()
        t, res = median_of(lambda: S.prdc(big_x, big_y, 5), 1)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"PRDC {N:,} vs {N:,} x16: {t:.1f} s, peak extra memory {peak / 2**20:.0f} MiB "
              f"(the prdc package builds three dense {N * N * 8 / 2**30:.1f} GiB matrices)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
