"""``generator=image_copy_paste``: Simple Copy-Paste (Ghiasi et al., CVPR 2021) for rare classes.

``fit`` builds an object pool from the real annotated instances of each class (the instance mask, or
its box when there is no mask; instances cut by the image border are skipped by default, since
pasting half an object teaches the wrong shape) and a background pool (real images of the other
classes, or every image in a folder).  Each synthetic image is one background with 1..k objects of
the target class pasted on it, each with its own scale, flip and rotation jitter and one blend mode:

* ``hard``: pixels of the mask replace the background;
* ``gaussian``: the mask, blurred with ``feather_sigma``, is the alpha (the label stays the exact mask);
* ``poisson``: ``cv2.seamlessClone`` (gradient-domain blending; colours shift towards the background).

Labels are exact: a pasted object's mask is the warped source mask, its box the tight box of that mask.
Every object a later paste covers has its mask and box cut down to what stays visible; an object
left with less than ``min_visibility`` of its area (or under ``min_area`` pixels) is dropped with its
label and keypoints.  ``max_overlap`` limits how much of an earlier object a new paste may cover,
``objects_per_image`` how many objects are pasted.

The module also holds the scene helpers the procedural generator shares (``occlude``).  The label
checks every image generator's output passes are :func:`synthgen.validators.labels.image_problems`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError, DatasetError, InsufficientDataError
from synthgen.io.common import IMAGE_EXTENSIONS, read_image

from ..base import BaseGenerator

BLENDS = ("hard", "gaussian", "poisson")


# --- scene helpers (shared with the procedural generator) --------------------------------------

def tight_box(mask: np.ndarray) -> list[float] | None:
    """[x, y, w, h] of the nonzero pixels (same values as ``mask_to_bbox``, without ``np.nonzero``)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1 - cols[0]), float(rows[-1] + 1 - rows[0])]


def _touches(box: list[float], other: list[float] | None) -> bool:
    if other is None:
        return False
    return box[0] < other[0] + other[2] and other[0] < box[0] + box[2] and box[1] < other[1] + other[3] and other[1] < box[1] + box[3]


def occlude(objects: list[dict], cover: np.ndarray, min_visibility: float, min_area: float) -> tuple[list[dict], list[str]]:
    """Cut ``cover`` (HxW bool) out of every object's mask; drop objects that become too small.

    Each object carries ``mask`` (uint8), ``bbox`` and the private key ``_area0`` (its area when it
    entered the image).  Keypoints under ``cover``, or with none of the object left within two
    pixels, become visibility 1 (labelled, not visible).
    Returns the kept objects and the categories of the dropped ones.
    """
    kept, dropped = [], []
    cb = tight_box(cover)
    for o in objects:
        if not _touches(o["bbox"], cb):  # untouched: nothing to cut
            kept.append(o)
            continue
        m = o["mask"].astype(bool) & ~cover
        area = int(m.sum())
        if area < min_area or area < min_visibility * o["_area0"]:
            dropped.append(o["category"])
            continue
        o = dict(o)
        o["mask"] = m.astype(np.uint8)
        o["bbox"] = tight_box(o["mask"])
        if o.get("keypoints"):
            kps = []
            for x, y, v in o["keypoints"]:
                xi, yi = int(np.floor(x)), int(np.floor(y))
                if v > 0 and 0 <= yi < cover.shape[0] and 0 <= xi < cover.shape[1]:
                    near = m[max(0, yi - 2):yi + 3, max(0, xi - 2):xi + 3]
                    if cover[yi, xi] or not near.any():  # covered, or its part of the object is gone
                        v = 1.0
                kps.append([x, y, v])
            o["keypoints"] = kps
        kept.append(o)
    return kept, dropped


