"""The fast statistics equal their references: KS vs scipy, Fréchet vs scipy's sqrtm, float32 kernels
vs the float64 route, and the shared distance matrix vs the per-validator one."""
import numpy as np
import pytest

from synthgen.validators import stats as S


def _ks_data(n, m, d, seed):
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(n, d)), r.normal(size=(m, d)) + 0.1
    x[:, 0] = y[:, 0] = 3.0  # constant in both sets (same value)
    x[:, 1], y[:, 1] = np.round(x[:, 1]), np.round(y[:, 1])  # heavy ties
    x[: n // 3, 2] = 0.0
    y[: m // 4, 2] = 0.0  # ties across the two sets
    x[:, 3], y[:, 3] = 1.0, 2.0  # constant, different values: D = 1
    return x, y


@pytest.mark.parametrize("n,m,method", [(40, 40, "auto"), (150, 120, "auto"), (37, 91, "exact"),
                                        (300, 200, "asymp"), (12001, 9000, "auto")])
def test_ks_equals_scipy(n, m, method):
    from scipy.stats import ks_2samp

    x, y = _ks_data(n, m, 8, n + m)
    d, p = S.ks_test(x, y, method=method)
    ref = ks_2samp(x, y, axis=0, method=method)
    assert np.array_equal(d, ref.statistic)  # bit for bit
    np.testing.assert_allclose(p, ref.pvalue, rtol=1e-12, atol=0)
    assert d[0] == 0.0 and p[0] == 1.0 and d[3] == 1.0
    # D alone skips the exact method's rounding to a multiple of 1 / lcm(n, m): equal to the last bit or two
    np.testing.assert_allclose(S.ks_statistic(x, y), ref.statistic, rtol=0, atol=1e-15)


def test_ks_many_columns_in_chunks_and_one_dimensional():
    from scipy.stats import ks_2samp

    x, y = _ks_data(30, 25, 300, 1)
    d, p = S.ks_test(x, y)
    ref = ks_2samp(x, y, axis=0)
    assert np.array_equal(d, ref.statistic) and np.allclose(p, ref.pvalue, rtol=1e-12)
    assert np.array_equal(S._ks_d(x, y, budget=100), S.ks_statistic(x, y))  # one column per chunk: the same
    d1, p1 = S.ks_test(x[:, 5], y[:, 5])
    assert d1.shape == (1,) and d1[0] == d[5] and p1[0] == p[5]
    with pytest.raises(ValueError):
        S.ks_test(x, y, method="bogus")


def _cov_with_spectrum(d, lo, hi, seed):
    r = np.random.default_rng(seed)
    q, _ = np.linalg.qr(r.normal(size=(d, d)))
    return (q * np.logspace(lo, hi, d)) @ q.T


def _fd_sqrtm(mu1, s1, mu2, s2):
    import scipy.linalg

    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))


@pytest.mark.parametrize("lo1,lo2", [(0, 0), (-8, 0), (-10, -6), (-12, -12)])
def test_frechet_equals_sqrtm_reference_ill_conditioned_too(lo1, lo2):
    d = 40
    s1, s2 = _cov_with_spectrum(d, lo1, 1, 1), _cov_with_spectrum(d, lo2, 0.5, 2)
    mu1, mu2 = np.zeros(d), np.full(d, 0.01)
    ref = _fd_sqrtm(mu1, s1, mu2, s2)
    assert S.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)
    assert S.trace_sqrt_product(s1, s2) == pytest.approx(S.trace_sqrt_product(s2, s1), rel=1e-9)


def test_frechet_singular_covariances_fall_back_and_agree():
    r = np.random.default_rng(4)
    a, b = r.normal(size=(30, 3)) @ r.normal(size=(3, 8)), r.normal(size=(30, 4)) @ r.normal(size=(4, 8))
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)  # rank 3 and 4 in 8 dimensions
    ref = _fd_sqrtm(a.mean(0), s1, b.mean(0), s2)
    assert S.frechet_distance(a.mean(0), s1, b.mean(0), s2) == pytest.approx(ref, rel=1e-6)
    assert S.frechet_distance(a.mean(0), s1, a.mean(0), s1) == pytest.approx(0.0, abs=1e-6)


