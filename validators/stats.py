"""Modality-free two-sample statistics on feature matrices (numpy/scipy only).

* ``ks_statistic``: vectorised two-sample Kolmogorov-Smirnov D for every column.
* ``benjamini_hochberg``: adjusted p-values (q-values).
* ``mmd_permutation``: kernel MMD² with an RBF kernel and a permutation test that computes the kernel
  matrix once and gets all permutations from one matrix product; p = (1 + b) / (1 + P).
"""
from __future__ import annotations

import numpy as np

from synthgen.errors import InsufficientDataError


def ks_statistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Two-sample KS D for every column of x (n, d) and y (m, d) at once (no Python loop over columns).

    Exact, ties included: the ECDF gap is read only at the last copy of a tied value.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    n, m = len(x), len(y)
    if n == 0 or m == 0:
        raise InsufficientDataError("KS needs at least one sample on each side")
    z = np.vstack([x, y])
    order = np.argsort(z, axis=0, kind="stable")
    zs = np.take_along_axis(z, order, axis=0)
    cdf_gap = np.cumsum(np.where(order < n, 1.0 / n, -1.0 / m), axis=0)
    last = np.ones_like(zs, dtype=bool)
    last[:-1] = zs[1:] != zs[:-1]
    return np.max(np.abs(np.where(last, cdf_gap, 0.0)), axis=0)


