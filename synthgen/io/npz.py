"""Classification sets as one NumPy archive: ``out/points.npz`` plus ``manifest.jsonl``.

Arrays in ``points.npz``: ``points`` (S, N, 3) float32, the same ``N`` for every cloud (as PointNet-
style loaders expect); ``labels`` (S,) int64 indices into ``classes`` (C,) str; ``ids`` (S,) str; and
``normals`` (S, N, 3) float32 when every sample has normals.  Load it with ``np.load`` alone.

Clouds of different sizes are an error naming the first odd sample unless ``n_points`` is given; then
each cloud is resampled to ``n_points`` (without replacement when it has enough points, else every
point plus repeats), with an RNG derived from the sample id, so the output is reproducible.

The archive is written with fixed zip timestamps so the same samples give byte-identical files
(``np.savez`` stamps the current time).  Manifest lines name ``points.npz#<row>``; their ``sha256`` is
the hash of that row's float32 point bytes.
"""
from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

from ..dataset import Dataset
from ..errors import DatasetError
from ..sample import Sample
from ..seeding import derived_seed
from .common import atomic_dir, check_label, malformed, sha256_bytes
from .paths import inside_root
from .manifest import MANIFEST, read_manifest, record, sample_from_record, write_manifest
from .ply import check_finite, check_points, join_annotations, summary_annotations

ARCHIVE = "points.npz"


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, buf.getvalue())


def write_npz(samples: Iterable[Sample], classes: list[str], out: str, n_points: int | None = None,
              overwrite: bool = False, extra=None) -> Path:
    samples = list(samples)
    out_path = Path(out)
    if not samples:
        raise DatasetError(f"{out_path}: no samples to write")
    cls = list(classes) + sorted({s.label for s in samples} - set(classes))
    clouds, normals, recs = [], [], []
    for s in samples:
        p = check_points(s)
        nr = s.annotations.get("normals")
        if n_points is not None and len(p) != int(n_points):
            from synthgen.generators.points.geometry import resample

            idx = resample(len(p), int(n_points), np.random.default_rng(derived_seed(0, "npz-resample", s.id)))
            p = p[idx]
            nr = None if nr is None else np.asarray(nr)[idx]
        if clouds and len(p) != len(clouds[0]):
            raise DatasetError(f"sample {s.id}: {len(p)} points, but the first sample has {len(clouds[0])}; "
                               f"npz needs one point count (set n_points to resample)")
        clouds.append(p)
        normals.append(None if nr is None else np.asarray(nr, dtype=np.float32))
    arrays = {
        "points": np.stack(clouds).astype(np.float32),
        "labels": np.array([cls.index(s.label) for s in samples], dtype=np.int64),
        "classes": np.array(cls, dtype=str),
        "ids": np.array([s.id for s in samples], dtype=str),
    }
    if all(n is not None for n in normals):
        arrays["normals"] = np.stack(normals).astype(np.float32)
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        _save_npz(tmp / ARCHIVE, arrays)
        for i, s in enumerate(samples):
            r = record(s, f"{ARCHIVE}#{i}", sha256_bytes(arrays["points"][i].tobytes()), **(extra(s) if extra else {}))
            ann = summary_annotations(Sample(s.id, clouds[i], s.label, {k: v for k, v in s.annotations.items()
                                                                         if k == "label_names" or k == "boxes3d"}))
            ann["point_fields"] = ["normals"] if "normals" in arrays else []
            r["annotations"] = ann
            recs.append(r)
        write_manifest(tmp / MANIFEST, recs)
    return out_path


def _check_members(f: Path) -> None:
    """Each array's header must fit in its zip member: checked before numpy allocates what it claims."""
    with zipfile.ZipFile(f) as z:
        for info in z.infolist():
            with z.open(info) as fh:
                major, _ = np.lib.format.read_magic(fh)
                if major not in (1, 2):
                    continue  # np.load judges other versions
                read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(fh)
                need, have = math.prod(shape) * dtype.itemsize, info.file_size - fh.tell()
                if need > have:
                    raise DatasetError(f"{f}: array {info.filename} declares shape {shape} ({need} bytes) but holds {have} bytes "
                                       "(truncated or corrupt)")


def read_npz(path: str, follow_symlinks: bool = False) -> Dataset:
    """Read ``points.npz`` (a folder holding it, or the file) with its ``manifest.jsonl``.

    Array shapes are checked against the archive before loading; NaN/inf coordinates and empty class
    names are refused, and so are symbolic links out of the folder unless ``follow_symlinks``.
    """
    p = Path(path).expanduser()
    root = p if p.is_dir() else p.parent
    f = inside_root(root, p / ARCHIVE, follow_symlinks) if p.is_dir() else p
    if not f.exists():
        raise DatasetError(f"{f}: npz archive not found")
    try:
        _check_members(f)
        with np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except DatasetError:
        raise
    except Exception as e:  # zipfile and numpy raise many types for corrupt archives
        raise DatasetError(f"{f}: not a readable npz archive ({type(e).__name__}: {e})") from None
    for k in ("points", "labels", "classes"):
        if k not in arrays:
            raise DatasetError(f"{f}: missing array '{k}'")
    pts, labels, cls = arrays["points"], arrays["labels"], arrays["classes"]
    if pts.ndim != 3 or pts.shape[2] != 3 or pts.dtype.kind not in "fiu" or labels.shape != (len(pts),) or labels.dtype.kind not in "iu":
        raise DatasetError(f"{f}: 'points' must be numbers of shape (S, N, 3) with one integer label per cloud")
    if cls.ndim != 1 or cls.dtype.kind != "U":
        raise DatasetError(f"{f}: 'classes' must be a list of names")
    classes = [check_label(c, f"{f}: classes[{i}]") for i, c in enumerate(cls.tolist())]
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DatasetError(f"{f}: a label index is outside 0..{len(classes) - 1}")
    for k, shape in (("ids", (len(pts),)), ("normals", pts.shape)):
        if k in arrays and arrays[k].shape != shape:
            raise DatasetError(f"{f}: '{k}' has shape {arrays[k].shape}, expected {shape}")
    ids = [str(i) for i in arrays["ids"]] if "ids" in arrays else [f"{f.stem}-{i:06d}" for i in range(len(pts))]
    man = f.parent / MANIFEST
    recs = {r["file"]: r for r in read_manifest(inside_root(root, man, follow_symlinks))} if man.exists() else {}
    samples = []
    for i in range(len(pts)):
        cloud = check_finite(pts[i].astype(np.float32), f"{f}: row {i}")
        per = {"normals": arrays["normals"][i]} if "normals" in arrays else {}
        r = recs.get(f"{f.name}#{i}")
        if r is not None:
            where = f"{man}: sample {r['id']}"
            s = sample_from_record(r, cloud, modality="points", where=where)
            with malformed(where):
                s.annotations = join_annotations(r.get("annotations") or {}, per)
        else:
            s = Sample(ids[i], cloud, classes[int(labels[i])], per, modality="points", meta={"file": f"{f.name}#{i}"})
        if s.label != classes[int(labels[i])]:
            raise DatasetError(f"{f}: row {i} has class '{classes[int(labels[i])]}' but {MANIFEST} says '{s.label}'")
        samples.append(s)
    return Dataset(samples, classes, str(f.parent if p.is_file() else p), "npz", "points", "classification")
