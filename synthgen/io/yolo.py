"""YOLO (Ultralytics) detection and segmentation format: write and read.

Layout written atomically::

    out/images/<name>.png
    out/labels/<name>.txt     one line per object
    out/data.yaml             train/val (both ``images``), task, nc, names
    out/manifest.jsonl        ids, labels, provenance (as every synthgen writer)

Detection lines are ``class cx cy w h`` with coordinates normalised to [0, 1] by the image width and
height.  With ``segments`` (``auto``: when every object has a mask) lines are
``class x1 y1 x2 y2 ...``: the mask's outer contours as one normalised polygon along the outer pixel
edges (COCO's convention: pixel ``x`` covers ``[x, x + 1)``), so the box Ultralytics derives from a
polygon (its extent) is the mask's box, pycocotools' ``toBbox``; the parts of an occluded object are
joined by zero-width bridges, as Ultralytics does, so one line stays one instance.  Masks read back
exactly (holes filled).  Class ids follow ``classes`` without ``background``.

``data.yaml`` has no ``path`` key: Ultralytics' ``check_det_dataset`` then takes the folder of the
yaml file as the dataset root, so the folder loads from any working folder and can be moved (a
relative ``path``, even ``.``, would be resolved against the working folder or Ultralytics'
``datasets_dir`` instead).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..dataset import Dataset
from ..errors import DatasetError
from ..sample import Sample
from .common import (IMAGE_EXTENSIONS, atomic_dir, check_label, malformed, mask_to_bbox, read_image, read_text,
                     sample_bytes, sample_stem, sha256_bytes)
from .manifest import MANIFEST, provenance_of, read_manifest, record, write_manifest
from .paths import inside_root, safe_join

DATA_YAML = "data.yaml"


def mask_to_polygon(mask: np.ndarray) -> np.ndarray:
    """One polygon (K, 2) along the outer pixel edges of every part of ``mask``.

    Coordinates are continuous, as in COCO: pixel ``x`` covers ``[x, x + 1)``, so the vertices are
    pixel corners and the polygon's extent is the mask's box exactly (pycocotools' ``toBbox``, which
    is the box Ultralytics derives from a polygon).  Holes are filled.  Filling the polygon by pixel
    centres (``_fill``, and pycocotools' ``frPyObjects``) gives the mask back exactly; several pieces
    are joined by zero-width bridges, which cover no pixel centre.
    """
    import cv2

    m = np.asarray(mask) > 0
    ys, xs = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
    if not len(ys):
        return np.zeros((0, 2))
    y0, x0 = ys[0], xs[0]
    m = m[y0: ys[-1] + 1, x0: xs[-1] + 1].astype(np.uint8)  # the mask's box only
    # trace the mask upsampled 2x: boundary sub-pixel i lies at corner ceil(i / 2) of the original
    # grid (sub-pixels 2x and 2x + 1 are the left and right halves of pixel x)
    up = np.repeat(np.repeat(m, 2, axis=0), 2, axis=1)
    cs, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cs = [_corners(((c.reshape(-1, 2) + 1) // 2 + [x0, y0]).astype(np.float64)) for c in cs if len(c) >= 1]
    cs.sort(key=lambda c: (c[:, 1].min(), c[:, 0].min()))
    return _join(cs)


def _corners(p: np.ndarray) -> np.ndarray:
    """The ring without repeated points and without points in the middle of a straight run."""
    p = p[np.any(p != np.roll(p, 1, axis=0), axis=1)] if len(p) > 1 else p
    if len(p) < 3:
        return p
    a, b = p - np.roll(p, 1, axis=0), np.roll(p, -1, axis=0) - p
    turn = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] != 0
    return p[turn] if turn.sum() >= 3 else p


def _join(cs: list[np.ndarray]) -> np.ndarray:
    """Join contours into one ring: enter each at the point nearest the previous one, go round, come back."""
    if len(cs) == 1:
        return cs[0]

    def walk(i: int, entry: int) -> list[np.ndarray]:
        c = np.roll(cs[i], -entry, axis=0)
        if i + 1 == len(cs):
            return [c, c[:1]]
        nxt = cs[i + 1]
        d = ((c[:, None, :] - nxt[None, :, :]) ** 2).sum(-1)
        a, b = np.unravel_index(int(np.argmin(d)), d.shape)
        return [c[: a + 1]] + walk(i + 1, int(b)) + [c[a:], c[:1]]

    return np.concatenate(walk(0, 0))


def _yaml_name(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def write_yolo(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None,
               segments: str | bool = "auto", categories=None) -> Path:
    """Write YOLO labels (boxes, or polygons when ``segments``); see the module docstring."""
    out_path = Path(out)
    samples = list(samples)
    names = [c["name"] for c in sorted(categories, key=lambda c: int(c["id"]))] if categories else [c for c in classes if c != "background"]
    for s in samples:
        for o in s.annotations.get("objects", []):
            if o["category"] not in names:
                names.append(o["category"])
    cid = {n: i for i, n in enumerate(names)}
    objs = [o for s in samples for o in s.annotations.get("objects", [])]
    seg = bool(objs) and all(o.get("mask") is not None for o in objs) if segments == "auto" else bool(segments)
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        recs, used = [], set()
        for k, s in enumerate(samples, 1):
            data, ext = sample_bytes(s)
            stem = sample_stem(s)
            if stem in used:
                stem = f"{stem}-{k}"
            used.add(stem)
            safe_join(tmp, "images", f"{stem}{ext}").write_bytes(data)
            h, w = np.asarray(s.data).shape[:2]
            lines = []
            for o in s.annotations.get("objects", []):
                c = cid[o["category"]]
                if seg:
                    if o.get("mask") is None:
                        raise DatasetError(f"sample {s.id}: object '{o['category']}' has no mask (YOLO segments need masks; set segments=false)")
                    poly = mask_to_polygon(o["mask"])
                    if len(poly) < 3:
                        continue
                    xy = np.clip(poly / [w, h], 0, 1).reshape(-1)
                    lines.append(f"{c} " + " ".join(f"{v:.6f}" for v in xy))
                else:
                    x, y, bw, bh = (float(v) for v in o["bbox"])
                    x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh)
                    if x1 <= x0 or y1 <= y0:
                        continue
                    lines.append(f"{c} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
            safe_join(tmp, "labels", f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
            recs.append(record(s, f"images/{stem}{ext}", sha256_bytes(data), **(extra(s) if extra else {})))
        yaml = ["# written by synthgen: Ultralytics YOLO " + ("segmentation" if seg else "detection"),
                "# no 'path': Ultralytics takes this file's folder as the dataset root, from any working folder",
                "train: images", "val: images", f"task: {'segment' if seg else 'detect'}", f"nc: {len(names)}", "names:"]
        yaml += [f"  {i}: {_yaml_name(n)}" for i, n in enumerate(names)]
        (tmp / DATA_YAML).write_text("\n".join(yaml) + "\n")
        write_manifest(tmp / MANIFEST, recs)
    return out_path


def read_yolo(path: str, follow_symlinks: bool = False) -> Dataset:
    """Read a folder written by ``write_yolo`` (or any ``data.yaml`` + ``images/`` + ``labels/`` folder).

    Symbolic links that lead out of the folder are refused unless ``follow_symlinks``.
    """
    import yaml as pyyaml

    root = Path(path).expanduser()
    if root.is_file():
        root = root.parent
    dy = root / DATA_YAML
    if not dy.exists():
        raise DatasetError(f"{dy}: YOLO data.yaml not found")
    try:
        meta = pyyaml.safe_load(read_text(inside_root(root, dy, follow_symlinks))) or {}
    except pyyaml.YAMLError as e:
        raise DatasetError(f"{dy}: invalid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{dy}: expected a mapping with 'names'")
    names = meta.get("names")
    with malformed(f"{dy}: names"):
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names, key=int)]
        if not isinstance(names, list) or not names:
            raise DatasetError(f"{dy}: 'names' missing or empty")
        names = [check_label(n, f"{dy}: names[{i}]") for i, n in enumerate(names)]
    img_dir = inside_root(root, root / str(meta.get("train", "images")), follow_symlinks)
    if not img_dir.is_dir():
        raise DatasetError(f"{img_dir}: YOLO images folder not found")
    lab_dir = root / "labels"
    man = root / MANIFEST
    manifest = {r["file"]: r for r in read_manifest(inside_root(root, man, follow_symlinks))} if man.exists() else {}
    samples, any_seg = [], False
    for f in sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS):
        data = read_image(inside_root(root, f, follow_symlinks))
        h, w = data.shape[:2]
        objects = []
        lf = lab_dir / f"{f.stem}.txt"
        for n, line in enumerate(read_text(inside_root(root, lf, follow_symlinks)).splitlines() if lf.exists() else [], 1):
            parts = line.split()
            if not parts:
                continue
            try:
                c, vals = int(parts[0]), [float(v) for v in parts[1:]]
            except ValueError:
                raise DatasetError(f"{lf}:{n}: not numbers") from None
            if not all(map(np.isfinite, vals)):
                raise DatasetError(f"{lf}:{n}: NaN or inf coordinates")
            if not 0 <= c < len(names):
                raise DatasetError(f"{lf}:{n}: class id {c} outside 0..{len(names) - 1}")
            if len(vals) == 4:
                cx, cy, bw, bh = vals
                obj = {"category": names[c], "bbox": [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h], "iscrowd": 0}
            elif len(vals) >= 6 and len(vals) % 2 == 0:
                any_seg = True
                pts = (np.asarray(vals).reshape(-1, 2) * [w, h]).reshape(-1).tolist()
                m = _fill(pts, h, w)
                bb = mask_to_bbox(m)
                if bb is None:
                    continue
                obj = {"category": names[c], "bbox": bb, "mask": m, "iscrowd": 0}
            else:
                raise DatasetError(f"{lf}:{n}: expected 'class cx cy w h' or 'class x1 y1 x2 y2 ...'")
            objects.append(obj)
        rel = f"images/{f.name}"
        rec = manifest.get(rel)
        sid = rec["id"] if rec else f"yolo:{f.name}"
        label = rec["label"] if rec else (max(objects, key=lambda o: o["bbox"][2] * o["bbox"][3])["category"] if objects else "background")
        with malformed(f"{man}: sample {sid}"):
            prov = provenance_of(rec) if rec else None
        samples.append(Sample(id=sid, data=data, label=check_label(label, f"{f}: sample {sid}"), annotations={"objects": objects},
                              provenance=prov, meta={"file": rel, "path": str(f)}))
    classes = list(names)
    if any(s.label not in classes for s in samples):
        classes += sorted({s.label for s in samples} - set(classes))
    return Dataset(samples, classes, str(root), "yolo", "image", "segmentation" if any_seg else "detection")


def _fill(pts: list[float], h: int, w: int) -> np.ndarray:
    """Rasterise a polygon in pixel coordinates (pixel ``x`` covers ``[x, x + 1)``): a pixel is in when
    its centre is inside (even-odd rule), as pycocotools does.  The inverse of ``mask_to_polygon``;
    a zero-width bridge (a segment walked there and back) fills nothing."""
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    a, b = p, np.roll(p, -1, axis=0)
    up = (a[:, 1] <= b[:, 1])[:, None]
    lo, hi = np.where(up, a, b), np.where(up, b, a)  # each edge from its lower end: both directions of
    keep = hi[:, 1] > lo[:, 1]                       # a bridge give bit-identical crossings
    lo, hi = lo[keep], hi[keep]
    r0 = np.clip(np.ceil(lo[:, 1] - 0.5), 0, h).astype(np.int64)  # rows whose centre y + 0.5 the edge
    r1 = np.clip(np.ceil(hi[:, 1] - 0.5), 0, h).astype(np.int64)  # crosses: lo_y <= y + 0.5 < hi_y
    n = r1 - r0
    edge = np.repeat(np.arange(len(lo)), n)
    rows = np.repeat(r0, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    x = lo[edge, 0] + (rows + 0.5 - lo[edge, 1]) * (hi[edge, 0] - lo[edge, 0]) / (hi[edge, 1] - lo[edge, 1])
    cols = np.clip(np.ceil(x - 0.5), 0, w).astype(np.int64)  # the first pixel centre right of each crossing
    m = np.zeros((h, w), np.uint8)
    if not len(rows):
        return m
    ra, rb, ca, cb = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1  # work in the polygon's box only
    cross = np.zeros((rb - ra, cb - ca), np.int32)
    np.add.at(cross, (rows - ra, cols - ca), 1)
    m[ra:rb, ca:min(cb, w)] = (np.cumsum(cross, axis=1)[:, : min(cb, w) - ca] % 2).astype(np.uint8)
    return m