def ks_pvalues(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Two-sided KS p-value of every column: ``scipy.stats.ks_2samp`` along axis 0, in one call."""
    from scipy.stats import ks_2samp

    return np.atleast_1d(ks_2samp(np.asarray(x, np.float64), np.asarray(y, np.float64), axis=0).pvalue)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values): ``scipy.stats.false_discovery_control``."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p, dtype=np.float64)
    return p if len(p) == 0 else false_discovery_control(p, method="bh")


def sq_dists(z: np.ndarray) -> np.ndarray:
    sq = np.einsum("ij,ij->i", z, z)
    d = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    np.maximum(d, 0.0, out=d)
    return d


def rbf_kernel(z: np.ndarray, bandwidth: float | None = None) -> tuple[np.ndarray, float]:
    """RBF kernel matrix of the pooled sample; bandwidth by the median heuristic when not given."""
    d = sq_dists(np.asarray(z, dtype=np.float64))
    if bandwidth is None:
        iu = np.triu_indices(len(z), k=1)
        med = float(np.median(d[iu])) if len(iu[0]) else 1.0
        bandwidth = float(np.sqrt(med / 2.0)) if med > 0 else 1.0
    return np.exp(-d / (2.0 * bandwidth**2)), float(bandwidth)


def mmd2_from_weights(K: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Biased MMD² for each column of W (weights 1/n on one side, -1/m on the other): wᵀKw."""
    return np.einsum("ip,ip->p", W, K @ W)


def _weights(assign: np.ndarray, n: int, m: int) -> np.ndarray:
    """assign: (N, P) boolean, True = side X.  Returns (N, P) weights."""
    return np.where(assign, 1.0 / n, -1.0 / m)


def mmd_permutation(x: np.ndarray, y: np.ndarray, n_permutations: int = 1000, rng: np.random.Generator | None = None,
                    bandwidth: float | None = None) -> dict[str, float]:
    """MMD² (biased) and its permutation p-value, all permutations in one matrix product."""
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise InsufficientDataError(f"MMD needs at least 2 samples per side, got {n} and {m}")
    rng = rng or np.random.default_rng(0)
    K, bw = rbf_kernel(np.vstack([x, y]), bandwidth)
    N = n + m
    observed = np.zeros((N, 1), dtype=bool)
    observed[:n] = True
    perms = np.argsort(rng.random((N, n_permutations)), axis=0) < n  # each column: a random n-subset
    W = _weights(np.hstack([observed, perms]), n, m)
    stats = mmd2_from_weights(K, W)
    b = int(np.sum(stats[1:] >= stats[0] - 1e-12))
    return {"mmd2": float(stats[0]), "p_value": (1.0 + b) / (1.0 + n_permutations), "bandwidth": bw}


def mmd_permutation_naive(x: np.ndarray, y: np.ndarray, n_permutations: int = 100, rng=None, bandwidth=None):
    """Reference implementation: re-index the kernel matrix for every permutation (benchmarks only)."""
    n, m = len(x), len(y)
    rng = rng or np.random.default_rng(0)
    K, bw = rbf_kernel(np.vstack([x, y]), bandwidth)

    def stat(ix, iy):
        return K[np.ix_(ix, ix)].mean() + K[np.ix_(iy, iy)].mean() - 2 * K[np.ix_(ix, iy)].mean()

    obs = stat(np.arange(n), np.arange(n, n + m))
    b = 0
    for _ in range(n_permutations):
        p = rng.permutation(n + m)
        b += stat(p[:n], p[n:]) >= obs - 1e-12
    return {"mmd2": float(obs), "p_value": (1.0 + b) / (1.0 + n_permutations), "bandwidth": bw}


# --- vectorised KS, categorical tests ------------------------------------------------------------

def ks_test(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample KS D (:func:`ks_statistic`) and asymptotic p-value for every column at once.

    The p-value is scipy's ``method="asymp"`` (the Kolmogorov distribution at n·m/(n+m)).
    """
    from scipy.stats import kstwo

    d = ks_statistic(x, y)
    n, m = len(x), len(y)
    return d, np.clip(kstwo.sf(d, np.round(n * m / (n + m))), 0.0, 1.0)


def merge_small_cells(expected: np.ndarray, *observed: np.ndarray, min_expected: float = 5.0):
    """Merge the cells with the smallest expected counts until every cell expects ``min_expected``.

    Returns the merged expected and observed arrays (at least two cells when possible).
    """
    e = np.asarray(expected, dtype=np.float64)
    obs = [np.asarray(o, dtype=np.float64) for o in observed]
    order = np.argsort(e, kind="stable")
    e, obs = e[order], [o[order] for o in obs]
    while len(e) > 2 and e[0] < min_expected:
        e = np.concatenate([[e[0] + e[1]], e[2:]])
        obs = [np.concatenate([[o[0] + o[1]], o[2:]]) for o in obs]
        o2 = np.argsort(e, kind="stable")
        e, obs = e[o2], [o[o2] for o in obs]
    return (e, *obs)


def contingency_test(counts_a: np.ndarray, counts_b: np.ndarray, min_expected: float = 5.0) -> dict[str, float]:
    """Chi-square and G-test of homogeneity for two count vectors over the same categories.

    Cells whose expected count (under a common distribution) is below ``min_expected`` in either row
    are merged first, smallest first.  Raises InsufficientDataError with fewer than two cells left.
    """
    from scipy.stats import chi2

    a = np.asarray(counts_a, dtype=np.float64)
    b = np.asarray(counts_b, dtype=np.float64)
    na, nb = a.sum(), b.sum()
    if na == 0 or nb == 0:
        raise InsufficientDataError("contingency test needs counts on both sides")
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    tot = a + b
    exp_min = tot * min(na, nb) / (na + nb)
    _, a, b = merge_small_cells(exp_min, a, b, min_expected=min_expected)
    if len(a) < 2:
        raise InsufficientDataError("contingency test needs at least two categories after merging small cells")
    obs = np.vstack([a, b])
    exp = obs.sum(0, keepdims=True) * obs.sum(1, keepdims=True) / obs.sum()
    chi = float(np.sum((obs - exp) ** 2 / exp))
    with np.errstate(divide="ignore", invalid="ignore"):
        g = float(2.0 * np.sum(np.where(obs > 0, obs * np.log(obs / exp), 0.0)))
    dof = len(a) - 1
    return {"chi2": chi, "g": g, "dof": dof, "p_chi2": float(chi2.sf(chi, dof)), "p_g": float(chi2.sf(g, dof)),
            "cells": len(a)}


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]): ``scipy.spatial.distance.jensenshannon`` (the square
    root of the divergence)."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(np.asarray(p, np.float64), np.asarray(q, np.float64), base=2))


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index sum (a - e) ln(a / e) over bins (shares floored at ``eps``)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def quantile_bins(x: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the real quantiles (duplicates removed), for JS/PSI/G on continuous features."""
    qs = np.quantile(np.asarray(x, dtype=np.float64), np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(qs)


def bin_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1).astype(np.float64)


# --- one distance matrix, two kernel tests -------------------------------------------------------

def kernel_tests(x: np.ndarray, y: np.ndarray, n_permutations: int = 1000, rng: np.random.Generator | None = None,
                 bandwidth: float | None = None) -> dict[str, float]:
    """RBF-kernel MMD² and the energy distance with permutation p-values from one distance matrix.

    Both statistics are quadratic forms wᵀKw with w = 1/n on one side and -1/m on the other (the
    energy distance uses the kernel -‖a-b‖), so all permutations are one matrix product per kernel:
    p = (1 + #{perm >= observed}) / (1 + P).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise InsufficientDataError(f"kernel tests need at least 2 samples per side, got {n} and {m}")
    rng = rng or np.random.default_rng(0)
    d2 = sq_dists(np.vstack([x, y]))
    if bandwidth is None:
        iu = np.triu_indices(n + m, k=1)
        med = float(np.median(d2[iu]))
        bandwidth = float(np.sqrt(med / 2.0)) if med > 0 else 1.0
    N = n + m
    assign = np.zeros((N, n_permutations + 1), dtype=bool)
    assign[:n, 0] = True
    assign[:, 1:] = np.argsort(rng.random((N, n_permutations)), axis=0) < n
    W = _weights(assign, n, m)
    K = np.exp(-d2 / (2.0 * bandwidth**2))
    mmd = mmd2_from_weights(K, W)
    np.sqrt(d2, out=d2)  # reuse the buffer: Euclidean distances
    energy = -mmd2_from_weights(d2, W)
    bm = int(np.sum(mmd[1:] >= mmd[0] - 1e-12))
    be = int(np.sum(energy[1:] >= energy[0] - 1e-12))
    return {"mmd2": float(mmd[0]), "p_mmd": (1.0 + bm) / (1.0 + n_permutations), "bandwidth": float(bandwidth),
            "energy": float(energy[0]), "p_energy": (1.0 + be) / (1.0 + n_permutations)}


# --- Fréchet distance ----------------------------------------------------------------------------

def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """‖μ1-μ2‖² + tr(S1 + S2 - 2 (S1^½ S2 S1^½)^½), via symmetric eigendecompositions in float64.

    Equal to the usual tr(S1 + S2 - 2 (S1 S2)^½) (the two matrices are similar) but stable: every
    matrix whose root is taken is symmetric positive semi-definite.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    r1 = _sqrtm_psd(s1)
    mid = r1 @ s2 @ r1
    mid = 0.5 * (mid + mid.T)
    tr_cross = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(mid), 0.0, None))))
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_cross))


