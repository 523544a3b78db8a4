"""PLY and PCD point clouds with per-point labels: one file per sample, ``<out>/<class folder>/<id>.ply``
(the folder is the label when that is a plain name, else a safe encoded name: :mod:`synthgen.io.paths`).

Written and read with open3d's tensor API (``o3d.t.io``): positions as float32 ``x y z``, per-point
int32 ``label`` (semantic class index into the sample's ``label_names``) and int32 ``instance``
(-1 = none), plus ``nx ny nz`` normals and float32 ``intensity`` when the sample has them.  The
files open in open3d (and CloudCompare, PCL) with those fields.

``manifest.jsonl`` (one line per sample) keeps everything else: id, label, provenance and a short
annotation summary (``boxes3d``, ``label_names``, ``num_points``, per-class point counts and which
per-point fields the file holds).  Large per-point arrays live only in the point files; reading a
dataset joins the two back into the in-memory annotations.  Without a manifest, the class is the
folder name and every point's ``label`` field is kept as is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..dataset import Dataset
from ..errors import DatasetError
from ..sample import Sample
from .common import atomic_dir, check_label, malformed, sample_stem, sha256_file, unique_path
from .manifest import MANIFEST, read_manifest, record, sample_from_record, write_manifest
from .paths import class_dir, class_dirs, inside_root, safe_join

PER_POINT = ("point_labels", "instance_ids", "normals", "intensity")


# --- shared by the point formats (ply, pcd, kitti, npz) ------------------------------------------

def check_points(s: Sample) -> np.ndarray:
    """The sample's (N, 3) float32 points; a wrong shape is a DatasetError naming the sample."""
    p = np.asarray(s.data)
    if p.ndim != 2 or p.shape[1] != 3 or not np.issubdtype(p.dtype, np.number):
        raise DatasetError(f"sample {s.id}: point data must be an (N, 3) array, got shape {getattr(p, 'shape', None)}")
    n = len(p)
    for k in PER_POINT:
        a = s.annotations.get(k)
        if a is not None and len(np.asarray(a)) != n:
            raise DatasetError(f"sample {s.id}: annotations.{k} has {len(np.asarray(a))} rows for {n} points")
    return np.ascontiguousarray(p, dtype=np.float32)


def check_finite(points: np.ndarray, where: str) -> np.ndarray:
    """``points`` when every coordinate is finite; NaN or inf is a DatasetError naming ``where``."""
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise DatasetError(f"{where}: {int(bad.sum())} of {len(points)} points have NaN or infinite coordinates "
                           f"(first: point {int(np.argmax(bad))})")
    return points


def summary_annotations(s: Sample) -> dict[str, Any]:
    """The manifest form of a point sample's annotations: everything but the per-point arrays."""
    ann = {k: v for k, v in s.annotations.items() if k not in PER_POINT}
    n = int(len(np.asarray(s.data)))
    ann["num_points"] = n
    ann["point_fields"] = [k for k in PER_POINT if s.annotations.get(k) is not None]
    labels = s.annotations.get("point_labels")
    if labels is not None:
        names = list(s.annotations.get("label_names") or [])
        u, c = np.unique(np.asarray(labels), return_counts=True)
        ann["point_label_counts"] = {(names[i] if 0 <= i < len(names) else str(int(i))): int(k) for i, k in zip(u.tolist(), c.tolist())}
    return ann


