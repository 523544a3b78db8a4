"""Point-cloud corruptions: the seven of ModelNet-C and the others of ModelNet40-C.

Reimplemented from Ren et al., "Benchmarking and Analyzing Point Cloud Classification under
Corruptions" (ModelNet-C, 2022) and Sun et al., "Benchmarking Robustness of 3D Point Cloud
Recognition Against Common Corruptions" (ModelNet40-C, 2022), with their per-severity parameters.

Both benchmarks define their parameters on clouds normalised to the unit sphere with 1,024 points.
Here each cloud is centred and scaled to the unit sphere, corrupted, and mapped back to its own frame;
point counts (points dropped, added or displaced) scale with ``N / 1024``.  Where ModelNet40-C
re-normalises after corrupting (``background_noise``, ``impulse_noise``, ``upsampling``, ``shear``), it
uses its own ``normalize`` (bounding box centred, longest side 2; ``_box``), reproduced here exactly.

Per-point annotations follow the points: every corruption returns, for each output point, the
index of the input point it came from, or -1 for a point that did not exist (added noise).  Arrays
in ``annotations`` whose first dimension is ``N`` (``point_labels``, ``instance_ids``, ...) are
re-indexed with it; added points get -1 (the "ignore" label).  Points that are copies of a real
point (upsampling, density increase) keep its labels.

``occlusion`` and ``lidar`` are rendered from meshes in ModelNet40-C; with points only, they are
simulated with hidden-point removal (Katz et al. 2007) from a random viewpoint, plus elevation rings
for the LiDAR-like scan.  Their severity tables are our own (documented in docs/stress.md).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .corruptions import register

REF_POINTS = 1024


# --- helpers ------------------------------------------------------------------------------------

def _normalise(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    c = p.mean(axis=0)
    q = p - c
    r = float(np.sqrt((q ** 2).sum(axis=1)).max()) if len(q) else 1.0
    r = r if r > 0 else 1.0
    return q / r, c, r


def _unit(p: np.ndarray) -> np.ndarray:
    """Centre on the centroid and scale to the unit sphere."""
    q, _, _ = _normalise(p)
    return q


def _box(p: np.ndarray) -> np.ndarray:
    """ModelNet40-C's ``normalize`` (data/util.py): centre the bounding box, scale its longest side to 2.

    Computed in float32 on a float32 copy, as the reference does (it casts the corrupted cloud to
    float32 before normalising).
    """
    q = np.array(p, dtype=np.float32)
    if not len(q):
        return q
    q -= (q.max(axis=0) + q.min(axis=0)) / 2
    side = float((q.max(axis=0) - q.min(axis=0)).max())
    if side > 0:
        q *= np.float32(2.0 / side)
    return q


def _n(count: float, n: int) -> int:
    """A point count defined for 1,024 points, scaled to ``n`` points."""
    return int(round(count * n / REF_POINTS))


def _follow(ann: dict[str, Any], n_in: int, src: np.ndarray) -> dict[str, Any]:
    """Re-index per-point annotations by ``src`` (-1: a new point gets -1 / 0)."""
    out = dict(ann)
    for k, v in ann.items():
        a = np.asarray(v) if isinstance(v, (list, np.ndarray)) else None
        if a is None or a.ndim == 0 or a.shape[0] != n_in or a.dtype == object:
            continue
        fill = -1 if np.issubdtype(a.dtype, np.integer) or a.dtype == bool else 0
        res = np.full((len(src),) + a.shape[1:], fill, dtype=a.dtype if a.dtype != bool else np.int64)
        ok = src >= 0
        res[ok] = a[src[ok]]
        out[k] = res if isinstance(v, np.ndarray) else res.tolist()
    return out


def _finish(points, ann, q, src, c, r, params):
    """Map the corrupted unit-sphere cloud ``q`` back to the input frame and move the labels."""
    out = (np.asarray(q, dtype=np.float64) * r + c).astype(np.float32)
    return out, _follow(ann, len(points), np.asarray(src, dtype=np.int64)), params


def _rotation(angles) -> np.ndarray:
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _in_unit_sphere(n: int, rng) -> np.ndarray:
    radius = rng.uniform(0.0, 1.0, (n, 1)) ** (1 / 3)
    cos_t = rng.uniform(-1.0, 1.0, (n, 1))
    theta = np.arccos(cos_t)
    phi = rng.uniform(0, 2 * np.pi, (n, 1))
    return np.concatenate([radius * np.sin(theta) * np.cos(phi), radius * np.sin(theta) * np.sin(phi), radius * np.cos(theta)], axis=1)


def _cluster_sizes(k: int, total: int, rng) -> list[int]:
    draw = rng.integers(0, k, size=total)
    return [int((draw == i).sum()) for i in range(k)]


def _knn(q: np.ndarray, center: np.ndarray, k: int) -> np.ndarray:
    d = ((q - center) ** 2).sum(axis=1)
    k = min(k, len(q))
    return np.argsort(d, kind="stable")[:k]


# --- ModelNet-C ---------------------------------------------------------------------------------

MNC_SCALE = (1.6, 1.7, 1.8, 1.9, 2.0)
MNC_JITTER = (0.01, 0.02, 0.03, 0.04, 0.05)
MNC_ROTATE = tuple(math.pi / 6 * s / 5 for s in range(1, 6))
MNC_DROP_GLOBAL = (0.25, 0.375, 0.5, 0.625, 0.75)
MNC_DROP_LOCAL = (100, 200, 300, 400, 500)
MNC_ADD_GLOBAL = (10, 20, 30, 40, 50)
MNC_ADD_LOCAL = (100, 200, 300, 400, 500)


@register("points", "transform", "modelnet-c", geometric=True, table={"max anisotropic scale": MNC_SCALE})
def scale(points, ann, severity, rng, **_):
    q, c, r = _normalise(points)
    s = MNC_SCALE[severity - 1]
    xyz = rng.uniform(1.0 / s, s, size=3)
    return _finish(points, ann, _unit(q * xyz), np.arange(len(q)), c, r, {"scale": xyz.tolist()})


@register("points", "noise", "modelnet-c", table={"sigma": MNC_JITTER})
def jitter(points, ann, severity, rng, **_):
    q, c, r = _normalise(points)
    s = MNC_JITTER[severity - 1]
    return _finish(points, ann, q + s * rng.standard_normal(q.shape), np.arange(len(q)), c, r, {"sigma": s})


@register("points", "transform", "modelnet-c", geometric=True, table={"max angle (rad)": MNC_ROTATE})
def rotate(points, ann, severity, rng, **_):
    q, c, r = _normalise(points)
    lim = MNC_ROTATE[severity - 1]
    angles = rng.uniform(-lim, lim, size=3)
    return _finish(points, ann, q @ _rotation(angles), np.arange(len(q)), c, r, {"angles": angles.tolist()})


@register("points", "density", "modelnet-c", table={"drop rate": MNC_DROP_GLOBAL})
def dropout_global(points, ann, severity, rng, **_):
    q, c, r = _normalise(points)
    rate = MNC_DROP_GLOBAL[severity - 1]
    keep = max(1, int(len(q) * (1 - rate)))
    src = np.sort(rng.permutation(len(q))[:keep])
    return _finish(points, ann, q[src], src, c, r, {"drop_rate": rate, "kept": int(keep)})


@register("points", "density", "modelnet-c", table={"points dropped (of 1024)": MNC_DROP_LOCAL})
def dropout_local(points, ann, severity, rng, **_):
    """Drop the points nearest to 1-7 random centres, ``100 * severity`` points in all (of 1,024)."""
    q, c, r = _normalise(points)
    total = min(_n(MNC_DROP_LOCAL[severity - 1], len(q)), len(q) - 1)
    k = int(rng.integers(1, 8))
    alive = np.arange(len(q))
    for size in _cluster_sizes(k, total, rng):
        if size <= 0 or len(alive) <= 1:
            continue
        center = q[alive[int(rng.integers(0, len(alive)))]]
        gone = set(alive[_knn(q[alive], center, min(size, len(alive) - 1))].tolist())
        alive = np.array([i for i in alive if i not in gone])
    return _finish(points, ann, q[alive], alive, c, r, {"clusters": k, "dropped": int(len(q) - len(alive))})


@register("points", "noise", "modelnet-c", table={"points added": MNC_ADD_GLOBAL})
def add_global(points, ann, severity, rng, **_):
    """Add ``10 * severity`` points uniformly inside the unit sphere (not scaled with N, as in the paper)."""
    q, c, r = _normalise(points)
    n = MNC_ADD_GLOBAL[severity - 1]
    added = _in_unit_sphere(n, rng)
    src = np.concatenate([np.arange(len(q)), -np.ones(n, dtype=np.int64)])
    return _finish(points, ann, np.concatenate([q, added]), src, c, r, {"added": n})


@register("points", "noise", "modelnet-c", table={"points added (of 1024)": MNC_ADD_LOCAL})
def add_local(points, ann, severity, rng, **_):
    """Add Gaussian clusters (sigma 0.075-0.125) around 1-7 random points, ``100 * severity`` points in all."""
    q, c, r = _normalise(points)
    total = _n(MNC_ADD_LOCAL[severity - 1], len(q))
    k = int(rng.integers(1, 8))
    parts = []
    for size in _cluster_sizes(k, total, rng):
        sigma = rng.uniform(0.075, 0.125)
        center = q[int(rng.integers(0, len(q)))]
        parts.append(center + sigma * rng.standard_normal((size, 3)))
    added = np.concatenate(parts) if parts else np.zeros((0, 3))
    d = (added ** 2).sum(axis=1)
    added[d > 1] = added[d > 1] / d[d > 1, None]  # keep inside the unit sphere, as the paper
    src = np.concatenate([np.arange(len(q)), -np.ones(len(added), dtype=np.int64)])
    return _finish(points, ann, np.concatenate([q, added]), src, c, r, {"clusters": k, "added": int(len(added))})


# --- ModelNet40-C -------------------------------------------------------------------------------

M40_BACKGROUND = (45, 40, 35, 30, 20)  # N // c points
M40_IMPULSE = (30, 25, 20, 15, 10)  # N // c points
M40_UPSAMPLING = (5, 4, 3, 2, 1)  # N // c points
M40_SHEAR = (0.05, 0.1, 0.15, 0.2, 0.25)
M40_FFD = (0.1, 0.2, 0.3, 0.4, 0.5)
M40_CUTOUT = ((2, 30), (3, 30), (5, 30), (7, 30), (10, 30))
M40_DENSITY = ((1, 100), (2, 100), (3, 100), (4, 100), (5, 100))
OCCLUSION_HPR = (3.0, 2.5, 2.0, 1.5, 1.0)  # log10 of the spherical-flip radius (smaller: fewer points seen)
LIDAR_RING_DEG = (1.0, 1.5, 2.0, 2.5, 3.0)
LIDAR_BEAM_DEG = 0.5


@register("points", "noise", "modelnet40-c", table={"points added": [f"N//{c}" for c in M40_BACKGROUND]})
def background_noise(points, ann, severity, rng, **_):
    """Add ``N // c`` points uniformly in the bounding cube [-1, 1]^3."""
    q, c, r = _normalise(points)
    n = len(q) // M40_BACKGROUND[severity - 1]
    added = rng.uniform(-1, 1, (n, 3))
    src = np.concatenate([np.arange(len(q)), -np.ones(n, dtype=np.int64)])
    return _finish(points, ann, _box(np.concatenate([q, added])), src, c, r, {"added": n})