def frechet_from_samples(x: np.ndarray, y: np.ndarray, reduce: str = "pca", basis: np.ndarray | None = None) -> tuple[float, int]:
    """Fréchet distance between Gaussians fitted to x and y.  Returns (distance, dimensions used).

    With fewer samples than dimensions the covariances are singular: ``reduce="pca"`` projects both
    onto the top principal axes of x (at most min(n, m) - 1 of them; pass ``basis`` to fix them),
    ``reduce="raise"`` raises InsufficientDataError.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n, m, d = len(x), len(y), x.shape[1]
    if n < 3 or m < 3:
        raise InsufficientDataError(f"Fréchet distance needs at least 3 samples per side, got {n} and {m}")
    if basis is None and min(n, m) <= d:
        if reduce != "pca":
            raise InsufficientDataError(f"Fréchet distance in {d} dimensions needs more than {d} samples per side, got {n} and {m}")
        basis = pca_basis(x, min(n, m) - 1)
    if basis is not None:
        mu = x.mean(0)
        x, y = (x - mu) @ basis, (y - mu) @ basis
    fd = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    return fd, int(x.shape[1])


def pca_basis(x: np.ndarray, k: int) -> np.ndarray:
    """(d, k) top principal axes of x (deterministic sign: the largest loading of each axis is positive)."""
    x = np.asarray(x, np.float64)
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    v = vt[: max(1, int(k))].T
    sign = np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])])
    return v * np.where(sign == 0, 1.0, sign)


# --- classifier two-sample test ------------------------------------------------------------------

def auc_mann_whitney(scores_pos: np.ndarray, scores_neg: np.ndarray) -> float:
    """ROC AUC of positive over negative scores (``sklearn.metrics.roc_auc_score``; equals the
    Mann-Whitney U / (n1 n0))."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(scores_pos)), np.zeros(len(scores_neg))]
    return float(roc_auc_score(y, np.concatenate([scores_pos, scores_neg])))