def join_annotations(summary: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    ann = {k: v for k, v in (summary or {}).items() if k not in ("num_points", "point_fields", "point_label_counts")}
    ann.update({k: v for k, v in arrays.items() if v is not None})
    return ann


def _records_by_file(root: Path, follow_symlinks: bool = False) -> dict[str, dict[str, Any]]:
    if not (root / MANIFEST).exists():
        return {}
    return {r["file"]: r for r in read_manifest(inside_root(root, root / MANIFEST, follow_symlinks))}


# --- PLY / PCD -----------------------------------------------------------------------------------

def _to_tensor_cloud(s: Sample):
    import open3d as o3d

    pts = check_points(s)
    n = len(pts)
    ann = s.annotations
    pc = o3d.t.geometry.PointCloud()
    pc.point.positions = o3d.core.Tensor(pts)
    lab = ann.get("point_labels")
    names = list(ann.get("label_names") or [])
    if lab is None:
        lab = np.full(n, names.index(s.label) if s.label in names else -1, dtype=np.int32)
    pc.point.label = o3d.core.Tensor(np.asarray(lab, dtype=np.int32).reshape(-1, 1))
    inst = ann.get("instance_ids")
    pc.point.instance = o3d.core.Tensor(np.asarray(inst if inst is not None else np.full(n, -1), dtype=np.int32).reshape(-1, 1))
    if ann.get("normals") is not None:
        pc.point.normals = o3d.core.Tensor(np.asarray(ann["normals"], dtype=np.float32).reshape(-1, 3))
    if ann.get("intensity") is not None:
        pc.point.intensity = o3d.core.Tensor(np.asarray(ann["intensity"], dtype=np.float32).reshape(-1, 1))
    return pc


def read_point_file(path: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(points, per-point arrays) of one .ply/.pcd file written by any tool; errors name the file.

    The header is checked against the file size before open3d allocates anything, open3d's console
    output is caught (its gist goes into the error), and NaN or infinite coordinates are refused.
    """
    import open3d as o3d

    from .pointcheck import check_pcd, check_ply, console_captured, gist

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: point file not found")
    declared = (check_pcd if path.suffix.lower() == ".pcd" else check_ply)(path)
    raised = None
    with console_captured() as said:
        try:
            pc = o3d.t.io.read_point_cloud(str(path))
        except RuntimeError as e:  # open3d's own errors
            raised = e
    failed = [line for line in said if line.startswith("RPly") or "fail" in line.lower() or "error" in line.lower()]
    failed += [gist(str(raised))] if raised else []
    if failed:
        raise DatasetError(f"{path}: open3d could not read it ({failed[0]})")
    if "positions" not in pc.point or pc.point.positions.shape[0] != declared:
        got = pc.point.positions.shape[0] if "positions" in pc.point else 0
        raise DatasetError(f"{path}: open3d read {got} points where the header declares {declared} (corrupt point file)")
    pts = check_finite(pc.point.positions.numpy().astype(np.float32), str(path))
    out: dict[str, np.ndarray] = {}
    for field, key in (("label", "point_labels"), ("instance", "instance_ids")):
        if field in pc.point:
            ids = pc.point[field].numpy().reshape(-1)
            if not np.isfinite(ids).all():
                raise DatasetError(f"{path}: per-point '{field}' holds NaN or inf")
            out[key] = ids.astype(np.int32)
    if "normals" in pc.point:
        out["normals"] = pc.point.normals.numpy().astype(np.float32)
    if "intensity" in pc.point:
        out["intensity"] = pc.point.intensity.numpy().reshape(-1).astype(np.float32)
    return pts, out


def _write(samples: Iterable[Sample], classes: list[str], out: str, ext: str, overwrite: bool, extra) -> Path:
    import open3d as o3d

    out_path = Path(out)
    dirs = class_dirs(classes)
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        # class folders are made as samples arrive: an empty one would make the folder unreadable as a
        # dataset (ours and torchvision's ImageFolder refuse a class without samples)
        recs, seen = [], set()
        for s in samples:
            rel = unique_path(seen, f"{class_dir(dirs, s.label)}/{sample_stem(s)}", ext)
            path = safe_join(tmp, rel)
            path.parent.mkdir(exist_ok=True)
            pc = _to_tensor_cloud(s)
            if not o3d.t.io.write_point_cloud(str(path), pc, write_ascii=False, compressed=False):
                raise DatasetError(f"{out_path / rel}: open3d could not write sample {s.id}")
            r = record(s, rel, sha256_file(path), **(extra(s) if extra else {}))
            r["annotations"] = summary_annotations(s)
            recs.append(r)
        write_manifest(tmp / MANIFEST, recs)
    return out_path


def _read(path: str, ext: str, fmt: str, task: str, follow_symlinks: bool = False) -> Dataset:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: {fmt} dataset folder does not exist")
    recs = _records_by_file(root, follow_symlinks)
    files = sorted(p for p in root.glob(f"*/*{ext}"))
    if not files:
        raise DatasetError(f"{root}: no {ext} files (expected {root}/<class>/<id>{ext})")
    samples = []
    for f in files:
        rel = f.relative_to(root).as_posix()
        pts, arrays = read_point_file(inside_root(root, f, follow_symlinks))
        r = recs.get(rel)
        if r is not None:
            where = f"{root / MANIFEST}: sample {r['id']}"
            s = sample_from_record(r, pts, modality="points", where=where)
            with malformed(where):
                s.annotations = join_annotations(r.get("annotations") or {}, arrays)
                n = (r.get("annotations") or {}).get("num_points")
                if n is not None and int(n) != len(pts):
                    raise DatasetError(f"{f}: holds {len(pts)} points but {MANIFEST} says {n}")
        else:
            label = check_label(f.parent.name, str(f))
            s = Sample(id=rel, data=pts, label=label, annotations=arrays, modality="points", meta={"file": rel})
        s.meta["path"] = str(f)
        samples.append(s)
    if recs and len(recs) != len(files):
        missing = sorted(set(recs) - {f.relative_to(root).as_posix() for f in files})
        if missing:
            raise DatasetError(f"{root / missing[0]}: listed in {MANIFEST} but missing")
    classes = {s.label for s in samples}
    if not recs:  # without a manifest empty class folders are classes too; with one, folder names may be encoded
        classes |= {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return Dataset(samples, sorted(classes), str(root), fmt, "points", task)


def write_ply(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None) -> Path:
    """Write ``out/<class folder>/<id>.ply`` (binary little-endian) plus ``manifest.jsonl``, atomically."""
    return _write(samples, classes, out, ".ply", overwrite, extra)


def write_pcd(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None) -> Path:
    """Write ``out/<class folder>/<id>.pcd`` (binary) plus ``manifest.jsonl``, atomically."""
    return _write(samples, classes, out, ".pcd", overwrite, extra)


def read_ply(path: str, task: str = "segmentation", follow_symlinks: bool = False) -> Dataset:
    """Read ``path/<class>/<id>.ply`` (+ ``manifest.jsonl``); symbolic links out of ``path`` are
    refused unless ``follow_symlinks``."""
    return _read(path, ".ply", "ply", task, follow_symlinks)


def read_pcd(path: str, task: str = "segmentation", follow_symlinks: bool = False) -> Dataset:
    """Read ``path/<class>/<id>.pcd`` (+ ``manifest.jsonl``); symbolic links out of ``path`` are
    refused unless ``follow_symlinks``."""
    return _read(path, ".pcd", "pcd", task, follow_symlinks)
