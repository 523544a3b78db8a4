"""One distance matrix per class and feature space, shared by every neighbour statistic.

The energy, PRDC and DCR validators and the sample filter (``synthgen.gate.filter_samples``) all
compare the same prepared features (``distribution.prepare(x, y, max_dim)``: pooled standardisation,
then PCA to ``max_dim``).  :func:`pooled` prepares them and builds the Euclidean distance matrix of
the pooled rows once; a later call with equal inputs (same bytes, same ``max_dim``) gets the same
object, whichever validator asks.  Every calibration split is then a sub-block of that matrix, so no
distance is computed twice.

float64 on purpose: PRDC and DCR count strict inequalities and exact copies, which float32 rounding
would blur (the smooth kernel statistics use float32: ``stats.kernel_quad_forms``).  The cache holds
at most ``CACHE_BYTES`` of matrices (least recently used first out); a class with more than
``MAX_ROWS`` pooled rows gets ``None`` and callers use the blocked routines (memory O(n k)).
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from synthgen.errors import InsufficientDataError

from . import stats

MAX_ROWS = 6000
CACHE_BYTES = 1 << 29  # 512 MiB

_CACHE: OrderedDict[tuple, Pooled] = OrderedDict()


class Pooled:
    """Prepared real rows ``xs`` (n), synthetic rows ``ys`` (m) and the (n + m)² distance matrix ``d``
    (rows: xs then ys).  Row indices below are into the pooled rows: real i is i, synthetic j is n + j."""

    def __init__(self, xs: np.ndarray, ys: np.ndarray):
        self.xs, self.ys = xs, ys
        self.n, self.m = len(xs), len(ys)
        z = np.vstack([xs, ys])
        z_sq = np.einsum("ij,ij->i", z, z)
        N = len(z)
        self.d = np.empty((N, N))
        B = stats._block_rows(N)
        for s in range(0, N, B):  # the same expression as the blocked k-NN: the same distances
            self.d[s:s + B] = stats._dists(z[s:s + B], z, z_sq)
        np.fill_diagonal(self.d, 0.0)  # exactly (the expression leaves float noise there)

    @property
    def nbytes(self) -> int:
        return int(self.d.nbytes + self.xs.nbytes + self.ys.nbytes)

    def block(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.d[np.ix_(rows, cols)]

    def knn(self, rows: np.ndarray, cols: np.ndarray, k: int, exclude_self: bool = False):
        """Like ``stats.knn(z[rows], z[cols], k, exclude_self)``: distances and positions in ``cols``."""
        d = self.block(rows, cols)
        if exclude_self:
            if len(cols) < k + 1:
                raise InsufficientDataError(f"{k}-NN needs at least {k + 1} reference rows, got {len(cols)}")
            np.fill_diagonal(d, np.inf)
        elif len(cols) < k:
            raise InsufficientDataError(f"{k}-NN needs at least {k} reference rows, got {len(cols)}")
        return stats.knn_from_dists(d, k, k + 1 if exclude_self else k)

    def prdc(self, real_rows: np.ndarray, fake_rows: np.ndarray, k: int) -> dict[str, float]:
        """``stats.prdc(z[real_rows], z[fake_rows], k)`` from the shared matrix."""
        if len(real_rows) <= k or len(fake_rows) <= k:
            raise InsufficientDataError(f"PRDC with k={k} needs more than {k} samples per side, "
                                              f"got {len(real_rows)} and {len(fake_rows)}")
        rr = self.knn(real_rows, real_rows, k, exclude_self=True)[0][:, -1]
        fr = self.knn(fake_rows, fake_rows, k, exclude_self=True)[0][:, -1]
        return stats.prdc_from_dists(rr, fr, [(0, self.block(fake_rows, real_rows))], k)

    def energy(self, a: np.ndarray, b: np.ndarray) -> float:
        """Székely's energy distance (V-statistic) between the pooled rows ``a`` and ``b``."""
        return float(2.0 * self.block(a, b).mean() - self.block(a, a).mean() - self.block(b, b).mean())


def _digest(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a)
    return hashlib.blake2b(a.view(np.uint8).reshape(-1), digest_size=16).digest() + repr((a.shape, a.dtype.str)).encode()


def pooled(x: np.ndarray, y: np.ndarray, max_dim: int | None) -> Pooled | None:
    """The shared :class:`Pooled` for real ``x`` and synthetic ``y`` prepared with ``max_dim`` (built
    on the first call), or None when the pooled class is larger than ``MAX_ROWS``."""
    from .distribution import prepare

    if len(x) + len(y) > MAX_ROWS:
        return None
    key = (_digest(x), _digest(y), max_dim)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    p = Pooled(*prepare(x, y, max_dim))
    _CACHE[key] = p
    while sum(v.nbytes for v in _CACHE.values()) > CACHE_BYTES and len(_CACHE) > 1:
        _CACHE.popitem(last=False)
    return p


def find(xs: np.ndarray, ys: np.ndarray) -> Pooled | None:
    """The cached :class:`Pooled` whose prepared rows are these very arrays (identity), if any."""
    for p in _CACHE.values():
        if p.xs is xs and p.ys is ys:
            return p
    return None


def clear() -> None:
    _CACHE.clear()