def _logreg_batch(X: np.ndarray, t: np.ndarray, C: float = 1.0, tol: float = 1e-9, max_iter: int = 50) -> np.ndarray:
    """L2 logistic regressions fitted at once by damped Newton: ``X`` (B, n, d+1) with a trailing
    column of ones (unpenalised intercept), labels ``t`` (n,) shared by all B problems.  Minimises
    sum(log-loss) + ||w||^2 / (2C), the optimum of ``sklearn.linear_model.LogisticRegression(C=C)``."""
    B, _, k = X.shape
    reg = np.r_[np.full(k - 1, 1.0 / C), 0.0]
    w = np.zeros((B, k))
    alphas = 0.5 ** np.arange(8)

    def obj(eta, w_):
        return (np.logaddexp(0.0, eta) - t * eta).sum(-1) + 0.5 * (reg * w_ * w_).sum(-1)

    for _ in range(max_iter):
        eta = np.matmul(X, w[..., None])[..., 0]
        pr = 0.5 * (1.0 + np.tanh(0.5 * eta))  # expit without overflow warnings
        g = np.matmul((pr - t)[:, None, :], X)[:, 0] + reg * w
        H = np.matmul(X.transpose(0, 2, 1), X * (pr * (1 - pr))[..., None]) + np.diag(reg)
        step = np.linalg.solve(H, g[..., None])[..., 0]
        f0 = obj(eta, w)
        d_eta = np.matmul(X, step[..., None])[..., 0]
        # backtracking: largest alpha in 1, 1/2, ... that does not increase the objective
        fa = np.stack([obj(eta - a * d_eta, w - a * step) for a in alphas], 1)
        ok = fa <= f0[:, None] + 1e-12
        a = np.where(ok.any(1), alphas[np.argmax(ok, 1)], 0.0)
        w = w - a[:, None] * step
        if np.max(np.abs(a[:, None] * step)) < tol:
            break
    return w


def _auc_rows(scores: np.ndarray, t: np.ndarray) -> np.ndarray:
    """ROC AUC of label-1 over label-0 scores for every row of ``scores`` (ties count one half)."""
    from scipy.stats import rankdata

    pos = t == 1
    m, n = int(pos.sum()), int((~pos).sum())
    r = rankdata(scores, axis=1)[:, pos].sum(1)
    return (r - m * (m + 1) / 2.0) / (m * n)


