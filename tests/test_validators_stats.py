"""Anchor tests for every statistic in synthgen.validators.stats against reference implementations."""
import numpy as np
import pytest

from synthgen.errors import InsufficientDataError
from synthgen.validators import stats as S


@pytest.fixture(scope="module")
def gauss():
    r = np.random.default_rng(0)
    return r.normal(size=(150, 6)), r.normal(size=(120, 6)), r.normal(size=(120, 6)) + 1.0


def test_ks_matches_scipy_with_ties(gauss):
    from scipy.stats import ks_2samp

    x, y, _ = gauss
    x, y = x.copy(), y.copy()
    x[:40, 0] = 0.0
    y[:25, 0] = 0.0
    x[:, 1] = np.round(x[:, 1])
    y[:, 1] = np.round(y[:, 1])
    d, p = S.ks_test(x, y, method="asymp")
    for j in range(x.shape[1]):
        ref = ks_2samp(x[:, j], y[:, j], method="asymp")
        assert d[j] == pytest.approx(ref.statistic, abs=1e-12)
        assert p[j] == pytest.approx(ref.pvalue, rel=1e-6)
    assert np.allclose(d, S.ks_statistic(x, y))


def test_wasserstein_matches_scipy(gauss):
    from scipy.stats import wasserstein_distance

    x, _, z = gauss
    w = S.wasserstein_cols(x, z[:77])
    assert np.allclose(w, [wasserstein_distance(x[:, j], z[:77, j]) for j in range(6)])


def test_js_psi_and_contingency():
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    p, q = np.array([10, 20, 30, 40.0]), np.array([25, 25, 25, 25.0])
    assert S.js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2))
    assert S.js_distance(p, p) == pytest.approx(0.0, abs=1e-7)
    assert S.psi(p, p) == pytest.approx(0.0) and S.psi(p, q) > 0.1
    a, b = np.array([60, 30, 40, 50]), np.array([50, 45, 35, 55])
    t = S.contingency_test(a, b)
    ref = chi2_contingency(np.vstack([a, b]), correction=False)
    assert t["chi2"] == pytest.approx(ref.statistic) and t["p_chi2"] == pytest.approx(ref.pvalue) and t["cells"] == 4
    g = chi2_contingency(np.vstack([a, b]), correction=False, lambda_="log-likelihood")
    assert t["g"] == pytest.approx(g.statistic)
    # tiny cells are merged, smallest first, until every cell expects 5: 0.5+1.5+1.5 < 5 joins the 40s
    small = S.contingency_test([50, 40, 1, 2, 0], [45, 42, 2, 1, 1])
    assert small["cells"] == 2 and small["dof"] == 1
    assert S.contingency_test([50, 40, 6, 5], [45, 42, 6, 7])["cells"] == 4
    with pytest.raises(InsufficientDataError):
        S.contingency_test([0, 0], [1, 2])


def test_kernel_tests_one_matrix(gauss):
    from scipy.spatial.distance import cdist

    x, y, z = gauss
    same = S.kernel_tests(x, y, 300, np.random.default_rng(1))
    shifted = S.kernel_tests(x, z, 300, np.random.default_rng(1))
    energy = 2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean()  # Székely's V-statistic
    assert same["energy"] == pytest.approx(energy, rel=1e-6)
    assert same["mmd2"] == pytest.approx(S.mmd_permutation(x, y, 10, bandwidth=same["bandwidth"])["mmd2"])
    assert same["p_mmd"] > 0.05 and same["p_energy"] > 0.05
    assert shifted["p_mmd"] == shifted["p_energy"] == pytest.approx(1 / 301)  # the observed statistic counts


def test_frechet_matches_sqrtm_and_guards(gauss):
    import scipy.linalg

    x, _, z = gauss
    s1, s2 = np.cov(x, rowvar=False), np.cov(z, rowvar=False) * 1.7
    ref = np.sum((x.mean(0) - z.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert S.frechet_distance(x.mean(0), s1, z.mean(0), s2) == pytest.approx(ref, rel=1e-8)
    assert S.frechet_distance(x.mean(0), s1, x.mean(0), s1) == pytest.approx(0.0, abs=1e-8)
    wide = np.random.default_rng(2).normal(size=(20, 50))
    with pytest.raises(InsufficientDataError):
        S.frechet_from_samples(wide, wide + 1, reduce="raise")
    fd, dims = S.frechet_from_samples(wide, wide + 1, reduce="pca")
    assert dims == 19 and np.isfinite(fd) and fd > 0


def test_knn_matches_sklearn(gauss):
    from sklearn.neighbors import NearestNeighbors

    x, y, _ = gauss
    d, i = S.knn(y, x, 4)
    rd, ri = NearestNeighbors(n_neighbors=4).fit(x).kneighbors(y)
    assert np.allclose(d, rd) and (i == ri).all()
    d2, _ = S.knn(x, x, 3, exclude_self=True)
    assert np.allclose(d2, NearestNeighbors(n_neighbors=4).fit(x).kneighbors(x)[0][:, 1:])


def test_prdc_matches_reference_package(gauss):
    prdc = pytest.importorskip("prdc")
    x, y, z = gauss
    for other in (y, z):
        ours = S.prdc(x, other, 5)
        ref = prdc.compute_prdc(real_features=x, fake_features=other, nearest_k=5)
        for k in ours:
            assert ours[k] == pytest.approx(float(ref[k]), abs=1e-12)


def test_alpha_beta_authenticity_anchors(gauss):
    x, y, z = gauss
    same = S.alpha_beta_authenticity(x, y)
    far = S.alpha_beta_authenticity(x, z)
    copies = S.alpha_beta_authenticity(x, x[:100] + 1e-9)
    assert same["alpha_precision"] > far["alpha_precision"] and same["beta_recall"] > far["beta_recall"]
    assert copies["authenticity"] == 0.0 and same["authenticity"] > 0.3


def test_c2st_auc_ci_and_pvalue(gauss):
    x, y, z = gauss
    same, shifted = S.c2st(x, y, seed=0), S.c2st(x, z, seed=0)
    assert same["ci_low"] <= same["auc"] <= same["ci_high"] and same["p_value"] > 0.01
    assert shifted["auc"] > 0.85 and shifted["p_value"] < 1e-6


def test_cohen_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    r = np.random.default_rng(3)
    a, b = r.integers(0, 3, 200), r.integers(0, 3, 200)
    b[:120] = a[:120]
    assert S.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