# --- float32 kernels --------------------------------------------------------------------------------

@pytest.mark.parametrize("n,m,d,shift,seed", [(20, 15, 4, 0.0, 0), (50, 40, 8, 0.05, 1), (300, 200, 32, 0.0, 2),
                                              (300, 200, 32, 0.2, 3), (600, 500, 64, 0.0, 4)])
def test_float32_kernels_agree_with_float64(n, m, d, shift, seed):
    """Statistics within 1e-5 relative of the float64 route; p-values at 1,000 permutations (same seed)
    equal or at most one permutation count (1 / 1001) apart."""
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(n, d)), r.normal(size=(m, d)) + shift
    a = S.kernel_tests(x, y, 1000, np.random.default_rng(seed), dtype=np.float32, device="cpu")
    b = S.kernel_tests(x, y, 1000, np.random.default_rng(seed), dtype=np.float64, device="cpu")
    for k in ("mmd2", "energy", "bandwidth"):
        assert a[k] == pytest.approx(b[k], rel=1e-5)
    for k in ("p_mmd", "p_energy"):
        assert abs(a[k] - b[k]) * 1001 <= 1 + 1e-9
    # the float64 route is the textbook one: a dense float64 kernel and Székely's V-statistic
    from scipy.spatial.distance import cdist

    K, bw = S.rbf_kernel(np.vstack([x, y]))
    w = np.r_[np.full(n, 1 / n), np.full(m, -1 / m)]
    assert bw == pytest.approx(b["bandwidth"], rel=1e-12) and b["mmd2"] == pytest.approx(w @ K @ w, rel=1e-9)
    assert b["energy"] == pytest.approx(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean(), rel=1e-9)


def test_median_bandwidth_is_exact_without_index_arrays(monkeypatch):
    r = np.random.default_rng(5)
    z = r.normal(size=(301, 5))
    d = S.sq_dists(z)
    np.fill_diagonal(d, 0.0)
    ref = float(np.median(d[np.triu_indices(len(z), k=1)]))
    assert S._median_offdiag(d) == ref  # small: a plain sort
    monkeypatch.setattr(S, "_BLOCK", 1 << 12)  # force the bracketed single pass
    assert S._median_offdiag(d) == ref
    d[:50, :50] = 0.0  # many ties
    np.fill_diagonal(d, 0.0)
    assert S._median_offdiag(d) == float(np.median(d[np.triu_indices(len(z), k=1)]))


def test_kernel_memory_one_float32_matrix():
    """n = m = 2,000: the peak is one float32 N x N matrix plus O(block) buffers, below what a single
    float64 N x N matrix would take (the old route held three)."""
    import tracemalloc

    r = np.random.default_rng(6)
    x, y = r.normal(size=(2000, 32)), r.normal(size=(2000, 32))
    tracemalloc.start()
    S.kernel_tests(x, y, 20, np.random.default_rng(0), device="cpu")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    N = 4000
    assert N * N * 4 < peak < N * N * 8


@pytest.mark.parametrize("device", ["torch:cpu", "cuda"])
def test_kernels_on_torch_match_numpy(device, monkeypatch):
    """The torch route (taken on a CUDA device) gives the numpy route's results; "torch:cpu" runs it
    here, with the bracketed median selection forced."""
    torch = pytest.importorskip("torch")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    monkeypatch.setattr(S, "_BLOCK", 1 << 16)
    r = np.random.default_rng(7)
    x, y = r.normal(size=(700, 16)), r.normal(size=(600, 16)) + 0.05
    a = S.kernel_tests(x, y, 1000, np.random.default_rng(1), device=device)
    b = S.kernel_tests(x, y, 1000, np.random.default_rng(1), dtype=np.float64, device="cpu")
    for k in ("mmd2", "energy", "bandwidth"):
        assert a[k] == pytest.approx(b[k], rel=1e-5)
    for k in ("p_mmd", "p_energy"):
        assert abs(a[k] - b[k]) * 1001 <= 1 + 1e-9