@register("points", "noise", "modelnet40-c", table={"points displaced": [f"N//{c}" for c in M40_IMPULSE]})
def impulse_noise(points, ann, severity, rng, **_):
    """Displace ``N // c`` random points by +-0.1 on each axis."""
    q, c, r = _normalise(points)
    n = len(q) // M40_IMPULSE[severity - 1]
    idx = rng.choice(len(q), n, replace=False)
    q = q.copy()
    q[idx] += rng.choice([-1.0, 1.0], size=(n, 3)) * 0.1
    return _finish(points, ann, _box(q), np.arange(len(q)), c, r, {"displaced": int(n)})


@register("points", "density", "modelnet40-c", table={"points added": [f"N//{c}" for c in M40_UPSAMPLING]})
def upsampling(points, ann, severity, rng, **_):
    """Add ``N // c`` copies of random points jittered by U(-0.05, 0.05); copies keep their labels."""
    q, c, r = _normalise(points)
    n = len(q) // M40_UPSAMPLING[severity - 1]
    idx = rng.choice(len(q), n, replace=False)
    add = q[idx] + rng.uniform(-0.05, 0.05, (n, 3))
    src = np.concatenate([np.arange(len(q)), idx])
    return _finish(points, ann, _box(np.concatenate([q, add])), src, c, r, {"added": int(n)})


