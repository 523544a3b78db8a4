"""YOLO (Ultralytics) detection and segmentation format: write and read.

Layout written atomically::

    out/images/<name>.png
    out/labels/<name>.txt     one line per object
    out/data.yaml             path, train/val (both ``images``), nc, names
    out/manifest.jsonl        ids, labels, provenance (as every synthgen writer)

Detection lines are ``class cx cy w h`` with coordinates normalised to [0, 1] by the image width and
height.  With ``segments`` (``auto``: when every object has a mask) lines are
``class x1 y1 x2 y2 ...``: the mask's outer contours (through boundary pixel centres) as one
normalised polygon; the parts of an occluded object are joined by zero-width bridges, as Ultralytics
does, so one line stays one instance.  Masks in one piece read back exactly; a mask in several
pieces reads back with a one-pixel line along each bridge.  Class ids follow ``classes`` without ``background``.
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
    """One polygon (K, 2) through the centres of the boundary pixels of every part of ``mask``.

    Coordinates are continuous (pixel ``x`` has its centre at ``x + 0.5``).  Filling the polygon with
    its edges included (``_fill``) gives the mask back exactly for a mask in one piece; the bridges
    joining several pieces add a one-pixel line between them.
    """
    import cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cs = [c.reshape(-1, 2).astype(np.float64) + 0.5 for c in cs if len(c) >= 1]
    if not cs:
        return np.zeros((0, 2))
    cs.sort(key=lambda c: (c[:, 1].min(), c[:, 0].min()))
    return _join(cs)


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
                "path: .", "train: images", "val: images", f"task: {'segment' if seg else 'detect'}", f"nc: {len(names)}", "names:"]
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
    """Rasterise a polygon of pixel-centre coordinates, edges included (the inverse of ``mask_to_polygon``)."""
    import cv2

    p = np.round(np.asarray(pts, dtype=np.float64).reshape(-1, 2) - 0.5).astype(np.int32)
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [p], 1, lineType=cv2.LINE_8)
    cv2.polylines(m, [p], True, 1, lineType=cv2.LINE_8)
    return m