def finish_objects(objects: list[dict]) -> list[dict]:
    """Drop private keys; order keys canonically."""
    out = []
    for o in objects:
        d = {"category": o["category"], "bbox": [float(v) for v in o["bbox"]], "iscrowd": 0}
        if o.get("mask") is not None:
            d["mask"] = np.array(o["mask"], dtype=np.uint8, copy=True)  # never share a cached (read-only) mask
        if o.get("keypoints") is not None:
            d["keypoints"] = [[round(float(x), 3), round(float(y), 3), float(v)] for x, y, v in o["keypoints"]]
        out.append(d)
    return out


def feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A soft alpha in [0, 1] from a binary mask (Gaussian-blurred inside the mask's own footprint)."""
    import cv2

    a = mask.astype(np.float32)
    if sigma <= 0:
        return a
    k = int(2 * round(3 * sigma) + 1)
    return np.clip(cv2.GaussianBlur(a, (k, k), sigma, borderType=cv2.BORDER_CONSTANT), 0.0, 1.0)


def _range(v: Any, key: str, lo: float | None = None, hi: float | None = None) -> tuple[float, float]:
    v = plain(v)
    if isinstance(v, (int, float)):
        v = [v, v]
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ConfigError(f"generator.{key}: expected [min, max], got {v!r}")
    a, b = float(v[0]), float(v[1])
    if a > b or (lo is not None and a < lo) or (hi is not None and b > hi):
        raise ConfigError(f"generator.{key}: need {lo if lo is not None else '-inf'} <= min <= max <= {hi if hi is not None else 'inf'}, got {list(v)}")
    return a, b


# --- the generator -----------------------------------------------------------------------------

class ImageCopyPaste(BaseGenerator):
    """Paste real instances of the rare class onto real backgrounds, with exact boxes and masks."""

    modality = "image"
    version = "1"
    short_name = "copypaste"
    libraries = ("opencv-python-headless", "numpy")

    def __init__(self, objects_per_image=(1, 3), scale=(0.8, 1.25), rotate=(-30.0, 30.0), hflip: float = 0.5,
                 vflip: float = 0.0, blend: str = "gaussian", feather_sigma: float = 1.5, max_overlap: float = 0.3,
                 min_visibility: float = 0.3, min_area: float = 16.0, background: str = "other_classes",
                 background_path: str | None = None, keep_background_objects: bool = True,
                 skip_truncated: bool = True, max_tries: int = 20):
        self.objects_per_image = plain(objects_per_image)
        self.scale = plain(scale)
        self.rotate = plain(rotate)
        self.hflip = float(hflip)
        self.vflip = float(vflip)
        self.blend = blend
        self.feather_sigma = float(feather_sigma)
        self.max_overlap = float(max_overlap)
        self.min_visibility = float(min_visibility)
        self.min_area = float(min_area)
        self.background = background
        self.background_path = background_path
        self.keep_background_objects = bool(keep_background_objects)
        self.skip_truncated = bool(skip_truncated)
        self.max_tries = int(max_tries)

    # -- configuration checks ------------------------------------------------------------------
    def _check(self) -> None:
        if self.blend not in BLENDS:
            raise ConfigError(f"generator.blend: must be one of {', '.join(BLENDS)}, got {self.blend!r}")
        lo, hi = _range(self.objects_per_image, "objects_per_image", 1)
        if lo != int(lo) or hi != int(hi):
            raise ConfigError(f"generator.objects_per_image: must be integers, got {self.objects_per_image}")
        _range(self.scale, "scale", 1e-3)
        _range(self.rotate, "rotate", -180, 180)
        for k in ("hflip", "vflip", "max_overlap", "min_visibility"):
            if not 0.0 <= getattr(self, k) <= 1.0:
                raise ConfigError(f"generator.{k}: must be in [0, 1], got {getattr(self, k)}")
        if self.background not in ("other_classes", "any", "folder"):
            raise ConfigError(f"generator.background: must be other_classes, any or folder, got {self.background!r}")
        if self.background == "folder" and not self.background_path:
            raise ConfigError("generator.background_path: missing (background=folder needs a folder of images)")

    # -- learning ------------------------------------------------------------------------------
    def fit(self, real) -> "ImageCopyPaste":
        """Build the object pool (per category) and the background pool from ``real``."""
        self._check()
        self.real_ = real
        self._bg_cache, self._bgs_by_label = {}, {}
        self.pool_: dict[str, list[dict]] = {}
        skipped = 0
        for s in real.samples:
            h, w = s.data.shape[:2]
            for j, o in enumerate(s.annotations.get("objects", [])):
                if o.get("iscrowd"):
                    continue
                x, y, bw, bh = o["bbox"]
                x0, y0 = int(np.floor(max(0, x))), int(np.floor(max(0, y)))
                x1, y1 = int(np.ceil(min(w, x + bw))), int(np.ceil(min(h, y + bh)))
                if x1 - x0 < 2 or y1 - y0 < 2:
                    continue
                if self.skip_truncated and (x0 <= 0 or y0 <= 0 or x1 >= w or y1 >= h):
                    skipped += 1
                    continue
                if o.get("mask") is not None:
                    m = np.asarray(o["mask"], dtype=np.uint8)[y0:y1, x0:x1]
                else:
                    m = np.ones((y1 - y0, x1 - x0), dtype=np.uint8)
                if m.sum() < self.min_area:
                    continue
                kps = None
                if o.get("keypoints") is not None:
                    kps = [[float(k[0]) - x0, float(k[1]) - y0, float(k[2])] for k in o["keypoints"]]
                self.pool_.setdefault(o["category"], []).append(
                    {"parent": s.id, "object": j, "pixels": np.ascontiguousarray(s.data[y0:y1, x0:x1]), "mask": m,
                     "keypoints": kps, "has_mask": o.get("mask") is not None})
        self.skipped_truncated_ = skipped
        if self.background == "folder":
            root = Path(str(self.background_path)).expanduser()
            if not root.is_dir():
                raise DatasetError(f"{root}: generator.background_path is not a folder")
            files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise DatasetError(f"{root}: generator.background_path holds no images")
            self.backgrounds_ = [{"id": f"background:{p.relative_to(root).as_posix()}", "data": read_image(p), "objects": []} for p in files]
        else:
            self.backgrounds_ = None
        return self

    def _backgrounds(self, label: str) -> list[dict]:
        if self.backgrounds_ is not None:
            return self.backgrounds_
        cache = self.__dict__.setdefault("_bgs_by_label", {})
        if label in cache:
            return cache[label]
        real = self.real_
        pool = [s for s in real.samples if self.background == "any" or s.label != label]
        if not pool:
            raise InsufficientDataError(f"class '{label}': no background images (every real image is of this class; "
                                        f"set generator.background=any or background=folder)")
        g = getattr(self, "guidance_", None) or {}  # model-guided: backgrounds of the classes the model confuses
        confused, times = set((g.get("confusions") or {}).get(label) or ()), 1 + int(g.get("parent_boost", 0) or 0)
        cache[label] = [{"id": s.id, "data": s.data, "objects": s.annotations.get("objects", [])}
                        for s in pool for _ in range(times if s.label in confused else 1)]
        return cache[label]

    def _pool(self, label: str) -> list[dict]:
        if getattr(self, "real_", None) is None:
            raise ConfigError(f"generator {self.short_name}: call fit(real) before generate()")
        pool = self.pool_.get(label)
        if not pool:
            raise InsufficientDataError(
                f"class '{label}': no annotated instances to paste in {self.real_.source} (copy-paste needs boxes or masks"
                + (f"; {self.skipped_truncated_} truncated instances were skipped, see generator.skip_truncated" if self.skipped_truncated_ else "") + ")")
        return pool

    # -- one object -----------------------------------------------------------------------------
    @staticmethod
    def _warp(obj: dict, s: float, angle: float, hf: bool, vf: bool, limit: tuple[int, int]):
        """Scale/rotate/flip an object patch; returns (pixels, mask, keypoints) on a tight canvas.

        The patch is shrunk further when it would not fit in ``limit`` (h, w).
        """
        import cv2

        pix, m = obj["pixels"], obj["mask"]
        kps = obj["keypoints"]
        h, w = m.shape
        if hf:
            pix, m = pix[:, ::-1], m[:, ::-1]
            kps = [[w - x, y, v] for x, y, v in kps] if kps else kps
        if vf:
            pix, m = pix[::-1], m[::-1]
            kps = [[x, h - y, v] for x, y, v in kps] if kps else kps
        a = np.deg2rad(angle)
        cw, sw = abs(np.cos(a)) * w + abs(np.sin(a)) * h, abs(np.sin(a)) * w + abs(np.cos(a)) * h
        s = min(s, (limit[1] - 4) / max(cw, 1), (limit[0] - 4) / max(sw, 1))
        ow, oh = int(np.ceil(cw * s)) + 4, int(np.ceil(sw * s)) + 4
        M = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, s)
        M[0, 2] += ow / 2.0 - w / 2.0
        M[1, 2] += oh / 2.0 - h / 2.0
        pix = cv2.warpAffine(np.ascontiguousarray(pix), M, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(np.ascontiguousarray(m, dtype=np.float32), M, (ow, oh), flags=cv2.INTER_LINEAR, borderValue=0)
        mask = (alpha >= 0.5).astype(np.uint8)
        if kps:
            pts = np.asarray([[x, y, 1.0] for x, y, _ in kps]) @ M.T
            kps = [[float(p[0]), float(p[1]), float(k[2])] for p, k in zip(pts, kps)]
        return pix, mask, kps, float(s)

    def _make(self, label, index, rng, seed):
        import cv2

        cv2.setNumThreads(1)
        pool = self._pool(label)
        bgs = self._backgrounds(label)
        tried = []
        for _attempt in range(self.max_tries):
            bg = bgs[int(rng.integers(len(bgs)))]
            tried.append(bg["id"])
            res = self._compose(label, bg, pool, rng)
            if res is not None:
                break
        else:
            raise InsufficientDataError(
                f"class '{label}': sample {index} could not place any object on {self.max_tries} backgrounds "
                f"(objects too large for the images, or generator.max_overlap too strict)")
        img, objects, pasted, dropped, rejected, parents = res
        out = finish_objects(objects)
        # objects that came from boxes keep a box-shaped mask only while no mask is known; report them as boxes
        for o, src in zip(out, objects):
            if src.get("_box_only"):
                o.pop("mask", None)
        params = {"background": bg["id"], "backgrounds_tried": len(tried), "blend": self.blend, "objects": pasted, "dropped": dropped, "rejected": rejected}
        return img, {"objects": out}, list(dict.fromkeys(parents)), params

    def _bg_objects(self, bg: dict, H: int, W: int) -> list[dict]:
        """The labelled objects of a background as full-size masks (computed once per background)."""
        cache = self.__dict__.setdefault("_bg_cache", {})
        if bg["id"] in cache:
            return cache[bg["id"]]
        out = []
        for o in bg["objects"]:
            if o.get("mask") is not None:
                m = (np.asarray(o["mask"]) > 0).astype(np.uint8)
            else:
                m = np.zeros((H, W), np.uint8)
                x, y, bw, bh = o["bbox"]
                m[int(np.floor(max(0, y))):int(np.ceil(min(H, y + bh))), int(np.floor(max(0, x))):int(np.ceil(min(W, x + bw)))] = 1
            if m.sum() == 0:
                continue
            m.setflags(write=False)
            out.append({"category": o["category"], "mask": m, "bbox": tight_box(m), "_area0": int(m.sum()),
                        "keypoints": o.get("keypoints"), "_box_only": o.get("mask") is None, "_bg": True})
        cache[bg["id"]] = out
        return out

    def _compose(self, label, bg, pool, rng):
        """Paste 1..k objects on one background; ``None`` when none could be placed."""
        img = np.array(bg["data"], dtype=np.uint8, copy=True)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        H, W = img.shape[:2]
        objects: list[dict] = list(self._bg_objects(bg, H, W)) if self.keep_background_objects else []
        lo, hi = (int(v) for v in _range(self.objects_per_image, "objects_per_image", 1))
        k = int(rng.integers(lo, hi + 1))
        s_lo, s_hi = _range(self.scale, "scale", 1e-3)
        r_lo, r_hi = _range(self.rotate, "rotate", -180, 180)
        pasted, dropped, rejected = [], [], 0
        parents = [bg["id"]]
        for _ in range(k):
            obj = pool[int(rng.integers(len(pool)))]
            s, ang = float(rng.uniform(s_lo, s_hi)), float(rng.uniform(r_lo, r_hi))
            hf, vf = bool(rng.random() < self.hflip), bool(rng.random() < self.vflip)
            pix, mask, kps, s_used = self._warp(obj, s, ang, hf, vf, (H, W))
            oh, ow = mask.shape
            if mask.sum() < self.min_area or oh > H or ow > W:
                rejected += 1
                continue
            place = None
            for _t in range(self.max_tries):
                px, py = int(rng.integers(0, W - ow + 1)), int(rng.integers(0, H - oh + 1))
                box = [float(px), float(py), float(ow), float(oh)]
                sub = mask > 0
                if all(not _touches(box, o["bbox"]) or
                       (o["mask"][py:py + oh, px:px + ow].astype(bool) & sub).sum() <= self.max_overlap * o["_area0"]
                       for o in objects):
                    full = np.zeros((H, W), bool)
                    full[py:py + oh, px:px + ow] = sub
                    place = (px, py, full)
                    break
            if place is None:
                rejected += 1
                continue
            px, py, full = place
            img = self._blend(img, pix, mask, px, py)
            objects, gone = occlude(objects, full, self.min_visibility, self.min_area)
            dropped.extend(gone)
            fm = full.astype(np.uint8)
            kp_full = [[x + px, y + py, v if 0 <= x + px < W and 0 <= y + py < H else 0.0] for x, y, v in kps] if kps else None
            objects.append({"category": label, "mask": fm, "bbox": tight_box(fm), "_area0": int(fm.sum()), "keypoints": kp_full,
                            "_box_only": not obj["has_mask"]})
            parents.append(obj["parent"])
            pasted.append({"parent": obj["parent"], "object": obj["object"], "scale": round(s_used, 5), "rotate": round(ang, 4),
                           "hflip": hf, "vflip": vf, "x": px, "y": py})
        if not pasted or not any(o["category"] == label and not o.get("_bg") for o in objects):
            return None
        return img, objects, pasted, dropped, rejected, parents

    def _blend(self, img: np.ndarray, pix: np.ndarray, mask: np.ndarray, px: int, py: int) -> np.ndarray:
        import cv2

        oh, ow = mask.shape
        if pix.ndim == 2:
            pix = np.repeat(pix[:, :, None], 3, axis=2)
        region = img[py:py + oh, px:px + ow]
        if self.blend == "hard":
            region[mask > 0] = pix[mask > 0]
        elif self.blend == "gaussian":
            a = feather(mask, self.feather_sigma)[:, :, None]
            a = np.where(mask[:, :, None] > 0, np.maximum(a, 0.5), a)  # every labelled pixel is at least half object
            region[...] = np.clip(a * pix.astype(np.float32) + (1 - a) * region.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
        else:  # poisson
            k3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
            m255 = cv2.dilate(mask, k3) * np.uint8(255)  # one pixel of context around the object
            ys, xs = np.nonzero(m255)
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            H, W = img.shape[:2]
            if x0 + px < 1 or y0 + py < 1 or x1 + px > W - 1 or y1 + py > H - 1:
                region[mask > 0] = pix[mask > 0]  # seamlessClone needs a one-pixel frame inside the image
                return img
            clone = cv2.seamlessClone(np.ascontiguousarray(pix), img, m255, (int(px + (x0 + x1) // 2), int(py + (y0 + y1) // 2)), cv2.NORMAL_CLONE)
            out = img.copy()
            sel = np.zeros(img.shape[:2], bool)
            sel[py:py + oh, px:px + ow] = mask > 0
            out[sel] = clone[sel]
            return out
        return img