@register("points", "transform", "modelnet40-c", geometric=True, table={"shear factor": M40_SHEAR})
def shear(points, ann, severity, rng, **_):
    q, c, r = _normalise(points)
    s = M40_SHEAR[severity - 1]
    # the reference draws six factors (a, b, d, e, f, g) and uses b, d, e, f: draw the same sequence
    _, b, d, e, f, _ = (float(rng.uniform(s - 0.05, s + 0.05) * rng.choice([-1, 1])) for _ in range(6))
    m = np.array([[1, 0, b], [d, 1, e], [f, 0, 1]])
    return _finish(points, ann, _box(q @ m), np.arange(len(q)), c, r, {"matrix": m.tolist()})


def _bernstein(n: int, t: np.ndarray) -> np.ndarray:
    from math import comb

    return np.stack([comb(n, i) * t ** i * (1 - t) ** (n - i) for i in range(n + 1)], axis=1)


@register("points", "transform", "modelnet40-c", geometric=True, table={"control displacement": M40_FFD})
def ffd_distortion(points, ann, severity, rng, **_):
    """Free-form deformation: a 5x5x5 Bernstein lattice over [-1, 1]^3, control points moved by U(-c, c)."""
    q, c, r = _normalise(points)
    s = M40_FFD[severity - 1]
    disp = rng.uniform(-s, s, size=(5, 5, 5, 3))
    t = np.clip((q + 1.0) / 2.0, 0, 1)
    bx, by, bz = _bernstein(4, t[:, 0]), _bernstein(4, t[:, 1]), _bernstein(4, t[:, 2])
    moved = q + 2.0 * np.einsum("ni,nj,nk,ijkd->nd", bx, by, bz, disp)  # displacement in box units (length 2)
    return _finish(points, ann, _unit(moved), np.arange(len(q)), c, r, {"max_displacement": s})


