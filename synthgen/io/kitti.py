"""KITTI 3D object detection layout: read and write.

``out/velodyne/<nnnnnn>.bin``  float32 ``x y z intensity`` per point, LiDAR frame (x forward, y left, z up)
``out/label_2/<nnnnnn>.txt``   one object per line, KITTI's 15 columns:
                               ``type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y``
``out/calib/<nnnnnn>.txt``     ``P0..P3``, ``R0_rect``, ``Tr_velo_to_cam``, ``Tr_imu_to_velo``
``out/labels/<nnnnnn>.label``  per-point labels as SemanticKITTI encodes them: uint32, lower 16 bits
                               the semantic index (into ``label_names``), upper 16 bits instance id + 1
                               (0 = no instance)
``out/manifest.jsonl``         ids, labels, provenance, ``boxes3d`` and ``label_names`` per sample

Box conventions.  In memory a box is in the LiDAR frame: ``center`` (x, y, z of the box centre),
``size`` (l, w, h; l along the heading), ``yaw`` about +z (0 = heading along +x).  In ``label_2`` it
is in KITTI's rectified camera frame (x right, y down, z forward): ``h w l``, the **bottom centre**
``x y z`` and ``rotation_y`` about the camera's y axis.  There is no camera here, so the calibration
written is the identity apart from the fixed axis change between the two frames::

    Tr_velo_to_cam = [[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]]   (x_cam = -y_velo, y_cam = -z_velo, z_cam = x_velo)
    R0_rect = I,  P0..P3 = [I | 0],  rotation_y = -yaw - pi/2,  alpha = rotation_y - atan2(x_cam, z_cam)

2D boxes are written as ``0 0 0 0`` and ``truncated``/``occluded`` as 0.  Reading uses each scan's
``calib`` file when present (so real KITTI scans read correctly) and the transform above otherwise.
Floats are written with 6 decimals so boxes survive a round trip to well under a millimetre.
"""
from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..dataset import Dataset
from ..errors import DatasetError
from ..sample import Sample
from .common import atomic_dir, malformed, read_text, sha256_bytes
from .paths import inside_root
from .manifest import MANIFEST, read_manifest, record, sample_from_record, write_manifest
from .ply import check_finite, check_points, join_annotations, summary_annotations

VELO_TO_CAM = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])


def _wrap(a: float) -> float:
    return float(math.atan2(math.sin(a), math.cos(a)))


def calib_text() -> str:
    I34 = " ".join(f"{v:.6f}" for v in np.hstack([np.eye(3), np.zeros((3, 1))]).ravel())
    lines = [f"P{i}: {I34}" for i in range(4)]
    lines.append("R0_rect: " + " ".join(f"{v:.6f}" for v in np.eye(3).ravel()))
    lines.append("Tr_velo_to_cam: " + " ".join(f"{v:.6f}" for v in VELO_TO_CAM.ravel()))
    lines.append("Tr_imu_to_velo: " + I34)
    return "\n".join(lines) + "\n"


