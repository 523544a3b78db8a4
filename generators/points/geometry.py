"""Geometry shared by the point-cloud generators, readers and featurizer (numpy first, open3d for meshes).

* Surface sampling is done here in numpy, not with open3d's ``sample_points_uniformly`` /
  ``sample_points_poisson_disk``: those draw from open3d's process-global random engine
  (``o3d.utility.random.seed``), which one sample cannot own, so per-sample seeding would depend on
  call order and threads.  ``sample_surface`` draws from the sample's own ``numpy.random.Generator``;
  Poisson-disk sampling is a batched form of Yuksel's weighted sample elimination (the algorithm
  open3d implements) over a 4x uniform over-sample.
* Shapes: open3d primitives (box, sphere, cylinder, cone, torus), YAML composites of them, and user
  meshes (``.ply``, ``.obj``, ``.off``, ``.stl``) read with open3d.
* 3D boxes ``{"center": [x, y, z], "size": [l, w, h], "yaw"}``: ``l`` along the object's x axis
  after rotating by ``yaw`` about +z.  ``points_in_box`` is the one containment test used by the
  generators and the tests.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import ConfigError, DatasetError

PRIMITIVES = ("box", "sphere", "cylinder", "cone", "torus")
MESH_EXTENSIONS = (".ply", ".obj", ".off", ".stl")

# --- parameters ----------------------------------------------------------------------------------


def draw(value: Any, rng: np.random.Generator, key: str) -> float:
    """A number, or ``[lo, hi]`` drawn uniformly."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(f"{key}: expected a number or [low, high], got {list(value)}")
        lo, hi = float(value[0]), float(value[1])
        if hi < lo:
            raise ConfigError(f"{key}: low > high in {list(value)}")
        return float(rng.uniform(lo, hi)) if hi > lo else lo
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number or [low, high], got {value!r}") from None


