"""Point-cloud features for the validators, and Chamfer-distance set metrics.

One convention everywhere (the "unit-sphere convention"): a cloud is **centred** on its centroid,
**scaled into the unit sphere** (farthest point at distance 1) and **resampled to 2,048 points**
(without replacement when it has more, else all points plus repeats; a fixed per-cloud RNG); the
Chamfer distance is the **squared-L2** one,
``CD(X, Y) = mean_x min_y |x - y|^2 + mean_y min_x |x - y|^2``, computed with ``scipy.spatial.cKDTree``.

Which points: a classification cloud is used whole.  A scene (a sample with ``boxes3d`` and
``instance_ids``, e.g. from ``points_lidar`` or ``points_insert``) is represented by the object the
sample is about: the instance of the sample's class with the most points, so rare LiDAR objects are
compared with rare LiDAR objects, not whole streets.  A scene without such an object is an error
naming the sample.

Per-cloud features (:class:`PointsFeaturizer`, columns in :data:`POINT_FEATURES`):

* ``n_points``: points in the raw cloud (for a LiDAR object: its hit count), log10(1 + n).
* ``extent_1..3``: extents along the principal axes of the normalised cloud, largest first.
* ``density``: log10 of raw points per cubic unit of the raw principal-axis box (metres for LiDAR).
* ``nn_spacing``: mean nearest-neighbour distance in the normalised 2,048-point cloud.
* ``normal_spread``: 1 - largest eigenvalue of the mean normal tensor ``mean(n n^T)`` (sign-free;
  0 for a plane, 2/3 for a sphere); normals are the sample's own or estimated by PCA of 16 neighbours.
* ``d2_00..d2_15``: the D2 shape distribution (Osada et al. 2002): histogram of distances between
  4,096 random point pairs of the normalised cloud, 16 bins over [0, 2], as probabilities.

Set metrics (:func:`chamfer_set_metrics`, :class:`ChamferSetValidator`) over subsamples of clouds,
named to keep them apart from kernel MMD: ``cov_chamfer`` (coverage: the share of real clouds that
are the Chamfer-nearest real cloud of some synthetic cloud), ``mmd_chamfer_minmatch`` (minimum
matching distance: mean over real clouds of the Chamfer distance to the closest synthetic cloud) and
``one_nn_accuracy`` (leave-one-out 1-nearest-neighbour accuracy of telling real from synthetic; 0.5
is ideal).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from synthgen.errors import DatasetError, InsufficientDataError
from synthgen.sample import Sample
from synthgen.seeding import derived_seed

from .distribution import CalibratedValidator
from .result import INCOMPUTABLE, ClassResult, ValidationResult

N_POINTS = 2048
D2_BINS = 16
D2_PAIRS = 4096
POINT_FEATURES = (["n_points", "extent_1", "extent_2", "extent_3", "density", "nn_spacing", "normal_spread"]
                  + [f"d2_{i:02d}" for i in range(D2_BINS)])


# --- the convention ------------------------------------------------------------------------------

def focus_points(s: Sample) -> tuple[np.ndarray, np.ndarray | None]:
    """The points a sample stands for (whole cloud, or its largest instance of its class) and normals."""
    pts = np.asarray(s.data, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise DatasetError(f"sample {s.id}: point data must be (N, 3), got {getattr(pts, 'shape', None)}")
    ann = s.annotations or {}
    normals = ann.get("normals")
    boxes = ann.get("boxes3d") or []
    inst = ann.get("instance_ids")
    if inst is not None and len(boxes) > 0 and len(np.unique(np.asarray(inst))) > 1:
        inst = np.asarray(inst)
        mine = [b for b in boxes if b.get("category") == s.label]
        if not mine:
            raise DatasetError(f"sample {s.id}: scene has no object of its class '{s.label}' to featurize")
        counts = [(int((inst == int(b["instance_id"])).sum()), k) for k, b in enumerate(mine)]
        n, k = max(counts)
        if n == 0:
            raise DatasetError(f"sample {s.id}: every '{s.label}' object in the scene has 0 points")
        m = inst == int(mine[k]["instance_id"])
        return pts[m], (None if normals is None else np.asarray(normals)[m])
    if len(pts) == 0:
        raise DatasetError(f"sample {s.id}: empty point cloud")
    return pts, (None if normals is None else np.asarray(normals, dtype=np.float64))


def canonical(points: np.ndarray, n_points: int = N_POINTS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(centred unit-sphere cloud of exactly ``n_points``, the indices used)."""
    rng = np.random.default_rng(seed)
    n = len(points)
    idx = np.sort(rng.choice(n, n_points, replace=False)) if n >= n_points else np.concatenate(
        [np.arange(n), rng.choice(n, n_points - n, replace=True)])
    q = points[idx] - points.mean(axis=0)
    r = float(np.sqrt((q ** 2).sum(axis=1).max()))
    return q / (r if r > 0 else 1.0), idx