# --- one distance matrix shared by energy, PRDC, DCR and the filter --------------------------------

def test_pooled_matrix_equals_blocked_routines():
    from synthgen.validators import pairwise

    r = np.random.default_rng(8)
    x, y = r.normal(size=(120, 6)), r.normal(size=(90, 6)) + 0.3
    p = pairwise.Pooled(x, y)
    ix, iy = np.arange(120), 120 + np.arange(90)
    a, b = ix[:60], iy[:50]
    ours, ref = p.prdc(a, b, 5), S.prdc(x[:60], y[:50], 5)
    assert ours == ref
    d, i = p.knn(iy, ix, 3)
    rd, ri = S.knn(y, x, 3)
    assert np.array_equal(d, rd) and np.array_equal(i, ri)
    d, i = p.knn(ix, ix, 4, exclude_self=True)
    rd, ri = S.knn(x, x, 4, exclude_self=True)
    assert np.array_equal(d, rd) and np.array_equal(i, ri)
    from scipy.spatial.distance import cdist

    xa, yb = x[:60], y[:50]
    assert p.energy(a, b) == pytest.approx(2 * cdist(xa, yb).mean() - cdist(xa, xa).mean() - cdist(yb, yb).mean(),
                                           rel=1e-9)


def _run(validator, x, y):
    res = validator.validate({"a": x}, {"a": y}, [f"f{j}" for j in range(x.shape[1])], seed=3)
    c = res.per_class["a"]
    return c.statistic, c.score, c.passed, c.details.get("metrics"), c.details.get("full_data")


def test_validators_share_one_matrix_and_match_the_unshared_route(monkeypatch):
    from synthgen.validators import pairwise
    from synthgen.validators.distribution import EnergyValidator, PRDCValidator
    from synthgen.validators.memorisation import DCRValidator

    r = np.random.default_rng(9)
    x, y = r.normal(size=(80, 12)), r.normal(size=(70, 12)) + 0.2
    made = []
    init = pairwise.Pooled.__init__

    def counting(self, *a):
        made.append(1)
        init(self, *a)

    pairwise.clear()
    monkeypatch.setattr(pairwise.Pooled, "__init__", counting)
    vals = [EnergyValidator(n_bootstrap=10, n_permutations=50), PRDCValidator(n_bootstrap=10), DCRValidator(n_bootstrap=10)]
    shared = [_run(v, x, y) for v in vals]
    assert len(made) == 1  # built once, used by all three
    monkeypatch.setattr(pairwise, "MAX_ROWS", 0)  # the blocked, unshared route
    alone = [_run(v, x, y) for v in vals]
    # equal up to rounding (1e-8: the shared matrix has exact zeros on its diagonal, the per-split
    # matrices float noise there), and the same verdicts
    for s, a in zip(shared, alone):
        assert s[0] == pytest.approx(a[0], rel=1e-8) and s[1] == pytest.approx(a[1], rel=1e-8) and s[2] == a[2]
    pairwise.clear()


def test_median_selected_while_building_the_matrix_and_after_a_missed_bracket(monkeypatch):
    r = np.random.default_rng(10)
    x, y = r.normal(size=(150, 6)), r.normal(size=(130, 6)) + 0.5
    z = np.vstack([x, y])
    ref = float(np.sqrt(np.median(S.sq_dists(z)[np.triu_indices(len(z), k=1)]) / 2))
    W = S.permutation_weights(150, 130, 5, np.random.default_rng(0))
    monkeypatch.setattr(S, "_BLOCK", 1 << 12)  # D is "large": the bracket fed by the construction pass
    bw = S.kernel_quad_forms(x, y, W, dtype=np.float64, device="cpu")["bandwidth"]
    assert bw == pytest.approx(ref, rel=1e-10)
    monkeypatch.setattr(S._MedianBracket, "from_rows", classmethod(lambda cls, z, sq: cls(len(z), 0.0, 0.0)))
    assert S.kernel_quad_forms(x, y, W, dtype=np.float64, device="cpu")["bandwidth"] == pytest.approx(ref, rel=1e-10)
