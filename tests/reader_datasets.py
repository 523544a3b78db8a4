"""Small valid datasets of every readable format, written by synthgen's own writers, and their readers.

Shared by the fuzz tests and the hostile-input tests: ``build(fmt, folder)`` writes one and returns
the path its reader takes; ``read(fmt, path, **kw)`` reads it back.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgen.io import formats
from synthgen.sample import Sample

FORMATS = ("imagefolder", "coco", "yolo", "jsonl", "npz", "ply", "ply_ascii", "pcd", "pcd_ascii", "kitti", "conll", "labelstudio")


def image_samples() -> list[Sample]:
    rng = np.random.default_rng(0)
    out = []
    for i, label in enumerate(["cat", "cat", "dog"]):
        mask = np.zeros((12, 16), np.uint8)
        mask[3:8, 2 + i:9 + i] = 1
        obj = {"category": label, "bbox": [2.0 + i, 3.0, 7.0, 5.0], "mask": mask, "keypoints": [[3.0, 4.0, 2.0], [5.0, 6.0, 2.0]], "iscrowd": 0}
        out.append(Sample(f"img{i}", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), label, {"objects": [obj]}))
    return out


def text_samples() -> list[Sample]:
    texts = [("Anna flew to Paris.", "travel", [(0, 4, "PERSON"), (13, 18, "CITY")]),
             ("Refund my order 42, Bob.", "payment", [(20, 23, "PERSON")]),
             ("Tom's parcel is late.", "delivery", [(0, 3, "PERSON")]),
             ("Where is my refund?", "payment", [])]
    return [Sample(f"t{i}", t, label, {"spans": [{"start": a, "end": b, "label": k} for a, b, k in spans]}, modality="text")
            for i, (t, label, spans) in enumerate(texts)]


def point_samples() -> list[Sample]:
    rng = np.random.default_rng(1)
    out = []
    for i, label in enumerate(["car", "car", "cyclist"]):
        pts = np.column_stack([rng.uniform(-5, 5, (40, 2)), rng.uniform(0, 2, 40)]).astype(np.float32)
        box = {"category": label, "center": [1.0, 0.5, 1.0], "size": [2.0, 1.0, 1.5], "yaw": 0.3, "instance_id": 0, "num_points": 0}
        ann = {"point_labels": np.zeros(40, np.int32), "instance_ids": np.full(40, -1, np.int32),
               "label_names": ["unlabeled", label], "boxes3d": [box]}
        out.append(Sample(f"p{i}", pts, label, ann, modality="points"))
    return out


def _to_ascii(root: Path, ext: str) -> None:
    import open3d as o3d

    for f in sorted(root.glob(f"*/*{ext}")):
        o3d.t.io.write_point_cloud(str(f), o3d.t.io.read_point_cloud(str(f)), write_ascii=True)


def build(fmt: str, folder: Path) -> Path:
    """Write a small valid ``fmt`` dataset at ``folder``; returns the path its reader takes."""
    if fmt == "conll":
        from synthgen.io.conll import write_conll

        return write_conll(text_samples(), None, str(folder / "out.conll"))
    if fmt == "labelstudio":
        from synthgen.io.labelstudio import write_labelstudio

        return write_labelstudio(text_samples(), ["travel", "payment", "delivery"], str(folder / "tasks.json"))
    name = fmt.removesuffix("_ascii")
    modality = formats.get(name).modality
    samples = {"image": image_samples, "text": text_samples, "points": point_samples}[modality]()
    kw = {"camera": "kitti"} if name == "kitti" else {}  # a camera: 2D boxes, and no warning about their absence
    out = formats.get(name).write(samples, sorted({s.label for s in samples}), str(folder), **kw)
    if fmt.endswith("_ascii"):
        _to_ascii(Path(out), f".{name}")
    return Path(out)


def read(fmt: str, path: Path, **kw):
    """Read ``path`` with the reader of ``fmt``."""
    if fmt == "conll":
        from synthgen.io.conll import read_conll

        return read_conll(str(path))
    if fmt == "labelstudio":
        from synthgen.io.labelstudio import read_labelstudio

        return read_labelstudio(str(path))
    return formats.get(fmt.removesuffix("_ascii")).read(str(path), **kw)