def chamfer(a: np.ndarray, b: np.ndarray, tree_a=None, tree_b=None, squared: bool = True) -> float:
    """Chamfer distance with KD-trees: mean nearest-neighbour distance from a to b plus from b to a,
    of squared L2 distances (the point-cloud literature's default) or, ``squared=False``, of plain
    ones (in the clouds' units, as near-duplicate thresholds want)."""
    from scipy.spatial import cKDTree

    ta = tree_a if tree_a is not None else cKDTree(a)
    tb = tree_b if tree_b is not None else cKDTree(b)
    da, _ = tb.query(a, k=1)
    db, _ = ta.query(b, k=1)
    return float(np.mean(da ** 2) + np.mean(db ** 2)) if squared else float(np.mean(da) + np.mean(db))


def chamfer_brute(a: np.ndarray, b: np.ndarray) -> float:
    """Reference implementation (all pairwise distances); for tests and benchmarks."""
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    return float(d.min(axis=1).mean() + d.min(axis=0).mean())


def chamfer_matrix(clouds: Sequence[np.ndarray]) -> np.ndarray:
    from scipy.spatial import cKDTree

    trees = [cKDTree(c) for c in clouds]
    k = len(clouds)
    D = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            D[i, j] = D[j, i] = chamfer(clouds[i], clouds[j], trees[i], trees[j])
    return D


def _pca_normals(q: np.ndarray, k: int = 16) -> np.ndarray:
    from scipy.spatial import cKDTree

    _, nb = cKDTree(q).query(q, k=min(k, len(q)))
    P = q[nb] - q[nb].mean(axis=1, keepdims=True)
    C = np.einsum("nki,nkj->nij", P, P)
    _, vec = np.linalg.eigh(C)
    return vec[:, :, 0]