def read_calib(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(R0_rect 3x3, Tr_velo_to_cam 3x4) from a KITTI calib file; a singular or non-finite transform
    (boxes could not be mapped back to the LiDAR frame) is a DatasetError naming the file."""
    vals: dict[str, np.ndarray] = {}
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        try:
            vals[k.strip()] = np.array([float(x) for x in v.split()])
        except ValueError:
            raise DatasetError(f"{path}:{n}: not a number in '{k.strip()}'") from None
    try:
        R0, Tr = vals["R0_rect"].reshape(3, 3), vals["Tr_velo_to_cam"].reshape(3, 4)
    except (KeyError, ValueError):
        raise DatasetError(f"{path}: needs R0_rect (9 numbers) and Tr_velo_to_cam (12 numbers)") from None
    if not (np.isfinite(R0).all() and np.isfinite(Tr).all()):
        raise DatasetError(f"{path}: R0_rect or Tr_velo_to_cam holds NaN or inf")
    sv = np.linalg.svd(R0 @ Tr[:, :3], compute_uv=False)
    if not sv[-1] > 1e-9 * sv[0]:
        raise DatasetError(f"{path}: R0_rect @ Tr_velo_to_cam[:, :3] is singular (boxes cannot be mapped back to the LiDAR frame)")
    return R0, Tr


def box_to_kitti(box: dict[str, Any], R0: np.ndarray | None = None, Tr: np.ndarray | None = None) -> tuple[float, ...]:
    """LiDAR-frame box -> (h, w, l, x, y, z, rotation_y) in KITTI's rectified camera frame."""
    R0 = np.eye(3) if R0 is None else R0
    Tr = VELO_TO_CAM if Tr is None else Tr
    l, w, h = (float(v) for v in box["size"])
    c = np.asarray(box["center"], dtype=np.float64)
    bottom = np.array([c[0], c[1], c[2] - h / 2.0, 1.0])
    x, y, z = R0 @ (Tr @ bottom)
    return h, w, l, float(x), float(y), float(z), _wrap(-float(box["yaw"]) - math.pi / 2.0)


def box_from_kitti(h: float, w: float, l: float, x: float, y: float, z: float, ry: float,
                   R0: np.ndarray | None = None, Tr: np.ndarray | None = None) -> dict[str, Any]:
    R0 = np.eye(3) if R0 is None else R0
    Tr = VELO_TO_CAM if Tr is None else Tr
    A = R0 @ Tr[:, :3]
    b = R0 @ Tr[:, 3]
    bottom = np.linalg.solve(A, np.array([x, y, z]) - b)
    c = bottom + np.array([0.0, 0.0, h / 2.0])
    return {"center": c.tolist(), "size": [l, w, h], "yaw": _wrap(-ry - math.pi / 2.0)}


def label_line(box: dict[str, Any]) -> str:
    h, w, l, x, y, z, ry = box_to_kitti(box)
    alpha = _wrap(ry - math.atan2(x, z))
    typ = re.sub(r"\s+", "_", str(box["category"])) or "_"  # one token: a newline would split the line
    return (f"{typ} 0.00 0 {alpha:.6f} 0.00 0.00 0.00 0.00 {h:.6f} {w:.6f} {l:.6f} {x:.6f} {y:.6f} {z:.6f} {ry:.6f}")


def write_kitti(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None) -> Path:
    """Write the KITTI layout above plus ``manifest.jsonl``, atomically.  Files are numbered in order."""
    out_path = Path(out)
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        for d in ("velodyne", "label_2", "calib", "labels"):
            (tmp / d).mkdir()
        calib = calib_text()
        recs = []
        for k, s in enumerate(samples):
            pts = check_points(s)
            name = f"{k:06d}"
            ann = s.annotations
            inten = ann.get("intensity")
            inten = np.zeros(len(pts), np.float32) if inten is None else np.asarray(inten, dtype=np.float32)
            velo = np.hstack([pts, inten.reshape(-1, 1)]).astype("<f4").tobytes()
            (tmp / "velodyne" / f"{name}.bin").write_bytes(velo)
            lines = [label_line(b) for b in ann.get("boxes3d", [])]
            (tmp / "label_2" / f"{name}.txt").write_text("".join(x + "\n" for x in lines))
            (tmp / "calib" / f"{name}.txt").write_text(calib)
            sem = ann.get("point_labels")
            inst = ann.get("instance_ids")
            n = len(pts)
            sem = np.zeros(n, np.int64) if sem is None else np.asarray(sem, dtype=np.int64)
            inst = np.full(n, -1, np.int64) if inst is None else np.asarray(inst, dtype=np.int64)
            if sem.min(initial=0) < 0 or sem.max(initial=0) > 0xFFFF or inst.max(initial=-1) >= 0xFFFF:
                raise DatasetError(f"sample {s.id}: semantic labels must be in 0..65535 and instance ids below 65535 for KITTI .label files")
            enc = ((inst + 1).astype(np.uint32) << np.uint32(16)) | sem.astype(np.uint32)
            (tmp / "labels" / f"{name}.label").write_bytes(enc.astype("<u4").tobytes())
            r = record(s, f"velodyne/{name}.bin", sha256_bytes(velo), **(extra(s) if extra else {}))
            r["annotations"] = summary_annotations(s)
            recs.append(r)
        write_manifest(tmp / MANIFEST, recs)
    return out_path


def _parse_labels(path: Path, R0, Tr) -> list[dict[str, Any]]:
    boxes = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) < 15:
            raise DatasetError(f"{path}:{n}: expected 15 columns (type ... rotation_y), got {len(f)}")
        if f[0] == "DontCare":
            continue
        try:
            h, w, l, x, y, z, ry = (float(v) for v in f[8:15])
        except ValueError:
            raise DatasetError(f"{path}:{n}: not a number in the 3D box columns") from None
        if not all(map(math.isfinite, (h, w, l, x, y, z, ry))):
            raise DatasetError(f"{path}:{n}: NaN or inf in the 3D box columns")
        boxes.append({"category": f[0], **box_from_kitti(h, w, l, x, y, z, ry, R0, Tr)})
    return boxes


