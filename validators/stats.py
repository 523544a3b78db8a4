"""Modality-free two-sample statistics on feature matrices (numpy/scipy; torch only on a CUDA device).

* ``ks_test``: the one two-sample Kolmogorov-Smirnov test, every column at once (D and p-values equal
  to ``scipy.stats.ks_2samp(axis=0)``); ``ks_statistic`` is its D alone.
* ``benjamini_hochberg``: adjusted p-values (q-values).
* ``kernel_quad_forms`` (``mmd_permutation``, ``kernel_tests``): RBF-kernel MMD² and the energy
  distance for any number of splits (observed, permutations, calibration) from one pooled distance
  matrix in float32 (sums in float64; torch on a CUDA device); p = (1 + b) / (1 + P).
* ``frechet_distance``: Cholesky, triangular products and ``eigvalsh`` in float64.
* k-NN, PRDC, α-precision: blocked, O(n k) memory (``validators.pairwise`` shares one matrix instead
  where several validators need the same distances).
"""
from __future__ import annotations

import math

import numpy as np

from synthgen.errors import InsufficientDataError


def _ks_d(x: np.ndarray, y: np.ndarray, budget: int = 1 << 22) -> np.ndarray:
    """KS D of every column, computed exactly as ``scipy.stats.ks_2samp`` does (bit for bit).

    Each side's columns are sorted as rows of a transposed contiguous copy (the default sort: ties
    need no stability), then the two sorted runs of a column are merged by a stable argsort (a
    linear merge for timsort).  The ECDF gap c1/n - c2/m is read at the last copy of every tied
    value, so a column constant in both sets gives exactly 0.  Columns go in chunks of about
    ``budget`` pooled values, so memory stays O(budget) however many columns there are.
    """
    n, m = len(x), len(y)
    N = n + m
    out = np.empty(x.shape[1])
    step = max(1, budget // N)
    pos = np.arange(1, N + 1)
    for s in range(0, x.shape[1], step):
        z = np.empty((min(step, x.shape[1] - s), N))
        z[:, :n] = x[:, s:s + step].T
        z[:, n:] = y[:, s:s + step].T
        z[:, :n].sort(axis=1)
        z[:, n:].sort(axis=1)
        order = np.argsort(z, axis=1, kind="stable")
        zs = np.take_along_axis(z, order, axis=1)
        c1 = np.cumsum(order < n, axis=1)
        gap = c1 / n - (pos - c1) / m  # scipy: searchsorted(x, pooled, 'right') / n - the same for y
        gap[:, :-1][zs[:, 1:] == zs[:, :-1]] = 0.0  # not the last copy of a tied value
        hi = gap.max(axis=1)
        lo = np.clip(-gap.min(axis=1), 0, 1)
        out[s:s + step] = np.where(lo > hi, lo, hi)
    return out


def _as_columns(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    if len(x) == 0 or len(y) == 0:
        raise InsufficientDataError("KS needs at least one sample on each side")
    return x, y


def ks_statistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Two-sample KS D for every column of x (n, d) and y (m, d): :func:`ks_test` without p-values."""
    return _ks_d(*_as_columns(x, y))


def ks_test(x: np.ndarray, y: np.ndarray, method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Two-sided two-sample KS D and p-value of every column: ``scipy.stats.ks_2samp(x, y, axis=0,
    method=method)``, same statistic and p-values, several times faster (one sort per side instead of
    scipy's per-column sort and two binary searches per pooled value).

    ``method``: "auto" (scipy's default: exact when both sides have at most 10,000 samples,
    else asymptotic), "exact" or "asymp".  The exact p-value is computed once per distinct D (scipy's
    own routine); where it fails numerically the asymptotic one is used, as scipy does.
    """
    from scipy.stats import kstwo

    if method not in ("auto", "exact", "asymp"):
        raise ValueError(f"KS method must be 'auto', 'exact' or 'asymp', got {method!r}")
    x, y = _as_columns(x, y)
    d = _ks_d(x, y)
    n, m = len(x), len(y)
    g = math.gcd(n, m)
    lcm = (n // g) * m
    if method == "auto":
        method = "exact" if max(n, m) <= 10000 else "asymp"
    elif method == "exact" and n // g >= np.iinfo(np.int32).max / (m // g):
        method = "asymp"
    p = np.full(len(d), np.nan)
    if method == "exact":
        try:
            from scipy.stats._stats_py import _attempt_exact_2kssamp
        except ImportError:  # private in scipy: if it moves, ask the public function
            from scipy.stats import ks_2samp

            r = ks_2samp(x, y, axis=0, method="exact")
            return np.atleast_1d(r.statistic).astype(np.float64), np.atleast_1d(r.pvalue).astype(np.float64)
        h = np.round(d * lcm).astype(np.int64)
        d = h / lcm
        for hv in np.unique(h):
            ok, _, pv = _attempt_exact_2kssamp(n, m, g, hv / lcm, "two-sided")
            if ok:
                p[h == hv] = pv
    todo = np.isnan(p)
    if todo.any():
        p[todo] = kstwo.sf(d[todo], np.round(n * m / (n + m)))
    return d, np.clip(p, 0.0, 1.0)


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


# --- the kernel engine: one pooled distance matrix, every quadratic form from it ------------------
#
# MMD² and the energy distance of any split of the pooled sample are quadratic forms wᵀKw (w = 1/n on
# one side, -1/m on the other, 0 for rows left out), so the observed split, every permutation and
# every calibration split are columns of one weight matrix W, and all of them cost one pass over the
# pooled squared-distance matrix D: per block of rows, the kernel of the block times W.  D is the one
# O(N²) array (float32 by default: 1.6 GB at 10,000 per side), the kernel is never materialised, the
# median bandwidth is an exact selection without index arrays, and the final sums are in float64.
# On a CUDA device (``device="cuda"``, or "auto" when torch is already imported and sees a GPU) the
# same steps run in torch.

_BLOCK = 1 << 22  # elements of D per row block


def _torch_device(device: str | None):
    """None: numpy.  A torch device when asked for one ("cuda", "cuda:1", or "torch:cpu" to run the
    torch route on the CPU), or for "auto" when torch is already imported (never imported here just
    to look: that costs seconds) and has CUDA."""
    if device in (None, "cpu", "numpy"):
        return None
    import sys

    if device == "auto":
        torch = sys.modules.get("torch")
        return torch.device("cuda") if torch is not None and torch.cuda.is_available() else None
    import torch

    return torch.device(device.removeprefix("torch:"))


def _pooled_sq_dists(x: np.ndarray, y: np.ndarray, dtype, dev, median: bool = False):
    """Squared Euclidean distances of the pooled rows in ``dtype``, diagonal exactly 0, and (with
    ``median``) the median of the off-diagonal entries, or None where it still has to be found.

    Rows are centred first (distances do not change; the norms shrink, so the cancellation in
    ‖a‖² + ‖b‖² - 2aᵀb costs far fewer bits in float32).  On numpy, D is built in row blocks and each
    block, still in cache, feeds the median selection (:class:`_MedianBracket`)."""
    z = np.vstack([x, y]).astype(np.float64)
    z -= z.mean(axis=0)
    sq = np.einsum("ij,ij->i", z, z).astype(dtype)
    z = z.astype(dtype)
    N = len(z)
    if dev is None:
        d = np.empty((N, N), dtype)
        sel = _MedianBracket.from_rows(z, sq) if median and N * N > _BLOCK else None
        rows = max(1, (1 << 20) // N)
        for s in range(0, N, rows):
            blk = d[s:s + rows]
            np.matmul(z[s:s + rows], z.T, out=blk)
            blk *= -2.0
            blk += sq[s:s + rows, None]
            blk += sq[None, :]
            np.maximum(blk, 0.0, out=blk)
            blk[np.arange(len(blk)), np.arange(s, s + len(blk))] = 0.0
            if sel is not None:
                sel.feed(blk)
        med = sel.result() if sel is not None else None
        return d, med
    import torch

    zt, st = torch.from_numpy(z).to(dev), torch.from_numpy(sq).to(dev)
    d = zt @ zt.T
    d.mul_(-2.0).add_(st[:, None]).add_(st[None, :]).clamp_(min=0.0).fill_diagonal_(0.0)
    return d, None


def _median_ranks(N: int) -> tuple[int, int]:
    """Ranks in all of D (N x N, zero diagonal) of the two middle off-diagonal values: the N zeros
    of the diagonal sort first."""
    off = N * N - N
    return N + off // 2 - 1, N + off // 2


class _MedianBracket:
    """Exact median of D's off-diagonal entries from one pass over D, given a bracket [lo, hi] that
    should hold it: each block of D adds how many of its values fall below the bracket and gathers
    those inside; a partition of the gathered values (a few percent of D) finishes.  ``result`` is
    None if the bracket missed (the caller widens it and passes again)."""

    def __init__(self, N: int, lo: float, hi: float):
        self.N, self.lo, self.hi = N, lo, hi
        self.below, self.inside = 0, []

    @classmethod
    def from_rows(cls, z: np.ndarray, sq: np.ndarray) -> _MedianBracket:
        """Bracket from the distances of a few evenly spread rows, generously (+-2 % of the ranks:
        those samples are correlated), before D exists: D's construction pass then feeds it."""
        N = len(z)
        rows = np.unique(np.linspace(0, N - 1, min(N, 64)).astype(int))
        samp = sq[rows, None] + sq[None, :] - 2.0 * (z[rows] @ z.T)
        samp[np.arange(len(rows)), rows] = 0.0
        samp = np.sort(np.maximum(samp, 0.0).ravel().astype(np.float64))
        k = len(samp)
        c = _median_ranks(N)[0] * k / (N * N)
        half = 0.02 * k + 16
        return cls(N, float(samp[int(max(0, np.floor(c - half)))]), float(samp[int(min(k - 1, np.ceil(c + half)))]))

    def feed(self, blk) -> None:
        below = blk < self.lo
        self.below += int(below.sum())
        self.inside.append(_to_np(blk[~below & (blk <= self.hi)]))

    def result(self) -> float | None:
        r1, r2 = _median_ranks(self.N)
        g = np.concatenate(self.inside).astype(np.float64)
        if not (self.below <= r1 and r2 < self.below + len(g)):
            return None
        g = np.partition(g, [r1 - self.below, r2 - self.below])
        return float(0.5 * (g[r1 - self.below] + g[r2 - self.below]))


def _to_np(a) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else a.detach().cpu().numpy()


def _median_offdiag(d) -> float:
    """Exact median of the off-diagonal entries of the symmetric D (= the median over pairs), without
    copying D (numpy array or torch tensor): a strided sample brackets the two middle order
    statistics and :class:`_MedianBracket` selects them in one pass (two or three if it missed)."""
    N = d.shape[0]
    total = N * N
    if total - N <= 0:
        return 1.0
    r1, r2 = _median_ranks(N)
    flat = d.reshape(-1)
    if total <= _BLOCK:
        v = np.partition(_to_np(flat).astype(np.float64), [r1, r2])
        return float(0.5 * (v[r1] + v[r2]))
    stride = max(2, total // 200_000)
    while math.gcd(stride, N) != 1:  # coprime with the row length: the sample visits every column
        stride += 1
    samp = np.sort(_to_np(flat[::stride]).astype(np.float64))
    k = len(samp)
    c = r1 * k / total
    rows = max(1, _BLOCK // N)
    for half in (6.0 * np.sqrt(k) + 16, 60.0 * np.sqrt(k) + 160, float(k)):
        lo, hi = float(samp[int(max(0, np.floor(c - half)))]), float(samp[int(min(k - 1, np.ceil(c + half)))])
        sel = _MedianBracket(N, -np.inf if half >= k else lo, np.inf if half >= k else hi)
        for s in range(0, N, rows):
            sel.feed(d[s:s + rows])
        med = sel.result()
        if med is not None:
            return med
    raise AssertionError("median selection: unreachable")


def _quad_forms(d, W: np.ndarray, kernels: dict, dtype, dev) -> dict[str, np.ndarray]:
    """{name: wᵀ f(D) w for every column w of W} for each kernel f (name -> transform of a block of
    D into a buffer), one pass over D in row blocks; the products in ``dtype``, the sums in float64."""
    N, P = W.shape
    rows = max(1, (1 << 20) // N)
    if dev is None:
        Wd = W.astype(dtype)
        kw = {name: np.empty((N, P), dtype) for name in kernels}
        buf = np.empty((min(rows, N), N), dtype)
    else:
        import torch

        Wd = torch.from_numpy(W.astype(dtype)).to(dev)
        kw = {name: torch.empty((N, P), dtype=Wd.dtype, device=dev) for name in kernels}
        rows, buf = N, None  # one block: GPU memory is not the constraint here
    for s in range(0, N, rows):
        blk = d[s:s + rows]
        for name, f in kernels.items():
            if dev is None:
                out = f(blk, buf[:len(blk)])
                np.matmul(out, Wd, out=kw[name][s:s + rows])
            else:
                kw[name][s:s + rows] = f(blk, None) @ Wd
    W64 = W.astype(np.float64)
    return {name: np.einsum("ip,ip->p", W64, _to_np(v).astype(np.float64)) for name, v in kw.items()}


def _rbf(gamma: float, dev):
    if dev is None:
        def f(b, out):
            np.multiply(b, -gamma, out=out)
            return np.exp(out, out=out)
        return f
    return lambda b, out: (b * -gamma).exp_()


def _sqrt(dev):
    if dev is None:
        return lambda b, out: np.sqrt(b, out=out)
    return lambda b, out: b.sqrt()


def kernel_quad_forms(x: np.ndarray, y: np.ndarray, W: np.ndarray, rbf: bool = True, energy: bool = False,
                      bandwidth: float | None = None, dtype=np.float32, device: str | None = "auto") -> dict:
    """wᵀKw for every column w of W (N = n + m rows: x then y) under the RBF kernel (median-heuristic
    bandwidth unless given) and/or the energy kernel -‖a-b‖, from one pooled distance matrix.

    ``dtype=np.float64`` is the reference route; float32 (the default) agrees with it to about 1e-6
    relative on the statistics (tests/test_stats_limits.py)."""
    dev = _torch_device(device)
    find_median = rbf and bandwidth is None
    d, med = _pooled_sq_dists(np.asarray(x), np.asarray(y), dtype, dev, median=find_median)
    out: dict = {}
    if find_median:
        med = _median_offdiag(d) if med is None else med
        bandwidth = float(np.sqrt(med / 2.0)) if med > 0 else 1.0
    kernels = {}
    if rbf:
        kernels["rbf"] = _rbf(1.0 / (2.0 * float(bandwidth) ** 2), dev)
        out["bandwidth"] = float(bandwidth)
    if energy:
        kernels["energy"] = _sqrt(dev)
    q = _quad_forms(d, W, kernels, dtype, dev)
    if rbf:
        out["rbf"] = q["rbf"]
    if energy:
        out["energy"] = -q["energy"]
    return out


def rbf_kernel(z: np.ndarray, bandwidth: float | None = None) -> tuple[np.ndarray, float]:
    """RBF kernel matrix of the pooled sample in float64 (the reference route); bandwidth by the
    median heuristic when not given."""
    d = sq_dists(np.asarray(z, dtype=np.float64))
    if bandwidth is None:
        med = _median_offdiag(d)
        bandwidth = float(np.sqrt(med / 2.0)) if med > 0 else 1.0
    return np.exp(-d / (2.0 * bandwidth**2)), float(bandwidth)


def _weights(assign: np.ndarray, n: int, m: int) -> np.ndarray:
    """assign: (N, P) boolean, True = side X.  Returns (N, P) weights."""
    return np.where(assign, 1.0 / n, -1.0 / m)


def permutation_weights(n: int, m: int, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """(n + m, 1 + P) weights: column 0 the observed split, then P random n-subsets (seeded by rng)."""
    N = n + m
    assign = np.zeros((N, n_permutations + 1), dtype=bool)
    assign[:n, 0] = True
    assign[:, 1:] = np.argsort(rng.random((N, n_permutations)), axis=0) < n
    return _weights(assign, n, m)


def permutation_p(stats: np.ndarray, dtype=np.float64) -> float:
    """p = (1 + #{permuted >= observed}) / (1 + P), stats[0] observed.  "Equal" allows the rounding of
    the route: 1e-12 absolute in float64, 64 float32 epsilons of the largest statistic in float32."""
    tol = 1e-12 if np.dtype(dtype) == np.float64 else 64 * float(np.finfo(np.float32).eps) * float(np.max(np.abs(stats)))
    b = int(np.sum(stats[1:] >= stats[0] - tol))
    return (1.0 + b) / len(stats)


def mmd_permutation(x: np.ndarray, y: np.ndarray, n_permutations: int = 1000, rng: np.random.Generator | None = None,
                    bandwidth: float | None = None, dtype=np.float32, device: str | None = "auto") -> dict[str, float]:
    """MMD² (biased) and its permutation p-value, all permutations in one pass (:func:`kernel_quad_forms`)."""
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise InsufficientDataError(f"MMD needs at least 2 samples per side, got {n} and {m}")
    rng = rng or np.random.default_rng(0)
    W = permutation_weights(n, m, n_permutations, rng)
    q = kernel_quad_forms(x, y, W, bandwidth=bandwidth, dtype=dtype, device=device)
    return {"mmd2": float(q["rbf"][0]), "p_value": permutation_p(q["rbf"], dtype), "bandwidth": q["bandwidth"]}


# --- categorical tests ---------------------------------------------------------------------------

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
                 bandwidth: float | None = None, dtype=np.float32, device: str | None = "auto") -> dict[str, float]:
    """RBF-kernel MMD² and the energy distance with permutation p-values from one distance matrix.

    Both statistics are quadratic forms wᵀKw with w = 1/n on one side and -1/m on the other (the
    energy distance uses the kernel -‖a-b‖), so all permutations are one pass over the distance
    matrix (:func:`kernel_quad_forms`): p = (1 + #{perm >= observed}) / (1 + P).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise InsufficientDataError(f"kernel tests need at least 2 samples per side, got {n} and {m}")
    rng = rng or np.random.default_rng(0)
    W = permutation_weights(n, m, n_permutations, rng)
    q = kernel_quad_forms(x, y, W, rbf=True, energy=True, bandwidth=bandwidth, dtype=dtype, device=device)
    mmd, energy = q["rbf"], q["energy"]
    return {"mmd2": float(mmd[0]), "p_mmd": permutation_p(mmd, dtype), "bandwidth": q["bandwidth"],
            "energy": float(energy[0]), "p_energy": permutation_p(energy, dtype)}


# --- Fréchet distance ----------------------------------------------------------------------------

def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^½) for symmetric positive semi-definite S1, S2, in float64.

    With S1 = L Lᵀ (Cholesky), S1 S2 is similar to the symmetric Lᵀ S2 L, so the trace is the sum of
    the square roots of its eigenvalues: one Cholesky, two triangular products and ``eigvalsh``
    (about 2x faster than a full eigendecomposition of S1 and the products with its root).  If
    neither matrix is numerically positive definite, the eigendecomposition route is used.
    """
    from scipy.linalg.blas import dtrmm

    for a, b in ((s1, s2), (s2, s1)):
        try:
            low = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            continue
        mid = dtrmm(1.0, low, b, side=1, lower=1)  # B L
        mid = dtrmm(1.0, low, mid, side=0, lower=1, trans_a=1)  # Lᵀ B L
        mid = 0.5 * (mid + mid.T)
        return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(mid), 0.0, None))))
    r1 = _sqrtm_psd(s1)
    mid = r1 @ s2 @ r1
    mid = 0.5 * (mid + mid.T)
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(mid), 0.0, None))))


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """‖μ1-μ2‖² + tr(S1 + S2 - 2 (S1 S2)^½), in float64 (:func:`trace_sqrt_product`).

    Equal to the usual formula with ``scipy.linalg.sqrtm`` (to 1e-6 relative or better, ill-conditioned
    covariances included: tests/test_stats_limits.py) but stable: every matrix whose eigenvalues are
    taken is symmetric positive semi-definite.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    tr_cross = trace_sqrt_product(s1, s2)
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
        dist[s:s + B], idx[s:s + B] = knn_from_dists(d, k, kk)
    return dist, idx


def knn_from_dists(d: np.ndarray, k: int, kk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest entries of every row of a distance block (sorted) and their columns; ``kk``
    (>= k) entries are selected first (k + 1 where a row's own entry was set to inf)."""
    kk = k if kk is None else kk
    part = np.argpartition(d, kk - 1, axis=1)[:, :kk] if kk < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(d), 1))
    pd = np.take_along_axis(d, part, axis=1)
    o = np.argsort(pd, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(pd, o, axis=1), np.take_along_axis(part, o, axis=1)


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
    B = _block_rows(len(x))
    return prdc_from_dists(rr, fr, ((s, _dists(y[s:s + B], x, x_sq)) for s in range(0, len(y), B)), k)


def prdc_from_dists(rr: np.ndarray, fr: np.ndarray, blocks, k: int) -> dict[str, float]:
    """PRDC from the real and fake k-NN radii ``rr``, ``fr`` and the fake-to-real distances, given as
    (first fake row, (B, n) block) pairs: the blocked :func:`prdc` and a shared distance matrix
    (``validators.pairwise``) count with this one routine."""
    in_any = np.zeros(len(fr), dtype=bool)
    n_in = np.zeros(len(fr))
    covered_min = np.full(len(rr), np.inf)
    recalled = np.zeros(len(rr), dtype=bool)
    for s, d in blocks:  # (B, n): fake block x real
        B = len(d)
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