def cloud_features(points: np.ndarray, normals: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    from scipy.spatial import cKDTree

    raw = np.asarray(points, dtype=np.float64)
    n_raw = len(raw)
    q, idx = canonical(raw, N_POINTS, seed)
    # principal axes
    c = raw - raw.mean(axis=0)
    _, _, Vt = np.linalg.svd(q - q.mean(axis=0), full_matrices=False)
    proj = q @ Vt.T
    ext = np.sort(proj.max(axis=0) - proj.min(axis=0))[::-1]
    rproj = c @ Vt.T
    rext = np.maximum(rproj.max(axis=0) - rproj.min(axis=0), 1e-6)
    density = np.log10(n_raw / float(np.prod(rext)))
    uq = np.unique(q, axis=0)
    d, _ = cKDTree(uq).query(uq, k=2) if len(uq) > 1 else (np.zeros((1, 2)), None)
    spacing = float(d[:, 1].mean())
    nrm = np.asarray(normals, dtype=np.float64)[idx] if normals is not None else _pca_normals(uq)
    nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    T = nrm.T @ nrm / len(nrm)
    spread = 1.0 - float(np.linalg.eigvalsh(T)[-1])
    rng = np.random.default_rng(derived_seed(seed, "d2"))
    i, j = rng.integers(0, len(q), D2_PAIRS), rng.integers(0, len(q), D2_PAIRS)
    dist = np.linalg.norm(q[i] - q[j], axis=1)
    hist = np.histogram(dist, bins=D2_BINS, range=(0.0, 2.0))[0] / D2_PAIRS
    return np.concatenate([[np.log10(1 + n_raw)], ext, [density, spacing, spread], hist])


class PointsFeaturizer:
    """Per-cloud features under the unit-sphere convention (see the module docstring)."""

    modality = "points"
    feature_names = POINT_FEATURES

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        if not samples:
            return np.zeros((0, len(POINT_FEATURES)))
        rows = []
        for s in samples:
            pts, nrm = focus_points(s)
            rows.append(cloud_features(pts, nrm, self.seed))
        return np.stack(rows)

    def clouds(self, samples: Sequence[Sample]) -> list[np.ndarray]:
        """The canonical 2,048-point clouds the set metrics compare."""
        return [canonical(focus_points(s)[0], N_POINTS, self.seed)[0] for s in samples]


# --- set metrics ---------------------------------------------------------------------------------

def _one_nn_accuracy(D: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    idx = np.concatenate([a, b])
    lab = np.concatenate([np.zeros(len(a), bool), np.ones(len(b), bool)])
    sub = D[np.ix_(idx, idx)].copy()
    np.fill_diagonal(sub, np.inf)
    nn = np.argmin(sub, axis=1)
    return float(np.mean(lab[nn] == lab))


def set_metrics_from_matrix(D: np.ndarray, real: np.ndarray, syn: np.ndarray) -> dict[str, float]:
    cross = D[np.ix_(real, syn)]  # rows real, cols synthetic
    cov = len(np.unique(np.argmin(cross, axis=0))) / len(real)
    mmd = float(cross.min(axis=1).mean())
    return {"cov_chamfer": float(cov), "mmd_chamfer_minmatch": mmd, "one_nn_accuracy": _one_nn_accuracy(D, real, syn)}


def chamfer_set_metrics(real: Sequence[np.ndarray], synthetic: Sequence[np.ndarray]) -> dict[str, float]:
    """COV, MMD (minimum matching distance) and 1-NN accuracy on squared-L2 Chamfer distance."""
    if len(real) < 2 or len(synthetic) < 2:
        raise InsufficientDataError("set metrics need at least 2 real and 2 synthetic clouds")
    D = chamfer_matrix(list(real) + list(synthetic))
    n = len(real)
    return set_metrics_from_matrix(D, np.arange(n), np.arange(n, n + len(synthetic)))


class ChamferSetValidator(CalibratedValidator):
    """1-NN accuracy on Chamfer distance, judged against real-versus-real halves.

    Works on the samples (it needs the clouds, not the feature matrix): with ``reads = "samples"``,
    :mod:`synthgen.validate` calls ``validate_samples(real_by_class, synthetic_by_class, seed)``.  At most ``max_clouds``
    real and synthetic clouds (a seeded subsample) of ``n_points`` points enter one Chamfer matrix;
    the bootstrap splits reuse it.  ``cov_chamfer`` and ``mmd_chamfer_minmatch`` (and their
    real-versus-real values) are reported in the details.
    """

    name = "chamfer"
    statistic_name = "one_nn_accuracy"
    reads = "samples"  # synthgen.validate passes samples, not feature matrices

    def __init__(self, max_clouds: int = 32, n_points: int = N_POINTS, **kw):
        super().__init__(**kw)
        self.max_clouds = int(max_clouds)
        self.n_points = int(n_points)

    def validate(self, real, synthetic, feature_names, seed: int = 0) -> ValidationResult:
        """Feature matrices hold no clouds: every class is incomputable, with the reason (never an
        exception, as for every validator); the pipeline calls ``validate_samples``."""
        per = {label: ClassResult(label, INCOMPUTABLE, n_real=len(real.get(label, ())), n_synthetic=len(y),
                                  reason=f"class '{label}': chamfer needs point-cloud samples (validate_samples), not feature matrices")
               for label, y in synthetic.items()}
        return ValidationResult(self.name, self.statistic_name, per)

    def validate_samples(self, real: dict[str, list[Sample]], synthetic: dict[str, list[Sample]], seed: int = 0) -> ValidationResult:
        per_class = {}
        for label, syn in synthetic.items():
            rs = real.get(label, [])
            rng = np.random.default_rng(derived_seed(seed, self.name, label))
            try:
                per_class[label] = self._class(label, rs, syn, rng)
            except InsufficientDataError as e:
                per_class[label] = ClassResult(label, INCOMPUTABLE, n_real=len(rs), n_synthetic=len(syn), reason=str(e))
        return ValidationResult(self.name, self.statistic_name, per_class)

    def _class(self, label, rs, ss, rng) -> ClassResult:
        self._check_sizes(label, np.zeros(len(rs)), np.zeros(len(ss)))
        ri = np.sort(rng.choice(len(rs), min(len(rs), self.max_clouds), replace=False))
        si = np.sort(rng.choice(len(ss), min(len(ss), self.max_clouds), replace=False))
        clouds = [canonical(focus_points(rs[i])[0], self.n_points, 0)[0] for i in ri]
        clouds += [canonical(focus_points(ss[i])[0], self.n_points, 0)[0] for i in si]
        D = chamfer_matrix(clouds)
        n, m = len(ri), len(si)
        base, obs, base_sets = [], [], []
        for a, b, s in self._splits(n, m, rng):
            base.append(_one_nn_accuracy(D, a, b))
            obs.append(_one_nn_accuracy(D, a, n + s))
            base_sets.append(set_metrics_from_matrix(D, a, b))
        full = set_metrics_from_matrix(D, np.arange(n), np.arange(n, n + m))
        rr = {k: float(np.median([x[k] for x in base_sets])) for k in full}
        # n_real / n_synthetic count the samples given, as for every validator; the clouds used are in details
        return self._verdict(label, np.array(obs), np.array(base), len(rs), len(ss),
                             details={**full, "real_vs_real": rr, "n_points": self.n_points, "clouds_real": n,
                                      "clouds_synthetic": m, "distance": "squared-L2 Chamfer (cKDTree)"})