@register("points", "density", "modelnet40-c", table={"(regions, points each of 1024)": M40_CUTOUT})
def cutout(points, ann, severity, rng, **_):
    """Remove the 30 nearest neighbours of ``k`` random points (all of them)."""
    q, c, r = _normalise(points)
    k, m = M40_CUTOUT[severity - 1]
    m = max(1, _n(m, len(q)))
    alive = np.arange(len(q))
    for _ in range(k):
        if len(alive) <= m:
            break
        center = q[alive[int(rng.integers(0, len(alive)))]]
        gone = set(alive[_knn(q[alive], center, m)].tolist())
        alive = np.array([i for i in alive if i not in gone])
    return _finish(points, ann, q[alive], alive, c, r, {"regions": k, "per_region": m})


@register("points", "density", "modelnet40-c", table={"(regions, points each of 1024)": M40_DENSITY})
def density_dec(points, ann, severity, rng, **_):
    """Local density decrease: in ``k`` regions of 100 nearest points, remove three quarters."""
    q, c, r = _normalise(points)
    k, m = M40_DENSITY[severity - 1]
    m = max(4, _n(m, len(q)))
    alive = np.arange(len(q))
    for _ in range(k):
        if len(alive) <= m:
            break
        center = q[alive[int(rng.integers(0, len(alive)))]]
        region = _knn(q[alive], center, m)
        gone = set(alive[region[rng.choice(len(region), int(0.75 * len(region)), replace=False)]].tolist())
        alive = np.array([i for i in alive if i not in gone])
    return _finish(points, ann, q[alive], alive, c, r, {"regions": k, "per_region": m})


