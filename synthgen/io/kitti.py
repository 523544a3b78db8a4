"""KITTI 3D object detection layout: read and write.

``out/velodyne/<nnnnnn>.bin``  float32 ``x y z intensity`` per point, LiDAR frame (x forward, y left, z up)
``out/label_2/<nnnnnn>.txt``   one object per line, KITTI's 15 columns:
                               ``type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y``
``out/calib/<nnnnnn>.txt``     ``P0..P3``, ``R0_rect``, ``Tr_velo_to_cam``, ``Tr_imu_to_velo``
``out/labels/<nnnnnn>.label``  per-point labels as SemanticKITTI encodes them: uint32, lower 16 bits
                               the semantic index (into ``label_names``), upper 16 bits instance id + 1
                               (0 = no instance)
``out/manifest.jsonl``         ids, labels, provenance, ``boxes3d`` and ``label_names`` per sample

Types.  ``type`` is one of KITTI's (:data:`KITTI_TYPES`: ``Car Van Truck Pedestrian Person_sitting
Cyclist Tram Misc DontCare``), since OpenPCDet and mmdetection3d select objects by those exact names.
A class named like a type in any case (``car``, ``person sitting``) maps to it; ``types`` (the config
key ``output.kitti.types``, e.g. ``{traffic_cone: Misc, bus: Truck}``) maps any class explicitly; a class
mapped by neither is written as ``Misc`` with one warning naming it.  The manifest keeps the class
names, so reading the folder back gives them, not the KITTI types.

Box conventions.  In memory a box is in the LiDAR frame: ``center`` (x, y, z of the box centre),
``size`` (l, w, h; l along the heading), ``yaw`` about +z (0 = heading along +x).  In ``label_2`` it
is in KITTI's rectified camera frame (x right, y down, z forward): ``h w l``, the **bottom centre**
``x y z = R0_rect @ Tr_velo_to_cam @ bottom`` and ``rotation_y = -yaw - pi/2`` about the camera's y
axis (OpenPCDet's conversion); ``alpha = rotation_y - atan2(x, z)``.

Camera.  With ``camera`` (``output.kitti.camera``: ``kitti`` for KITTI's own calibration, or
``{P2: [12 numbers], image_size: [width, height], R0_rect: [9], Tr_velo_to_cam: [12]}``) the calib
files hold it (``P0``, ``P1``, ``P3`` repeat ``P2``: one camera is modelled) and the 2D box is the
devkit's projection ``P2 @ [x_rect; 1]`` of the 3D box's eight corners (the corners clipped to 0.1 m in
front of the camera), clipped to the image (``0 .. width - 1``, ``0 .. height - 1``, as KITTI's boxes
are); ``truncated`` is the share of the projected box outside the image.  An object wholly outside the
image or behind the camera gets ``truncated`` 1 and the unknown 2D box.  Without a camera the
calibration is the fixed axis change between the two frames::

    Tr_velo_to_cam = [[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]]   (x_cam = -y_velo, y_cam = -z_velo, z_cam = x_velo)
    R0_rect = I,  P0..P3 = [I | 0]

and every 2D box is KITTI's unknown value ``-1 -1 -1 -1`` (as the devkit writes -1 for unknown sizes),
with a warning on stderr saying so: 2D evaluation is off, and so are KITTI's difficulty levels,
which need the 2D box's height.  ``occluded`` is not computed: it is written 0.

Reading uses each scan's ``calib`` file when present (so real KITTI scans read correctly) and the
transform above otherwise; ``DontCare`` lines without a 3D box (KITTI's, with sizes -1) are skipped.
Floats are written with 6 decimals so boxes survive a round trip to well under a millimetre.
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..dataset import Dataset
from ..errors import ConfigError, DatasetError
from ..sample import Sample
from .common import atomic_dir, malformed, read_text, sha256_bytes
from .paths import inside_root
from .manifest import MANIFEST, read_manifest, record, sample_from_record, write_manifest
from .ply import check_finite, check_points, join_annotations, summary_annotations

VELO_TO_CAM = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])

KITTI_TYPES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc", "DontCare")
UNKNOWN_BOX = (-1.0, -1.0, -1.0, -1.0)  # the 2D box when there is no camera or the object is not in the image
NEAR = 0.1  # corners are clipped to this depth in front of the camera before projecting

# ``camera: kitti``: the left colour camera (P2) of the KITTI object benchmark, with the rectification and
# LiDAR-to-camera transform of its 2011-09-26 recordings; images are 1242 x 375
KITTI_CAMERA = {
    "P2": [7.215377e02, 0.0, 6.095593e02, 4.485728e01, 0.0, 7.215377e02, 1.728540e02, 2.163791e-01, 0.0, 0.0, 1.0, 2.745884e-03],
    "R0_rect": [9.999239e-01, 9.837760e-03, -7.445048e-03, -9.869795e-03, 9.999421e-01, -4.278459e-03,
                7.402527e-03, 4.351614e-03, 9.999631e-01],
    "Tr_velo_to_cam": [7.533745e-03, -9.999714e-01, -6.166020e-04, -4.069766e-03, 1.480249e-02, 7.280733e-04,
                       -9.998902e-01, -7.631618e-02, 9.998621e-01, 7.523790e-03, 1.480755e-02, -2.717806e-01],
    "image_size": [1242, 375],
}


@dataclass(frozen=True)
class Camera:
    """A KITTI camera: projection ``P2`` (3x4), ``R0`` (R0_rect, 3x3), ``Tr`` (Tr_velo_to_cam, 3x4), image size."""

    P2: np.ndarray
    R0: np.ndarray
    Tr: np.ndarray
    width: int
    height: int


def _matrix(v: Any, n: int, shape: tuple[int, int], key: str) -> np.ndarray:
    try:
        a = np.asarray([float(x) for x in v], dtype=np.float64)
    except (TypeError, ValueError):
        a = np.zeros(0)
    if a.size != n or not np.isfinite(a).all():
        raise ConfigError(f"{key}: must be {n} finite numbers (row by row), got {v!r}")
    return a.reshape(shape)


def camera_from(cfg: Any, key: str = "output.kitti.camera") -> Camera | None:
    """The camera of ``output.kitti.camera``: ``None`` (no camera), ``"kitti"`` or a mapping (module docstring)."""
    if cfg is None or isinstance(cfg, Camera):
        return cfg
    if isinstance(cfg, str):
        if cfg != "kitti":
            raise ConfigError(f"{key}: must be null, kitti or a mapping with P2 and image_size, got {cfg!r}")
        cfg = KITTI_CAMERA
    if not hasattr(cfg, "get"):
        raise ConfigError(f"{key}: must be null, kitti or a mapping with P2 and image_size, got {cfg!r}")
    unknown = sorted(set(cfg) - {"P2", "R0_rect", "Tr_velo_to_cam", "image_size"})
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key (allowed: P2, R0_rect, Tr_velo_to_cam, image_size)")
    for need in ("P2", "image_size"):
        if cfg.get(need) is None:
            raise ConfigError(f"{key}.{need}: missing (a camera needs P2 and image_size)")
    P2 = _matrix(cfg["P2"], 12, (3, 4), f"{key}.P2")
    R0 = np.eye(3) if cfg.get("R0_rect") is None else _matrix(cfg["R0_rect"], 9, (3, 3), f"{key}.R0_rect")
    Tr = VELO_TO_CAM if cfg.get("Tr_velo_to_cam") is None else _matrix(cfg["Tr_velo_to_cam"], 12, (3, 4), f"{key}.Tr_velo_to_cam")
    size = cfg["image_size"]
    if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        raise ConfigError(f"{key}.image_size: must be [width, height] in pixels (integers > 0), got {size!r}")
    sv = np.linalg.svd(R0 @ Tr[:, :3], compute_uv=False)
    if not sv[-1] > 1e-9 * sv[0]:
        raise ConfigError(f"{key}: R0_rect @ Tr_velo_to_cam[:, :3] is singular")
    return Camera(P2, R0, Tr, int(size[0]), int(size[1]))


def kitti_types(categories: Iterable[str], types: dict[str, str] | None = None,
                key: str = "output.kitti.types") -> tuple[dict[str, str], list[str]]:
    """``({class: KITTI type}, classes written as Misc for want of a type)``: ``types`` first, then a
    class named like a type in any case (``car`` -> ``Car``, ``person sitting`` -> ``Person_sitting``)."""
    types = dict(types or {})
    for c, t in types.items():
        if t not in KITTI_TYPES:
            raise ConfigError(f"{key}.{c}: must be one of {', '.join(KITTI_TYPES)}, got {t!r}")
    by_name = {t.lower(): t for t in KITTI_TYPES}
    out, unmapped = {}, []
    for c in categories:
        c = str(c)
        if c in out:
            continue
        if c in types:
            out[c] = types[c]
        elif re.sub(r"[\s-]+", "_", c.strip()).lower() in by_name:
            out[c] = by_name[re.sub(r"[\s-]+", "_", c.strip()).lower()]
        else:
            out[c] = "Misc"
            unmapped.append(c)
    return out, unmapped


def _wrap(a: float) -> float:
    return float(math.atan2(math.sin(a), math.cos(a)))


def calib_text(camera: Camera | None = None) -> str:
    """A calib file: the camera's matrices (12 significant digits, so boxes read back as written), or
    without one the axis change between the frames (module docstring)."""
    I34 = np.hstack([np.eye(3), np.zeros((3, 1))])

    def row(name: str, m: np.ndarray, fmt: str) -> str:
        return f"{name}: " + " ".join(format(float(v), fmt) for v in np.asarray(m).ravel())

    if camera is None:
        rows = [(f"P{i}", I34) for i in range(4)] + [("R0_rect", np.eye(3)), ("Tr_velo_to_cam", VELO_TO_CAM)]
        fmt = ".6f"
    else:
        rows = [(f"P{i}", camera.P2) for i in range(4)] + [("R0_rect", camera.R0), ("Tr_velo_to_cam", camera.Tr)]
        fmt = ".12e"
    return "\n".join([row(n, m, fmt) for n, m in rows] + [row("Tr_imu_to_velo", I34, ".6f")]) + "\n"


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


def box_corners(h: float, w: float, l: float, x: float, y: float, z: float, ry: float) -> np.ndarray:
    """The eight corners (8, 3) of a label_2 box in the rectified camera frame, as the devkit's
    ``computeBox3D``: x along the length, y down from the bottom centre, z along the width, rotated
    by ``ry`` about y.  Corners 0-3 are the bottom face, 4-7 the top face above them."""
    c, s = math.cos(ry), math.sin(ry)
    R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    pts = np.array([[l / 2, l / 2, -l / 2, -l / 2, l / 2, l / 2, -l / 2, -l / 2],
                    [0.0, 0.0, 0.0, 0.0, -h, -h, -h, -h],
                    [w / 2, -w / 2, -w / 2, w / 2, w / 2, -w / 2, -w / 2, w / 2]])
    return (R @ pts).T + np.array([x, y, z])


_EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def project_box(corners: np.ndarray, camera: Camera) -> tuple[tuple[float, ...], float]:
    """``(2D box x1 y1 x2 y2, truncated)`` of a 3D box (corners in the rectified camera frame).

    The box is the extent of ``P2 @ [corner; 1]``, with the edges cut where they pass closer than
    ``NEAR`` to the camera plane, clipped to the image; ``truncated`` is the share of its area outside
    the image.  Wholly behind the camera or outside the image: ``(UNKNOWN_BOX, 1.0)``.
    """
    q = np.hstack([corners, np.ones((8, 1))]) @ camera.P2.T  # (8, 3): u * d, v * d, d
    d = q[:, 2]
    keep = [q[i] for i in range(8) if d[i] >= NEAR]
    for i, j in _EDGES:  # where an edge crosses the near plane
        if (d[i] >= NEAR) != (d[j] >= NEAR):
            t = (NEAR - d[i]) / (d[j] - d[i])
            keep.append(q[i] + t * (q[j] - q[i]))
    if not keep:
        return UNKNOWN_BOX, 1.0
    k = np.asarray(keep)
    uv = k[:, :2] / k[:, 2:3]
    x1, y1 = uv.min(axis=0)
    x2, y2 = uv.max(axis=0)
    W, H = camera.width - 1.0, camera.height - 1.0
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, W), min(y2, H)
    if cx2 <= cx1 or cy2 <= cy1:
        return UNKNOWN_BOX, 1.0
    area = (x2 - x1) * (y2 - y1)
    truncated = 1.0 - (cx2 - cx1) * (cy2 - cy1) / area if area > 0 else 0.0
    return (float(cx1), float(cy1), float(cx2), float(cy2)), float(min(max(truncated, 0.0), 1.0))


def label_line(box: dict[str, Any], typ: str | None = None, camera: Camera | None = None) -> str:
    """One label_2 line (15 columns) for a LiDAR-frame box; ``typ``: its KITTI type (default: the
    category as one token)."""
    h, w, l, x, y, z, ry = box_to_kitti(box, *((camera.R0, camera.Tr) if camera is not None else ()))
    alpha = _wrap(ry - math.atan2(x, z))
    if typ is None:
        typ = re.sub(r"\s+", "_", str(box["category"])) or "_"  # one token: a newline would split the line
    if camera is None:
        bbox, truncated = UNKNOWN_BOX, 0.0
    else:
        bbox, truncated = project_box(box_corners(h, w, l, x, y, z, ry), camera)
    x1, y1, x2, y2 = bbox
    return (f"{typ} {truncated:.2f} 0 {alpha:.6f} {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} "
            f"{h:.6f} {w:.6f} {l:.6f} {x:.6f} {y:.6f} {z:.6f} {ry:.6f}")


def write_kitti(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None,
                types: dict[str, str] | None = None, camera: Any = None) -> Path:
    """Write the KITTI layout above plus ``manifest.jsonl``, atomically.  Files are numbered in order.

    ``types``: class -> KITTI type (``output.kitti.types``); ``camera``: ``None``, ``"kitti"``, a mapping
    or a :class:`Camera` (``output.kitti.camera``).  See the module docstring.
    """
    out_path = Path(out)
    cam = camera_from(camera)
    tmap, _ = kitti_types(classes, types)
    used: set[str] = set()
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        for d in ("velodyne", "label_2", "calib", "labels"):
            (tmp / d).mkdir()
        calib = calib_text(cam)
        recs = []
        for k, s in enumerate(samples):
            pts = check_points(s)
            name = f"{k:06d}"
            ann = s.annotations
            inten = ann.get("intensity")
            inten = np.zeros(len(pts), np.float32) if inten is None else np.asarray(inten, dtype=np.float32)
            velo = np.hstack([pts, inten.reshape(-1, 1)]).astype("<f4").tobytes()
            (tmp / "velodyne" / f"{name}.bin").write_bytes(velo)
            lines = []
            for b in ann.get("boxes3d", []):
                c = str(b["category"])
                if c not in tmap:
                    tmap.update(kitti_types([c], types)[0])
                used.add(c)
                lines.append(label_line(b, tmap[c], cam))
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
    if cam is None and used:
        _warn("KITTI: no camera (output.kitti.camera is null): 2D boxes are written as -1 (unknown), so 2D evaluation "
              "and KITTI's difficulty levels are off; output.kitti.camera=kitti or a calibration gives 2D boxes")
    misc = kitti_types(sorted(used), types)[1]
    if misc:
        _warn(f"KITTI: no KITTI type for {', '.join(misc)}: written as Misc (map classes with "
              f"'output.kitti.types={{{misc[0]}: <type>}}'; types: {' '.join(KITTI_TYPES)})")
    return out_path


def _warn(msg: str) -> None:
    """One line on stderr, as synthgen's other warnings (the CLI copies stderr into the run's log)."""
    print(f"synthgen: warning: {msg}", file=sys.stderr, flush=True)


def _parse_labels(path: Path, R0, Tr) -> list[dict[str, Any]]:
    boxes = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) < 15:
            raise DatasetError(f"{path}:{n}: expected 15 columns (type ... rotation_y), got {len(f)}")
        if f[0] == "DontCare" and not _has_box(f):  # KITTI's DontCare regions: a 2D box, sizes -1
            continue
        try:
            h, w, l, x, y, z, ry = (float(v) for v in f[8:15])
        except ValueError:
            raise DatasetError(f"{path}:{n}: not a number in the 3D box columns") from None
        if not all(map(math.isfinite, (h, w, l, x, y, z, ry))):
            raise DatasetError(f"{path}:{n}: NaN or inf in the 3D box columns")
        boxes.append({"category": f[0], **box_from_kitti(h, w, l, x, y, z, ry, R0, Tr)})
    return boxes


def _has_box(f: list[str]) -> bool:
    try:
        return all(float(v) > 0 for v in f[8:11])
    except ValueError:
        return False


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
