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
    """Two-sample KS D per column of x (n, d) and y (m, d)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    n, m = len(x), len(y)
    if n == 0 or m == 0:
        raise InsufficientDataError("KS needs at least one sample on each side")
    xs, ys = np.sort(x, axis=0), np.sort(y, axis=0)
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        grid = np.concatenate([xs[:, j], ys[:, j]])
        fx = np.searchsorted(xs[:, j], grid, side="right") / n
        fy = np.searchsorted(ys[:, j], grid, side="right") / m
        out[j] = np.max(np.abs(fx - fy))
    return out


def ks_pvalues(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import ks_2samp

    return np.array([ks_2samp(x[:, j], y[:, j]).pvalue for j in range(x.shape[1])])


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def wasserstein_1d(x: np.ndarray, y: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """Wasserstein-1 per column, divided by ``scale`` (the real standard deviation) when given."""
    from scipy.stats import wasserstein_distance

    w = np.array([wasserstein_distance(x[:, j], y[:, j]) for j in range(x.shape[1])])
    if scale is not None:
        w = w / np.where(scale > 0, scale, 1.0)
    return w


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