def read_kitti(path: str, follow_symlinks: bool = False) -> Dataset:
    """Read the layout above.  Without a manifest: ids are file stems, per-point labels come from
    ``labels/`` when present (else from the boxes: the points inside box j get instance j), and a
    scan's class is the category of its box with the most points ("background" when it has none).
    Empty scans and NaN/inf coordinates are refused, and so are symbolic links out of ``path``
    unless ``follow_symlinks``."""
    from synthgen.generators.points.geometry import points_in_box

    root = Path(path).expanduser()
    vdir = root / "velodyne"
    if not vdir.is_dir():
        raise DatasetError(f"{root}: not a KITTI folder (no velodyne/)")
    files = sorted(vdir.glob("*.bin"))
    if not files:
        raise DatasetError(f"{vdir}: no .bin scans")
    inside = partial(inside_root, root, follow_symlinks=follow_symlinks)
    recs = {r["file"]: r for r in read_manifest(inside(root / MANIFEST))} if (root / MANIFEST).exists() else {}
    samples = []
    for f in files:
        raw = inside(f).read_bytes()
        if len(raw) % 16:
            raise DatasetError(f"{f}: size {len(raw)} is not a multiple of 16 bytes (x, y, z, intensity float32)")
        if not raw:
            raise DatasetError(f"{f}: empty scan (0 points)")
        a = np.frombuffer(raw, dtype="<f4").reshape(-1, 4)
        pts, inten = check_finite(a[:, :3].astype(np.float32), str(f)), a[:, 3].astype(np.float32)
        stem = f.stem
        calib = root / "calib" / f"{stem}.txt"
        R0, Tr = read_calib(inside(calib)) if calib.exists() else (None, None)
        lab = root / "label_2" / f"{stem}.txt"
        boxes = _parse_labels(inside(lab), R0, Tr) if lab.exists() else []
        rel = f"velodyne/{f.name}"
        r = recs.get(rel)
        arrays: dict[str, np.ndarray] = {"intensity": inten}
        lf = root / "labels" / f"{stem}.label"
        if lf.exists():
            enc = np.fromfile(inside(lf), dtype="<u4")
            if len(enc) != len(pts):
                raise DatasetError(f"{lf}: {len(enc)} labels for {len(pts)} points in {f.name}")
            arrays["point_labels"] = (enc & 0xFFFF).astype(np.int32)
            arrays["instance_ids"] = (enc >> 16).astype(np.int32) - 1
        if r is not None:
            where = f"{root / MANIFEST}: sample {r['id']}"
            with malformed(where):
                summary = dict(r.get("annotations") or {})
                mboxes = summary.get("boxes3d") or []
                if len(mboxes) != len(boxes):
                    raise DatasetError(f"{lab}: {len(boxes)} objects but {MANIFEST} lists {len(mboxes)} for sample {r['id']}")
                # label_2 holds the geometry; the manifest adds instance ids and point counts
                summary["boxes3d"] = [{**m, **{k: b[k] for k in ("center", "size", "yaw")}} for m, b in zip(mboxes, boxes)]
                if "intensity" not in (summary.get("point_fields") or []):
                    arrays.pop("intensity")
            s = sample_from_record(r, pts, modality="points", where=where)
            s.annotations = join_annotations(summary, arrays)
        else:
            names = ["unlabeled"] + sorted({b["category"] for b in boxes})
            if "instance_ids" not in arrays:
                inst = np.full(len(pts), -1, np.int32)
                sem = np.zeros(len(pts), np.int32)
                for j, b in enumerate(boxes):
                    m = points_in_box(pts, b["center"], b["size"], b["yaw"]) & (inst < 0)
                    inst[m] = j
                    sem[m] = names.index(b["category"])
                arrays["instance_ids"], arrays["point_labels"] = inst, sem
            for j, b in enumerate(boxes):
                b["instance_id"] = j
                b["num_points"] = int((arrays["instance_ids"] == j).sum())
            label = max(boxes, key=lambda b: b["num_points"])["category"] if boxes else "background"
            s = Sample(id=stem, data=pts, label=label, annotations={**arrays, "boxes3d": boxes, "label_names": names},
                       modality="points", meta={"file": rel})
        s.meta["path"] = str(f)
        samples.append(s)
    classes = sorted({s.label for s in samples})
    return Dataset(samples, classes, str(root), "kitti", "points", "detection")