def _oof_auc_batch(Xa: np.ndarray, t: np.ndarray, splits, perms: np.ndarray, C: float = 1.0,
                   budget: int = 1 << 23) -> np.ndarray:
    """Out-of-fold AUC for each row permutation in ``perms`` (P, N): rows of ``Xa`` are permuted, the
    labels ``t`` and the fold split stay fixed (so every fold keeps its class balance)."""
    P, N = perms.shape
    out = np.empty(P)
    chunk = max(1, budget // (N * Xa.shape[1]))
    for s in range(0, P, chunk):
        pc = perms[s:s + chunk]
        oof = np.empty((len(pc), N))
        for tr, te in splits:
            w = _logreg_batch(Xa[pc[:, tr]], t[tr], C)
            oof[:, te] = np.einsum("bnj,bj->bn", Xa[pc[:, te]], w)
        out[s:s + chunk] = _auc_rows(oof, t)
    return out


def c2st(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0, max_dim: int | None = 64,
         confidence: float = 0.95, n_permutations: int = 100) -> dict[str, float]:
    """Classifier two-sample test: cross-validated logistic-regression AUC of real (0) vs synthetic (1).

    AUC 0.5 = indistinguishable.  The AUC pools out-of-fold decision scores of ``folds`` L2 logistic
    regressions (C = 1; fitted by a batched Newton solver that reaches sklearn's optimum).

    Why not the Mann-Whitney / Hanley-McNeil formulas: they assume the scores come from one fixed
    classifier.  Out-of-fold scores come from ``folds`` classifiers whose training sets overlap and
    contain the other folds' labels, so the null variance of the pooled AUC is about 1.4x the
    Mann-Whitney value (two samples from one Gaussian, n = 60, d = 4: 9.5 % rejections at 0.05).
    Permuting the labels of the out-of-fold *scores* is not valid either: the scores depend on the
    labels through training.

    The test here is a refitting permutation test.  Under H0 the pooled rows are exchangeable, so
    permuting the rows while keeping the labels and the (stratified) fold split fixed and rerunning the
    whole cross-validation draws from the exact null distribution of the out-of-fold AUC.  With
    ``n_permutations`` = P refits (all P x folds regressions are solved at once, so this costs about
    as much as a handful of sklearn fits on small data):

    * ``p_value_perm`` = (1 + b) / (1 + P), b = permuted AUCs >= observed: exact at any sample size,
      but never below 1 / (1 + P).
    * ``p_value`` (the one reported by the validators) = one-sided normal tail of the observed AUC
      under the permutation null's mean and standard deviation.  The out-of-fold AUC is an average of
      many pairwise comparisons, close to normal, so this keeps the permutation test's size while
      resolving small p-values (needed after multiplicity correction).
    * ``ci_low``/``ci_high``: the Hanley-McNeil interval is anti-conservative for the same reason;
      its standard error is widened by ``variance_inflation`` = max(1, permutation variance /
      Mann-Whitney null variance).

    ``n_permutations=0`` skips the test (``p_value`` NaN; unwidened Hanley-McNeil interval) for callers
    that only need the AUC.
    """
    from scipy.stats import norm
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n, m = len(x), len(y)
    if min(n, m) < folds:
        raise InsufficientDataError(f"C2ST with {folds} folds needs at least {folds} samples per side, got {n} and {m}")
    z = np.vstack([x, y])
    t = np.r_[np.zeros(n), np.ones(m)]
    mu, sd = x.mean(0), x.std(0)
    z = (z - mu) / np.where(sd > 1e-12, sd, 1.0)
    if max_dim and z.shape[1] > max_dim:
        z = z @ pca_basis(z, min(max_dim, n + m - 1))
    Xa = np.hstack([z, np.ones((n + m, 1))])
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed % (2**32)).split(z, t))
    P = int(n_permutations)
    rng = np.random.default_rng([seed % (2**32), 0xC257])
    perms = np.vstack([np.arange(n + m)[None]] + [rng.permutation(n + m)[None] for _ in range(P)])
    aucs = _oof_auc_batch(Xa, t, splits, perms)
    a = float(aucs[0])
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt(max(1e-12, (a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (n * m)))
    se0 = np.sqrt((n + m + 1) / (12.0 * n * m))
    if P > 0:
        null = aucs[1:]
        sd0 = float(null.std(ddof=1)) if P > 1 else se0
        sd0 = max(sd0, 1e-12)
        inflation = max(1.0, (sd0 / se0) ** 2)
        p_perm = float((1 + np.sum(null >= a - 1e-12)) / (1 + P))
        p_norm = float(norm.sf((a - null.mean()) / sd0))
    else:
        inflation, p_perm, p_norm = 1.0, float("nan"), float("nan")
    se *= np.sqrt(inflation)
    zq = norm.ppf(0.5 + confidence / 2)
    return {"auc": a, "ci_low": float(max(0.0, a - zq * se)), "ci_high": float(min(1.0, a + zq * se)),
            "p_value": p_norm, "p_value_perm": p_perm, "n_permutations": P, "variance_inflation": float(inflation),
            "folds": folds, "dims": int(z.shape[1])}


# --- blocked nearest neighbours (memory O(n·k + block·n), never O(n²)) ---------------------------

def _block_rows(n_ref: int, budget: int = 1 << 22) -> int:
    return int(max(1, min(4096, budget // max(1, n_ref))))


def _dists(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    d = np.einsum("ij,ij->i", a, a)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    np.maximum(d, 0.0, out=d)
    return np.sqrt(d, out=d)


def knn(query: np.ndarray, ref: np.ndarray, k: int = 1, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the k nearest rows of ``ref`` for each row of ``query`` (sorted).

    ``exclude_self``: query is ref; a row is not its own neighbour.  Computed in blocks of queries.
    """
    q = np.asarray(query, np.float64)
    r = np.asarray(ref, np.float64)
    kk = k + 1 if exclude_self else k
    if len(r) < kk:
        raise InsufficientDataError(f"{k}-NN needs at least {kk} reference rows, got {len(r)}")
    r_sq = np.einsum("ij,ij->i", r, r)
    dist = np.empty((len(q), k))
    idx = np.empty((len(q), k), dtype=np.int64)
    B = _block_rows(len(r))
    for s in range(0, len(q), B):
        d = _dists(q[s:s + B], r, r_sq)
        if exclude_self:
            d[np.arange(len(d)), np.arange(s, s + len(d))] = np.inf
        part = np.argpartition(d, kk - 1, axis=1)[:, :kk] if kk < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(d), 1))
        pd = np.take_along_axis(d, part, axis=1)
        o = np.argsort(pd, axis=1, kind="stable")[:, :k]
        dist[s:s + B] = np.take_along_axis(pd, o, axis=1)
        idx[s:s + B] = np.take_along_axis(part, o, axis=1)
    return dist, idx


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) in blocks: memory O((n+m)·k).

    Same definitions (strict ``<``) as the reference ``prdc`` package.
    """
    x = np.asarray(real, np.float64)
    y = np.asarray(fake, np.float64)
    if len(x) <= k or len(y) <= k:
        raise InsufficientDataError(f"PRDC with k={k} needs more than {k} samples per side, got {len(x)} and {len(y)}")
    rr = knn(x, x, k, exclude_self=True)[0][:, -1]
    fr = knn(y, y, k, exclude_self=True)[0][:, -1]
    x_sq = np.einsum("ij,ij->i", x, x)
    in_any = np.zeros(len(y), dtype=bool)
    n_in = np.zeros(len(y))
    covered_min = np.full(len(x), np.inf)
    recalled = np.zeros(len(x), dtype=bool)
    B = _block_rows(len(x))
    for s in range(0, len(y), B):
        d = _dists(y[s:s + B], x, x_sq)  # (B, n): fake block x real
        inside = d < rr[None, :]
        in_any[s:s + B] = inside.any(axis=1)
        n_in[s:s + B] = inside.sum(axis=1)
        np.minimum(covered_min, d.min(axis=0), out=covered_min)
        recalled |= (d < fr[s:s + B, None]).any(axis=0)
    return {"precision": float(in_any.mean()), "recall": float(recalled.mean()),
            "density": float(n_in.mean() / k), "coverage": float((covered_min < rr).mean())}


def alpha_beta_authenticity(real: np.ndarray, fake: np.ndarray, k: int = 5, n_levels: int = 20) -> dict[str, float]:
    """α-precision, β-recall and authenticity, k-NN form of Alaa et al. (2022).

    The α-support of the real data is {z : d_k(z, real) <= q_α}, with d_k the distance to the k-th
    nearest real sample and q_α the α-quantile of the real samples' own leave-one-out d_k; a real
    sample lies in it with probability α.  α-precision(α) is the synthetic share inside it (ideal: α)
    and the integrated α-precision is 1 - 2·mean_α |α-precision(α) - α|.  β-recall mirrors it with
    the synthetic β-support and the real samples.  Authenticity is the share of synthetic samples
    farther from their nearest real sample than that sample's own nearest real neighbour.
    """
    x = np.asarray(real, np.float64)
    y = np.asarray(fake, np.float64)
    if len(x) <= k or len(y) <= k:
        raise InsufficientDataError(f"α/β metrics with k={k} need more than {k} samples per side, got {len(x)} and {len(y)}")
    levels = (np.arange(n_levels) + 0.5) / n_levels
    r_self = knn(x, x, k, exclude_self=True)[0]
    q_real = np.quantile(r_self[:, -1], levels)
    dy, iy = knn(y, x, k)
    a_curve = (dy[:, -1][None, :] <= q_real[:, None]).mean(axis=1)
    s_self = knn(y, y, k, exclude_self=True)[0][:, -1]
    q_syn = np.quantile(s_self, levels)
    dx = knn(x, y, k)[0][:, -1]
    b_curve = (dx[None, :] <= q_syn[:, None]).mean(axis=1)
    authentic = dy[:, 0] > r_self[iy[:, 0], 0]
    return {"alpha_precision": float(1 - 2 * np.mean(np.abs(a_curve - levels))),
            "beta_recall": float(1 - 2 * np.mean(np.abs(b_curve - levels))),
            "authenticity": float(authentic.mean()),
            "alpha_curve": a_curve.tolist(), "beta_curve": b_curve.tolist(), "levels": levels.tolist()}


def cohen_kappa(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Cohen's kappa (``sklearn.metrics.cohen_kappa_score``); 1.0 when both label vectors are the same
    constant, where the formula is 0/0."""
    from sklearn.metrics import cohen_kappa_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(np.unique(np.concatenate([y_true, y_pred]))) == 1:
        return 1.0
    return float(cohen_kappa_score(y_true, y_pred))


def wasserstein_cols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Wasserstein-1 distance for every column at once (the area between the two ECDFs)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n, m = len(x), len(y)
    z = np.vstack([x, y])
    order = np.argsort(z, axis=0, kind="stable")
    zs = np.take_along_axis(z, order, axis=0)
    from_x = order < n
    gap = np.cumsum(from_x, axis=0) / n - np.cumsum(~from_x, axis=0) / m
    return np.sum(np.abs(gap[:-1]) * np.diff(zs, axis=0), axis=0)
