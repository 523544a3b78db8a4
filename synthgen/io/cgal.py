"""Real 3D shapes from Debian's ``libcgal-demo``: meshes and point sets grouped into a few classes.

The package ships CGAL's test data as ``/usr/share/doc/libcgal-dev/data.tar.gz`` (``dpkg -L
libcgal-demo``): about 150 meshes under ``data/meshes`` (.off, a few .ply/.stl) and 35 point sets under
``data/points_3`` (.xyz/.pwn text, .ply).  They are real models (scans and CAD parts collected by the
CGAL project), read straight from the archive; nothing is extracted or downloaded.

The default classes (:data:`CLASSES`) group files by what their names say they are; this grouping is
ours, not CGAL's: ``animal`` (17 animal models), ``mechanical`` (16 CAD parts), ``sphere`` (12
spheres, geodesic spheres and ellipsoids) and ``box`` (10 cubes and boxes).  Override with
``classes: {name: [archive paths]}``.

Each file gives ``samples_per_shape`` clouds of ``n_points`` points: meshes are sampled uniformly on
their surface, point sets are subsampled (with repeats only when they have fewer points); copy ``k``
of a file is turned about z by a random angle.  Randomness comes from ``derived_seed(seed, path, k)``.
``normalize: true`` centres each cloud and scales it into the unit sphere (the featurizer's
convention).  Copies of one shape are near-duplicates, so a real-versus-real split of such a class is
optimistic; ``meta["shape"]`` (and ``meta["group"]``, which cross-fitting keeps in one fold) names the
source file for group-aware splits.
"""
from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import numpy as np

from ..dataset import Dataset
from ..errors import ConfigError, DatasetError
from ..sample import Sample
from ..seeding import derived_seed

ARCHIVE = "/usr/share/doc/libcgal-dev/data.tar.gz"

_M, _P = "data/meshes/", "data/points_3/"
CLASSES: dict[str, list[str]] = {
    "animal": [_M + f for f in ("bear.off", "bull.off", "camel.off", "cow.off", "dino.off", "elephant.off", "elk.off", "pig.off",
                                "lion.off", "triceratops.off", "diplodocus.off", "ChineseDragon-10kv.off", "bunny00.off",
                                "armadillo.off")]
              + [_P + f for f in ("hippo1.ply", "hippo2.ply", "kitten.xyz")],
    "mechanical": [_M + f for f in ("anchor.off", "blade.off", "couplingdown.off", "fandisk.off", "joint.off", "part.off",
                                    "pinion.off", "rotor.off", "spool.off", "turbine.off", "dragknob.off", "itemb.off",
                                    "handle.off", "mech-holes-shark.off", "b9_mesh.off", "ALSTOM_TEST4.off")],
    "sphere": [_M + f for f in ("sphere.off", "sphere966.off", "larger_sphere.off", "geosphere.off", "ellipsoid.off",
                                "ellipe0.003.off", "icosahedron.off", "sphere.ply", "sphere.stl")]
              + [_P + f for f in ("sphere_20k.xyz", "sphere926.pwn", "sphere_20k_normal.xyz")],
    "box": [_M + f for f in ("cube.off", "cube-meshed.off", "cube-shuffled.off", "small_cube.off", "translated-cube.off",
                             "cube_quad.off", "cheese-box.off", "fandisk-box.off", "horizons-domain.off")]
           + [_P + "cube.pwn"],
}


def _read_members(source: Path, names: set[str]) -> dict[str, bytes]:
    if source.is_dir():
        out = {}
        for n in names:
            p = source / n
            if not p.exists():
                raise DatasetError(f"{p}: not found in the CGAL data folder")
            out[n] = p.read_bytes()
        return out
    try:
        with tarfile.open(source, "r:*") as tf:
            out = {}
            for m in tf:
                if m.name in names and m.isfile():
                    f = tf.extractfile(m)
                    out[m.name] = f.read() if f else b""
    except (tarfile.TarError, OSError) as e:
        raise DatasetError(f"{source}: cannot read the archive ({e})") from None
    missing = sorted(names - set(out))
    if missing:
        raise DatasetError(f"{source}: has no member '{missing[0]}'")
    return out


