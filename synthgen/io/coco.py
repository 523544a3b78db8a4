"""COCO detection / instance segmentation / keypoints: read and write.

A sample is one image; its ``label`` is the image-level class (the category of its largest object,
or the value of ``image["label"]`` when present) and ``annotations["objects"]`` holds every object:
``category``, ``bbox`` (x, y, w, h in pixels), ``mask`` (HxW uint8, from polygons or RLE),
``keypoints`` ([[x, y, v], ...]) and ``iscrowd``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..dataset import Dataset
from ..errors import DatasetError
from ..sample import Sample
from .common import (atomic_dir, check_label, dumps, loads, malformed, mask_to_rle, polygons_to_mask, read_image,
                     read_text, rle_to_mask, safe_name, sample_bytes, sample_stem, sha256_bytes)
from .manifest import CORE_KEYS, MANIFEST, provenance_of, read_manifest, record, write_manifest
from .paths import inside_root, safe_join

ANNOTATIONS = "annotations.json"


def read_coco(path: str, images_dir: str | None = None, follow_symlinks: bool = False) -> Dataset:
    """Read a COCO json (``path`` is the json file or a folder holding ``annotations.json``).

    Compressed RLE masks (pycocotools' string form) are decoded with bounds checks
    (``rle_string_counts``).  Image files must lie in the images folder: symbolic links out of it are
    refused unless ``follow_symlinks``.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        p = inside_root(p, p / ANNOTATIONS, follow_symlinks)
    if not p.exists():
        raise DatasetError(f"{p}: COCO annotation file does not exist")
    coco = loads(read_text(p), str(p))
    if not isinstance(coco, dict):
        raise DatasetError(f"{p}: expected a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if key not in coco:
            raise DatasetError(f"{p}: missing top-level key '{key}'")
        if not isinstance(coco[key], list):
            raise DatasetError(f"{p}: '{key}' must be a list")
    img_root = Path(images_dir) if images_dir else p.parent / "images"
    if not img_root.exists():
        img_root = p.parent
    with malformed(f"{p}: categories"):
        cats = {int(c["id"]): check_label(c["name"], f"{p}: category {c['id']}") for c in coco["categories"]}
    with malformed(f"{p}: images"):
        images = sorted(coco["images"], key=lambda im: int(im["id"]))
    classes = [cats[k] for k in sorted(cats)]
    image_ids = {int(im["id"]) for im in images}
    by_image: dict[int, list[dict]] = {}
    first: dict = {}  # annotation id -> (index, image id) of its first use
    for i, a in enumerate(coco["annotations"]):
        with malformed(f"{p}: annotations[{i}]"):
            aid = a.get("id")
            if int(a.get("category_id", -1)) not in cats:
                raise DatasetError(f"{p}: annotation {aid} has unknown category_id {a.get('category_id')}")
            if int(a["image_id"]) not in image_ids:
                raise DatasetError(f"{p}: annotation {aid} refers to unknown image_id {a['image_id']}")
            if aid is not None:
                if aid in first:
                    j, img = first[aid]
                    raise DatasetError(f"{p}: annotation id {aid} is used twice: annotations[{j}] (image {img}) and "
                                       f"annotations[{i}] (image {a['image_id']})")
                first[aid] = (i, a["image_id"])
            by_image.setdefault(int(a["image_id"]), []).append(a)
    manifest = {}
    if (p.parent / MANIFEST).exists():
        manifest = {r["file"]: r for r in read_manifest(inside_root(p.parent, p.parent / MANIFEST, follow_symlinks))}
    samples = []
    for im in images:
        where = f"{p}: image {im['id']}"
        with malformed(where):
            name = im["file_name"]
            if not isinstance(name, str):
                raise DatasetError(f"{where}: file_name must be a string")
            f = inside_root(img_root, img_root / name, follow_symlinks)
            data = read_image(f)
            h, w = data.shape[:2]
            if int(im.get("height", h)) != h or int(im.get("width", w)) != w:
                raise DatasetError(f"{f}: image is {w}x{h} but {p.name} says {im.get('width')}x{im.get('height')}")
            objects = [_object(a, cats, h, w, name, f"{p}: annotation {a.get('id')}") for a in by_image.get(int(im["id"]), [])]
            label = im.get("label")
            if label is None:
                label = max(objects, key=lambda o: o["bbox"][2] * o["bbox"][3])["category"] if objects else "background"
            label = check_label(label, f"{where} ({name})")
            rec = manifest.get(Path("images", name).as_posix()) or manifest.get(name)
            samples.append(
                Sample(
                    id=rec["id"] if rec else f"coco:{name}",
                    data=data,
                    label=label,
                    annotations={"objects": objects},
                    provenance=provenance_of(rec) if rec else None,
                    meta={"file": name, "path": str(f), "coco_id": int(im["id"]),
                          "extra": {k: v for k, v in (rec or {}).items() if k not in CORE_KEYS}},
                )
            )
    if any(s.label == "background" for s in samples) and "background" not in classes:
        classes = classes + ["background"]
    task = "detection"
    if any("mask" in o for s in samples for o in s.annotations["objects"]):
        task = "segmentation"
    info = {"categories": coco["categories"]}
    return Dataset(samples, classes, str(p), "coco", "image", task, info)


def _object(a: dict, cats: dict[int, str], h: int, w: int, image: str, where: str) -> dict:
    """One COCO annotation as an object of an ``h`` x ``w`` image; errors name ``where``."""
    with malformed(where):
        x, y, bw, bh = (float(v) for v in a["bbox"])
        if not bw > 0 or not bh > 0 or not x >= -0.5 or not y >= -0.5 or not x + bw <= w + 0.5 or not y + bh <= h + 0.5:
            raise DatasetError(f"{where} box {a['bbox']} lies outside image {image} ({w}x{h})")
        obj = {"category": cats[int(a["category_id"])], "bbox": [x, y, bw, bh], "iscrowd": int(a.get("iscrowd", 0))}
        seg = a.get("segmentation")
        if isinstance(seg, list) and seg:
            obj["mask"] = polygons_to_mask(seg, h, w)
        elif isinstance(seg, dict):
            if [int(v) for v in seg["size"]] != [h, w]:
                raise DatasetError(f"{where}: RLE size {seg['size']} but image {image} is {h}x{w} (height, width)")
            obj["mask"] = rle_to_mask(seg, where)
        if a.get("keypoints"):
            obj["keypoints"] = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3).tolist()
    return obj


def write_coco(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None, categories=None) -> Path:
    """Write ``out/images/*.png``, ``out/annotations.json`` and ``out/manifest.jsonl`` atomically.

    Masks are written as uncompressed RLE, so a round trip is exact.
    """
    out_path = Path(out)
    samples = list(samples)
    if categories is None:
        names = [c for c in classes if c != "background"]
        for s in samples:
            for o in s.annotations.get("objects", []):
                if o["category"] not in names:
                    names.append(o["category"])
        categories = [{"id": i + 1, "name": n, "supercategory": n} for i, n in enumerate(names)]
    cat_id = {c["name"]: int(c["id"]) for c in categories}
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        (tmp / "images").mkdir()
        images, anns, recs = [], [], []
        used: set[str] = set()
        aid = 1
        for k, s in enumerate(samples, 1):
            data, ext = sample_bytes(s)
            name = f"{sample_stem(s)}{ext}"
            if name in used:
                name = f"{safe_name(s.id)}-{k}{ext}"
            used.add(name)
            safe_join(tmp, "images", name).write_bytes(data)
            h, w = s.data.shape[:2]
            images.append({"id": k, "file_name": name, "height": int(h), "width": int(w), "label": s.label})
            for o in s.annotations.get("objects", []):
                if o["category"] not in cat_id:
                    raise DatasetError(f"sample {s.id}: object category '{o['category']}' is not in the category list")
                a = {"id": aid, "image_id": k, "category_id": cat_id[o["category"]], "bbox": [float(v) for v in o["bbox"]],
                     "area": float(o["bbox"][2] * o["bbox"][3]), "iscrowd": int(o.get("iscrowd", 0))}
                if o.get("mask") is not None:
                    a["segmentation"] = mask_to_rle(o["mask"])
                    a["area"] = float(np.asarray(o["mask"]).astype(bool).sum())
                else:
                    x, y, bw, bh = a["bbox"]
                    a["segmentation"] = [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]
                if o.get("keypoints") is not None:
                    kp = np.asarray(o["keypoints"], dtype=float).reshape(-1, 3)
                    a["keypoints"] = kp.reshape(-1).tolist()
                    a["num_keypoints"] = int((kp[:, 2] > 0).sum())
                anns.append(a)
                aid += 1
            recs.append(record(s, f"images/{name}", sha256_bytes(data), **(extra(s) if extra else {})))
        coco = {"images": images, "annotations": anns, "categories": categories,
                "info": {"description": "written by synthgen"}}
        (tmp / ANNOTATIONS).write_text(dumps(coco), encoding="utf-8")
        write_manifest(tmp / MANIFEST, recs)
    return out_path