@register("points", "density", "modelnet40-c", table={"(regions, points each of 2048)": M40_DENSITY})
def density_inc(points, ann, severity, rng, **_):
    """Local density increase: ``k`` regions keep every point, the rest is thinned to half.

    ModelNet40-C samples a 2,048-point cloud down to 1,024 points except in the regions; with one
    cloud of N points the regions keep all of their points and the output has N // 2 points.
    """
    q, c, r = _normalise(points)
    k, m = M40_DENSITY[severity - 1]
    m = max(1, int(round(m * len(q) / 2048)))
    alive = np.arange(len(q))
    kept = []
    for _ in range(k):
        if len(alive) <= m:
            break
        center = q[alive[int(rng.integers(0, len(alive)))]]
        region = alive[_knn(q[alive], center, m)]
        kept.extend(region.tolist())
        gone = set(region.tolist())
        alive = np.array([i for i in alive if i not in gone])
    rest = max(0, len(q) // 2 - len(kept))
    if rest and len(alive):
        kept.extend(rng.choice(alive, min(rest, len(alive)), replace=False).tolist())
    src = np.sort(np.asarray(kept, dtype=np.int64))
    return _finish(points, ann, q[src], src, c, r, {"regions": k, "per_region": m})


def _visible(q: np.ndarray, cam: np.ndarray, log_radius: float) -> np.ndarray:
    """Hidden-point removal (Katz, Tal, Basri 2007): indices of points seen from ``cam``."""
    from scipy.spatial import ConvexHull, QhullError

    p = q - cam
    norm = np.linalg.norm(p, axis=1, keepdims=True)
    norm = np.maximum(norm, 1e-12)
    R = norm.max() * (10.0 ** log_radius)
    flipped = p + 2 * (R - norm) * p / norm
    try:
        hull = ConvexHull(np.vstack([flipped, np.zeros((1, 3))]))
    except QhullError:
        return np.arange(len(q))
    v = hull.vertices
    return np.sort(v[v < len(q)])


def _random_camera(rng, distance: float = 3.0) -> np.ndarray:
    v = rng.standard_normal(3)
    return distance * v / np.linalg.norm(v)


@register("points", "occlusion", "modelnet40-c", table={"log10 HPR radius": OCCLUSION_HPR})
def occlusion(points, ann, severity, rng, **_):
    """Keep the points visible from a random viewpoint at distance 3 (self-occlusion)."""
    q, c, r = _normalise(points)
    cam = _random_camera(rng)
    src = _visible(q, cam, OCCLUSION_HPR[severity - 1])
    return _finish(points, ann, q[src], src, c, r, {"camera": cam.tolist(), "visible": int(len(src))})


@register("points", "occlusion", "modelnet40-c", table={"ring spacing (deg)": LIDAR_RING_DEG})
def lidar(points, ann, severity, rng, **_):
    """LiDAR-like resampling: visible points from a random viewpoint, kept only near scan rings.

    Elevation angles (seen from the sensor) are binned every ``delta`` degrees (1 degree in
    ModelNet40-C; 1 to 3 here, by severity); points within a 0.5-degree beam around each ring are
    kept and snapped onto it, the rest are dropped.
    """
    q, c, r = _normalise(points)
    cam = _random_camera(rng)
    vis = _visible(q, cam, 2.0)
    p = q[vis] - cam
    rho = np.linalg.norm(p, axis=1)
    up = np.array([0.0, 0.0, 1.0])
    horiz = np.sqrt(np.maximum(rho ** 2 - (p @ up) ** 2, 0))
    elev = np.arctan2(p @ up, horiz)
    delta = math.radians(LIDAR_RING_DEG[severity - 1])
    offset = float(rng.uniform(0, delta))
    pos = (elev - elev.min() + offset) / delta
    frac = pos - np.floor(pos)
    keep = np.abs(frac - 0.5) * delta < math.radians(LIDAR_BEAM_DEG) / 2  # a beam 0.5 degrees wide on each ring
    ring = (np.floor(pos[keep]) + 0.5) * delta + elev.min() - offset
    pk = p[keep]
    az = np.arctan2(pk[:, 1], pk[:, 0])
    rr = rho[keep]
    snapped = np.stack([rr * np.cos(ring) * np.cos(az), rr * np.cos(ring) * np.sin(az), rr * np.sin(ring)], axis=1) + cam
    src = vis[keep]
    if len(src) == 0:  # degenerate: keep the visible points
        src, snapped = vis, q[vis]
    return _finish(points, ann, snapped, src, c, r, {"camera": cam.tolist(), "ring_deg": LIDAR_RING_DEG[severity - 1], "kept": int(len(src))})