def _xyz(data: bytes, name: str) -> np.ndarray:
    rows = []
    for line in data.decode("latin-1").splitlines():
        f = line.split()
        if len(f) >= 3:
            try:
                rows.append([float(f[0]), float(f[1]), float(f[2])])
            except ValueError:
                continue
    if not rows:
        raise DatasetError(f"{name}: no x y z rows")
    return np.asarray(rows, dtype=np.float64)


_CACHE: dict[tuple[str, str], tuple[np.ndarray, np.ndarray | None]] = {}


def load_shape(name: str, data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """(vertices or points, triangles or None) of one CGAL data file (parsed once per process)."""
    import hashlib

    key = (name, hashlib.sha1(data).hexdigest())
    if key not in _CACHE:
        _CACHE[key] = _load_shape(name, data)
    return _CACHE[key]


def _load_shape(name: str, data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    from synthgen.generators.points.geometry import read_off

    ext = Path(name).suffix.lower()
    if ext in (".xyz", ".pwn"):
        return _xyz(data, name), None
    if ext == ".off":
        v, t = read_off(data, name)
        return v, (t if len(t) else None)
    if ext in (".ply", ".stl"):
        import open3d as o3d

        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / Path(name).name
            p.write_bytes(data)
            m = o3d.io.read_triangle_mesh(str(p)) if ext == ".stl" or b"element face" in data[:2000] else None
            if m is not None and len(m.triangles):
                return np.asarray(m.vertices, dtype=np.float64), np.asarray(m.triangles, dtype=np.int64)
            pc = o3d.io.read_point_cloud(str(p))
            pts = np.asarray(pc.points, dtype=np.float64)
        if len(pts) == 0:
            raise DatasetError(f"{name}: no points")
        return pts, None
    raise DatasetError(f"{name}: unsupported file type {ext}")


def read_cgal(classes: dict[str, list[str]] | None = None, n_points: int = 2048, samples_per_shape: int = 1,
              seed: int = 0, normalize: bool = True, source: str = ARCHIVE) -> Dataset:
    from synthgen.config import plain
    from synthgen.generators.points.geometry import normalize_unit_sphere, resample, rotation_z, sample_uniform

    src = Path(str(source)).expanduser()
    if not src.exists():
        raise DatasetError(f"{src}: CGAL data not found (install Debian's libcgal-demo, or set dataset.source)")
    cls = plain(classes) if classes is not None else CLASSES
    if not isinstance(cls, dict) or not cls:
        raise ConfigError("dataset.classes: must map class names to lists of CGAL data files")
    if int(n_points) < 1 or int(samples_per_shape) < 1:
        raise ConfigError("dataset.n_points/samples_per_shape: must be >= 1")
    names = {f for files in cls.values() for f in files}
    blobs = _read_members(src, names)
    samples = []
    for label, files in cls.items():
        for f in files:
            v, t = load_shape(f, blobs[f])
            for k in range(int(samples_per_shape)):
                rng = np.random.default_rng(derived_seed(seed, "cgal", f, k))
                if t is not None:
                    pts, _ = sample_uniform(v, t, int(n_points), rng)
                else:
                    pts = v[resample(len(v), int(n_points), rng)]
                pts = (pts - pts.mean(axis=0)) @ rotation_z(float(rng.uniform(0, 2 * np.pi))).T
                if normalize:
                    pts, _, _ = normalize_unit_sphere(pts)
                sid = f"cgal:{Path(f).name}#{k}"
                samples.append(Sample(sid, pts.astype(np.float32), str(label), {}, modality="points",
                                      meta={"file": f, "shape": f, "group": f, "raw_points": int(len(v)) if t is None else None}))
    return Dataset(samples, [str(c) for c in cls], f"{src} (CGAL data)", "cgal", "points", "classification",
                   {"files": {str(k): list(v) for k, v in cls.items()}})
