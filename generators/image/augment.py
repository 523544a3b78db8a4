"""``generator=image_augment``: an albumentations pipeline written in YAML, applied to real images.

Each synthetic image has one real parent of the target class, chosen by the sample's own RNG; the
pipeline is seeded per sample, so output does not depend on how work is split.  Boxes, masks and
keypoints of COCO inputs move with the pixels; an object whose box is dropped loses its label and
mask too, and boxes of masked objects are recomputed from the transformed mask so they always agree.

YAML form of ``transforms`` (each item is one albumentations transform, built with ``strict=True``
so a misspelt argument is an error, not a silent default)::

    transforms:
      - {name: HorizontalFlip, p: 0.5}
      - {name: OneOf, p: 0.8, transforms: [{name: Blur}, {name: GaussNoise, std_range: [0.02, 0.06]}]}
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError
from synthgen.io.common import mask_to_bbox

from ..base import BaseGenerator

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

_COMPOSITIONS = {"OneOf", "SomeOf", "Sequential", "OneOrOther", "SelectiveChannelTransform"}


def build_transform(spec: dict[str, Any], key: str):
    """One YAML item -> an albumentations transform; errors name the config key."""
    from synthgen.lazy import albumentations_transform  # albumentations without torch

    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"{key}: each transform needs a 'name' (e.g. {{name: HorizontalFlip, p: 0.5}})")
    spec = dict(spec)
    name = spec.pop("name")
    cls = albumentations_transform(str(name))
    if cls is None or not isinstance(cls, type):
        raise ConfigError(f"{key}.name: albumentations has no transform '{name}'")
    if name in _COMPOSITIONS:
        children = [build_transform(t, f"{key}.transforms[{i}]") for i, t in enumerate(spec.pop("transforms", []))]
        try:
            return cls(children, **spec)
        except Exception as e:
            raise ConfigError(f"{key}: {str(e).splitlines()[0]}") from None
    for k, v in list(spec.items()):
        if isinstance(v, list):
            spec[k] = tuple(v)
    try:
        return cls(**spec, strict=True)
    except Exception as e:
        raise ConfigError(f"{key}: {str(e).splitlines()[0]}") from None


def _clean(v: Any) -> Any:
    """Applied parameters -> small JSON values (rounded floats; big arrays summarised by shape)."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is float or isinstance(v, np.floating):
        return round(float(v), 5)
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items() if k != "shape"}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return np.round(v.astype(float), 4).tolist() if v.size <= 16 else f"array{list(v.shape)}"
    if isinstance(v, np.integer):
        return int(v)
    return str(v)


class ImageAugment(BaseGenerator):
    """Label-preserving augmentation of real images of the target class."""

    modality = "image"
    version = "1"
    short_name = "augment"
    libraries = ("albumentations", "albucore", "opencv-python-headless", "numpy")
    evidence_kind = "per_parent"  # a sample is its one parent, augmented with its own seed

    def __init__(self, transforms: list[dict[str, Any]], min_visibility: float = 0.3, min_area: float = 4.0):
        self.transforms = plain(transforms)
        self.min_visibility = float(min_visibility)
        self.min_area = float(min_area)
        self._compose = {}

    def compose(self, targets: bool = True):
        """The albumentations pipeline; ``targets=False`` builds the image-only variant (no box and
        keypoint processors) used for samples without objects, which is what keeps overhead low."""
        if targets not in self._compose:
            from synthgen.lazy import albumentations

            A = albumentations()  # without torch

            if not isinstance(self.transforms, list) or not self.transforms:
                raise ConfigError("generator.transforms: must be a non-empty list")
            items = [build_transform(t, f"generator.transforms[{i}]") for i, t in enumerate(self.transforms)]
            extra = {}
            if targets:
                extra = dict(
                    bbox_params=A.BboxParams(format="coco", label_fields=["obj_idx"], clip=True,
                                             min_visibility=self.min_visibility, min_area=self.min_area),
                    keypoint_params=A.KeypointParams(format="xy", label_fields=["kp_idx"], remove_invisible=False),
                )
            self._compose[targets] = A.Compose(items, save_applied_params=True, seed=0, **extra)
        return self._compose[targets]

    def apply(self, image: np.ndarray, annotations: dict[str, Any], seed: int):
        """Apply the pipeline with a given seed; returns (image, annotations, applied params)."""
        objs = annotations.get("objects", [])
        if not objs:
            comp = self.compose(targets=False)
            comp.set_random_seed(seed)
            out = comp(image=image)
            params = [{"transform": name, **_clean(p)} for name, p in out.get("applied_transforms", [])]
            return out["image"], dict(annotations), params
        comp = self.compose()
        h, w = image.shape[:2]
        boxes, obj_idx, masks, mask_owner, kps, kp_idx = [], [], [], [], [], []
        for j, o in enumerate(objs):
            x, y, bw, bh = o["bbox"]
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(w), x + bw), min(float(h), y + bh)
            if x1 > x0 and y1 > y0:
                boxes.append([x0, y0, x1 - x0, y1 - y0])
                obj_idx.append(j)
            if o.get("mask") is not None:
                masks.append(np.asarray(o["mask"], dtype=np.uint8))
                mask_owner.append(j)
            for k, kp in enumerate(o.get("keypoints") or []):
                kps.append([float(kp[0]), float(kp[1])])
                kp_idx.append((j, k))
        comp.set_random_seed(seed)
        data = {"image": image, "bboxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4), "obj_idx": obj_idx,
                "keypoints": np.asarray(kps, dtype=np.float32).reshape(-1, 2), "kp_idx": list(range(len(kps)))}
        if masks:
            data["masks"] = masks
        out = comp(**data)
        img = out["image"]
        oh, ow = img.shape[:2]
        new_masks = dict(zip(mask_owner, out.get("masks", []))) if masks else {}
        kept_boxes = {int(j): [float(v) for v in b] for j, b in zip(out["obj_idx"], out["bboxes"])}
        new_kps: dict[int, list[list[float]]] = {}
        for (j, k), pt in zip([kp_idx[int(i)] for i in out["kp_idx"]], out["keypoints"]):
            vis = objs[j]["keypoints"][k][2]
            inside = 0 <= pt[0] < ow and 0 <= pt[1] < oh
            new_kps.setdefault(j, []).append([float(pt[0]), float(pt[1]), float(vis if inside else 0)])
        new_objs = []
        for j, o in enumerate(objs):
            if j not in kept_boxes:
                continue  # dropped: its label, mask and keypoints go with it
            no = {k: v for k, v in o.items() if k not in ("mask", "bbox", "keypoints")}
            if j in new_masks:
                m = (np.asarray(new_masks[j]) > 0).astype(np.uint8)
                bb = mask_to_bbox(m)
                if bb is None:
                    continue
                no["mask"], no["bbox"] = m, bb
            else:
                no["bbox"] = kept_boxes[j]
            if o.get("keypoints") is not None:
                no["keypoints"] = new_kps.get(j, [])
            new_objs.append(no)
        ann = dict(annotations)
        if "objects" in annotations:
            ann["objects"] = new_objs
        params = [{"transform": name, **_clean(p)} for name, p in out.get("applied_transforms", [])]
        return img, ann, params

    def _make(self, label, index, rng, seed):
        pool = self.candidates(label)
        parent = pool[int(rng.integers(len(pool)))]
        aug_seed = int(rng.integers(2**31 - 1))
        img, ann, applied = self.apply(parent.data, parent.annotations, aug_seed)
        return np.ascontiguousarray(img), ann, [parent.id], {"parent": parent.id, "albumentations_seed": aug_seed, "applied": applied}