def rotation_z(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_xyz(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix from Euler angles in radians (applied x, then y, then z)."""
    cx, sx, cy, sy = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return rotation_z(rz) @ Ry @ Rx


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation (QR of a Gaussian matrix with sign fix)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


# --- meshes --------------------------------------------------------------------------------------

def primitive_mesh(kind: str, params: dict[str, Any], rng: np.random.Generator, key: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(vertices, triangles, sampled params) of an open3d primitive, centred at the origin."""
    import open3d as o3d

    p = dict(params or {})
    res = int(p.pop("resolution", 20))
    got: dict[str, float] = {}

    def g(name: str, default: Any) -> float:
        got[name] = draw(p.pop(name, default), rng, f"{key}.{name}")
        if got[name] <= 0:
            raise ConfigError(f"{key}.{name}: must be > 0, got {got[name]}")
        return got[name]

    T = o3d.geometry.TriangleMesh
    if kind == "box":
        m = T.create_box(g("width", 1.0), g("height", 1.0), g("depth", 1.0))
    elif kind == "sphere":
        m = T.create_sphere(g("radius", 1.0), resolution=res)
    elif kind == "cylinder":
        m = T.create_cylinder(g("radius", 1.0), g("height", 2.0), resolution=res, split=max(1, res // 5))
    elif kind == "cone":
        m = T.create_cone(g("radius", 1.0), g("height", 2.0), resolution=res, split=max(1, res // 5))
    elif kind == "torus":
        m = T.create_torus(g("torus_radius", 1.0), g("tube_radius", 0.3), radial_resolution=res, tubular_resolution=max(6, res // 2))
    else:
        raise ConfigError(f"{key}.primitive: unknown primitive {kind!r} (choose from {', '.join(PRIMITIVES)})")
    if p:
        raise ConfigError(f"{key}.{sorted(p)[0]}: unknown parameter for primitive '{kind}'")
    v = np.asarray(m.vertices, dtype=np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    v = v - (lo + hi) / 2.0
    return v, np.asarray(m.triangles, dtype=np.int64), got


@lru_cache(maxsize=64)
def _read_mesh_cached(path: str, mtime: float) -> tuple[np.ndarray, np.ndarray]:
    if path.lower().endswith(".off"):
        return read_off(Path(path).read_bytes(), path)
    import open3d as o3d

    m = o3d.io.read_triangle_mesh(path)
    v, t = np.asarray(m.vertices, dtype=np.float64), np.asarray(m.triangles, dtype=np.int64)
    if len(v) == 0 or len(t) == 0:
        raise DatasetError(f"{path}: not a readable triangle mesh (no vertices or faces)")
    return v, t


def read_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, triangles) of a .ply/.obj/.off/.stl mesh; errors name the file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"{p}: mesh file not found")
    if p.suffix.lower() not in MESH_EXTENSIONS:
        raise DatasetError(f"{p}: unsupported mesh extension (use {', '.join(MESH_EXTENSIONS)})")
    v, t = _read_mesh_cached(str(p.resolve()), p.stat().st_mtime)
    return v.copy(), t.copy()


def read_off(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A small OFF parser (polygons fan-triangulated; colours and comments ignored)."""
    toks: list[str] = []
    for line in data.decode("latin-1").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            toks.append(line)
    if not toks or not toks[0].upper().endswith("OFF"):
        raise DatasetError(f"{name}: not an OFF file")
    head = toks[0].split()
    rest = head[1:] + [] if len(head) > 1 else []
    lines = ([" ".join(rest)] if rest else []) + toks[1:]
    try:
        nv, nf = (int(x) for x in lines[0].split()[:2])
        vrows = lines[1 : 1 + nv]
        flat = np.array(" ".join(vrows).split(), dtype=np.float64)
        if len(vrows) != nv:
            raise IndexError
        v = flat.reshape(nv, -1)[:, :3] if nv and flat.size % nv == 0 else np.array(
            [[float(x) for x in r.split()[:3]] for r in vrows], dtype=np.float64).reshape(-1, 3)
        frows = lines[1 + nv : 1 + nv + nf]
        if len(frows) != nf:
            raise IndexError
        tris: list = []
        ftok = [r.split() for r in frows]
        if ftok and all(f[0] == "3" for f in ftok):
            tris = np.array([f[1:4] for f in ftok], dtype=np.int64)
        else:
            for f in ftok:
                k = int(f[0])
                idx = [int(x) for x in f[1 : 1 + k]]
                for j in range(1, k - 1):
                    tris.append((idx[0], idx[j], idx[j + 1]))
    except (IndexError, ValueError):
        raise DatasetError(f"{name}: truncated or malformed OFF file") from None
    t = np.array(tris, dtype=np.int64).reshape(-1, 3)
    if len(t) and (t.max() >= nv or t.min() < 0):
        raise DatasetError(f"{name}: face refers to a vertex that does not exist")
    return v, t


# --- sampling ------------------------------------------------------------------------------------

def triangle_areas(v: np.ndarray, t: np.ndarray) -> np.ndarray:
    a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def surface_covariance(v: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, covariance)`` of a point drawn uniformly from the surface of mesh ``(v, t)``, exactly
    (per triangle: the integral of x x^T is area / 12 * (sum of v_i v_i^T + s s^T), s = v_0 + v_1 + v_2)."""
    tri = np.asarray(v, np.float64)[np.asarray(t)]
    area = triangle_areas(v, t)
    total = float(area.sum())
    if total <= 0:
        raise ValueError("mesh has no surface area")
    ssum = tri.sum(axis=1)
    mean = (area[:, None] * ssum).sum(axis=0) / (3.0 * total)
    second = (np.einsum("k,kij,kil->jl", area, tri, tri) + np.einsum("k,kj,kl->jl", area, ssum, ssum)) / (12.0 * total)
    return mean, second - np.outer(mean, mean)


def sample_uniform(v: np.ndarray, t: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniformly on the surface (area-weighted triangles, uniform barycentrics) and their normals."""
    areas = triangle_areas(v, t)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise DatasetError("mesh has no surface area (degenerate triangles only)")
    cdf = np.cumsum(areas) / total
    tri = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(t) - 1)
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    w0, w1, w2 = 1.0 - s, s * (1.0 - r2), s * r2
    a, b, c = v[t[tri, 0]], v[t[tri, 1]], v[t[tri, 2]]
    pts = w0[:, None] * a + w1[:, None] * b + w2[:, None] * c
    nrm = np.cross(b - a, c - a)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    return pts, nrm


def sample_elimination(points: np.ndarray, n: int, area: float | None = None) -> np.ndarray:
    """Indices of ``n`` well-spread points of ``points`` by weighted sample elimination.

    Yuksel (2015), the algorithm behind open3d's ``sample_points_poisson_disk``, removes the point of
    highest weight ``sum_j (1 - d_ij / 2r)^8`` one at a time.  This is its batched form: each round
    removes every live point whose weight is a strict local maximum among its live neighbours
    (highest weights first, ties by index), then updates the neighbours' weights in one vectorised
    step.  Weights are summed over neighbours closer than ``r_max`` (not ``2 r_max``): the terms cut
    off are below (1/2)^8 and the neighbour graph is four times smaller.  ``area`` is the surface area
    (default: the bounding box's, as open3d does).  Deterministic for a given input.
    """
    from scipy.spatial import cKDTree

    m = len(points)
    if n >= m:
        return np.arange(m)
    lo, hi = points.min(axis=0), points.max(axis=0)
    ext = np.maximum(hi - lo, 1e-12)
    # r_max for n points on a surface of the bounding box's area (as open3d does)
    if area is None:
        area = 2.0 * (ext[0] * ext[1] + ext[1] * ext[2] + ext[0] * ext[2])
    rmax = 2.0 * math.sqrt(area / (2.0 * math.sqrt(3.0) * n))
    pairs = cKDTree(points).query_pairs(rmax, output_type="ndarray")
    d = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)
    wpair = (1.0 - np.minimum(d, 2.0 * rmax) / (2.0 * rmax)) ** 8
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    ww = np.concatenate([wpair, wpair])
    weight = np.bincount(src, weights=ww, minlength=m)
    alive = np.ones(m, dtype=bool)
    left = m
    while left > n:
        live = alive[src] & alive[dst]
        s_, d_ = src[live], dst[live]
        beats = (weight[d_] > weight[s_]) | ((weight[d_] == weight[s_]) & (d_ > s_))
        dominated = np.zeros(m, dtype=bool)
        dominated[s_[beats]] = True
        cand = np.flatnonzero(alive & ~dominated)
        if np.any(weight[cand] > 0):
            cand = cand[weight[cand] > 0]
        cand = cand[np.argsort(-weight[cand], kind="stable")][: left - n]
        alive[cand] = False
        left -= len(cand)
        gone = ~alive[src] & alive[dst] & live
        weight -= np.bincount(dst[gone], weights=ww[gone], minlength=m)
        keep = alive[src] & alive[dst]
        src, dst, ww = src[keep], dst[keep], ww[keep]
    return np.flatnonzero(alive)


def sample_surface(v: np.ndarray, t: np.ndarray, n: int, rng: np.random.Generator, method: str = "uniform",
                   oversample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    if method == "uniform":
        return sample_uniform(v, t, n, rng)
    if method == "poisson":
        p, nr = sample_uniform(v, t, n * oversample, rng)
        keep = sample_elimination(p, n, float(triangle_areas(v, t).sum()))
        return p[keep], nr[keep]
    raise ConfigError(f"generator.sampling: must be 'uniform' or 'poisson', got {method!r}")


def resample(n_have: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices giving exactly ``n`` points: without replacement when possible, else with."""
    if n_have <= 0:
        raise DatasetError("cannot resample an empty point cloud")
    if n_have >= n:
        return np.sort(rng.choice(n_have, size=n, replace=False))
    extra = rng.choice(n_have, size=n - n_have, replace=True)
    return np.concatenate([np.arange(n_have), extra])


def normalize_unit_sphere(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """ModelNet convention: centre on the centroid, scale so the farthest point is at distance 1."""
    c = points.mean(axis=0)
    q = points - c
    r = float(np.sqrt((q ** 2).sum(axis=1).max())) if len(q) else 1.0
    r = r if r > 0 else 1.0
    return q / r, c, r


def hidden_point_removal(points: np.ndarray, camera: np.ndarray, radius_factor: float = 100.0) -> np.ndarray:
    """Indices of the points visible from ``camera`` (Katz et al. 2007, open3d's implementation)."""
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64)))
    diameter = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    _, idx = pc.hidden_point_removal(np.asarray(camera, dtype=np.float64), diameter * float(radius_factor))
    return np.sort(np.asarray(idx, dtype=np.int64))


# --- shapes from YAML ----------------------------------------------------------------------------

def build_shape(spec: dict[str, Any], rng: np.random.Generator, key: str, base_dir: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """A mesh from one shape spec; returns (vertices, triangles, sampled params).

    Spec forms::

        {primitive: sphere, radius: [0.8, 1.2]}
        {parts: [{primitive: box, width: 2, ...}, {primitive: sphere, radius: 0.3, offset: [0, 0, 1],
                  rotation: [0, 90, 0]}]}                       # a composite; rotation in degrees
        {meshes: /path/to/folder_or_file}                       # one user mesh per sample
    """
    if not isinstance(spec, dict):
        raise ConfigError(f"{key}: a shape must be a mapping (primitive:, parts: or meshes:)")
    forms = [k for k in ("primitive", "parts", "meshes") if k in spec]
    if len(forms) != 1:
        raise ConfigError(f"{key}: give exactly one of primitive:, parts:, meshes:")
    if "primitive" in spec:
        p = {k: v for k, v in spec.items() if k not in ("primitive", "offset", "rotation")}
        v, t, got = primitive_mesh(str(spec["primitive"]), p, rng, key)
        return v, t, {"primitive": spec["primitive"], **{k: round(x, 5) for k, x in got.items()}}
    if "parts" in spec:
        parts = spec["parts"]
        if not isinstance(parts, list) or not parts:
            raise ConfigError(f"{key}.parts: must be a non-empty list")
        vs, ts, info, off = [], [], [], 0
        for j, part in enumerate(parts):
            pk = f"{key}.parts[{j}]"
            if not isinstance(part, dict) or "primitive" not in part:
                raise ConfigError(f"{pk}: each part needs a primitive")
            v, t, got = build_shape(part, rng, pk, base_dir)
            rot = [math.radians(draw(a, rng, f"{pk}.rotation")) for a in part.get("rotation", [0, 0, 0])]
            if len(rot) != 3:
                raise ConfigError(f"{pk}.rotation: expected [rx, ry, rz] in degrees")
            o = [draw(a, rng, f"{pk}.offset") for a in part.get("offset", [0, 0, 0])]
            if len(o) != 3:
                raise ConfigError(f"{pk}.offset: expected [x, y, z]")
            v = v @ rotation_xyz(*rot).T + np.asarray(o)
            vs.append(v)
            ts.append(t + off)
            off += len(v)
            info.append(got)
        return np.concatenate(vs), np.concatenate(ts), {"parts": info}
    files = mesh_files(spec["meshes"], key + ".meshes", base_dir)
    f = files[int(rng.integers(len(files)))]
    v, t = read_mesh(f)
    return v, t, {"mesh": Path(f).name}


def mesh_files(where: Any, key: str, base_dir: str | None = None) -> list[str]:
    items = where if isinstance(where, list) else [where]
    out: list[str] = []
    for it in items:
        p = Path(str(it)).expanduser()
        if not p.is_absolute() and base_dir:
            p = Path(base_dir) / p
        if p.is_dir():
            out.extend(sorted(str(q) for q in p.rglob("*") if q.suffix.lower() in MESH_EXTENSIONS))
        elif p.exists():
            out.append(str(p))
        else:
            raise ConfigError(f"{key}: {p} does not exist")
    if not out:
        raise ConfigError(f"{key}: no meshes ({', '.join(MESH_EXTENSIONS)}) found in {where}")
    return out


# --- boxes ---------------------------------------------------------------------------------------

def points_in_box(points: np.ndarray, center, size, yaw: float, eps: float = 0.0) -> np.ndarray:
    """Boolean mask of the points inside the oriented box (grown by ``eps`` on every side)."""
    q = np.asarray(points, dtype=np.float64) - np.asarray(center, dtype=np.float64)
    c, s = math.cos(yaw), math.sin(yaw)
    lx = q[:, 0] * c + q[:, 1] * s
    ly = -q[:, 0] * s + q[:, 1] * c
    half = np.asarray(size, dtype=np.float64) / 2.0 + eps
    return (np.abs(lx) <= half[0]) & (np.abs(ly) <= half[1]) & (np.abs(q[:, 2]) <= half[2])


def bev_corners(center, size, yaw: float) -> np.ndarray:
    l, w = size[0] / 2.0, size[1] / 2.0
    loc = np.array([[l, w], [-l, w], [-l, -w], [l, -w]])
    c, s = math.cos(yaw), math.sin(yaw)
    R = np.array([[c, -s], [s, c]])
    return loc @ R.T + np.asarray(center[:2], dtype=np.float64)


def bev_overlap(a: dict, b: dict, clearance: float = 0.0) -> bool:
    """Do two boxes' bird's-eye-view rectangles (each grown by clearance/2) overlap? (separating axes)"""
    ca = bev_corners(a["center"], np.asarray(a["size"]) + clearance, a["yaw"])
    cb = bev_corners(b["center"], np.asarray(b["size"]) + clearance, b["yaw"])
    for poly in (ca, cb):
        for i in range(4):
            e = poly[(i + 1) % 4] - poly[i]
            axis = np.array([-e[1], e[0]])
            pa, pb = ca @ axis, cb @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def ray_box_entry(directions: np.ndarray, origin, center, size, yaw: float) -> np.ndarray:
    """Distance along each unit ray from ``origin`` to where it enters the box (inf if it misses)."""
    c, s = math.cos(yaw), math.sin(yaw)
    R = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # world -> box
    o = R @ (np.asarray(origin, dtype=np.float64) - np.asarray(center, dtype=np.float64))
    d = directions @ R.T
    half = np.asarray(size, dtype=np.float64) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (-half - o) * inv
        t2 = (half - o) * inv
    tmin = np.nanmax(np.minimum(t1, t2), axis=1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=1)
    hit = (tmax >= np.maximum(tmin, 0.0))
    return np.where(hit, np.maximum(tmin, 0.0), np.inf)
