"""``generator=image_procedural``: images drawn from scratch, with labels exact by construction.

For cold starts and edge cases with nothing real to copy.  Each class is drawn as a parametric
shape (``circle``, ``ellipse``, ``square``, ``rectangle``, ``triangle``, ``star``, ``hexagon``,
``cross``) or as a glyph (text drawn with one of OpenCV's Hershey fonts): a class whose name is a
shape is that shape, any other class is drawn as the glyph of its own name (``"3"`` on digits), and
``classes`` in the config overrides either, e.g. ``{large_coin: {shape: circle, size: [0.5, 0.6]}}``.

Objects get a random colour or texture (solid, stripes, noise) on a random background (solid,
gradient, noise, stripes, checker).  The object's mask is exactly the set of pixels painted for it,
its box the tight box of that mask; objects drawn later occlude earlier ones, whose masks and boxes
are cut down (and dropped with their labels below ``min_visibility``).  Polygon shapes carry their
vertices as keypoints (visibility 2, or 1 when covered).  Optional blur and noise apply to the whole
image after labelling and do not move any pixel.

``fit(real)`` needs no real data: when given, it only adopts the real images' size (the median),
whether they are greyscale, the task (classification: one centred object; detection/segmentation:
several objects, ``distractors`` of other classes among them) and the class list for distractors.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError

from ..base import BaseGenerator
from .copy_paste import _range, finish_objects, occlude, tight_box

SHAPES = ("circle", "ellipse", "square", "rectangle", "triangle", "star", "hexagon", "cross")
BACKGROUNDS = ("solid", "gradient", "noise", "stripes", "checker")
TEXTURES = ("solid", "stripes", "noise")
FONTS = (0, 1, 2, 3, 4, 6, 7)  # cv2.FONT_HERSHEY_* (5, the script font, is hard to read at small sizes)


def _polygon(shape: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-size polygon vertices (centred on 0, radius ~1) for a shape; None for round shapes."""
    if shape in ("square",):
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8
    if shape == "rectangle":
        a = float(rng.uniform(0.45, 0.7))
        return np.array([[-1, -a], [1, -a], [1, a], [-1, a]], float)
    if shape == "triangle":
        t = np.deg2rad([-90, 30, 150])
        return np.stack([np.cos(t), np.sin(t)], 1)
    if shape == "hexagon":
        t = np.deg2rad(np.arange(6) * 60)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if shape == "star":
        t = np.deg2rad(np.arange(10) * 36 - 90)
        r = np.where(np.arange(10) % 2 == 0, 1.0, float(rng.uniform(0.38, 0.5)))
        return np.stack([np.cos(t) * r, np.sin(t) * r], 1)
    if shape == "cross":
        a = float(rng.uniform(0.25, 0.4))
        return np.array([[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a]], float)
    return None


class ImageProcedural(BaseGenerator):
    """Parametric shapes and glyphs on varied backgrounds; exact boxes, masks, keypoints and labels."""

    modality = "image"
    version = "1"
    short_name = "procedural"
    libraries = ("opencv-python-headless", "numpy")

    def __init__(self, size=None, task: str = "auto", grayscale="auto", classes: dict | None = None,
                 objects_per_image=(1, 3), distractors=(0, 2), object_size=(0.35, 0.6), rotate=(-30.0, 30.0),
                 backgrounds=BACKGROUNDS, textures=TEXTURES, contrast: float = 60.0, blur=(0.0, 0.0),
                 noise: float = 0.0, max_overlap: float = 0.3, min_visibility: float = 0.3, min_area: float = 8.0,
                 keypoints: bool = True, max_tries: int = 20):
        self.size = plain(size)
        self.task = task
        self.grayscale = grayscale
        self.classes = plain(classes) or {}
        self.objects_per_image = plain(objects_per_image)
        self.distractors = plain(distractors)
        self.object_size = plain(object_size)
        self.rotate = plain(rotate)
        self.backgrounds = list(plain(backgrounds))
        self.textures = list(plain(textures))
        self.contrast = float(contrast)
        self.blur = plain(blur)
        self.noise = float(noise)
        self.max_overlap = float(max_overlap)
        self.min_visibility = float(min_visibility)
        self.min_area = float(min_area)
        self.keypoints = bool(keypoints)
        self.max_tries = int(max_tries)

    # -- configuration ---------------------------------------------------------------------------
    def _check(self) -> None:
        if self.task not in ("auto", "classification", "detection", "segmentation", "keypoints"):
            raise ConfigError(f"generator.task: must be auto, classification, detection, segmentation or keypoints, got {self.task!r}")
        if self.grayscale not in ("auto", True, False):
            raise ConfigError(f"generator.grayscale: must be auto, true or false, got {self.grayscale!r}")
        for b in self.backgrounds:
            if b not in BACKGROUNDS:
                raise ConfigError(f"generator.backgrounds: unknown background {b!r} (known: {', '.join(BACKGROUNDS)})")
        for t in self.textures:
            if t not in TEXTURES:
                raise ConfigError(f"generator.textures: unknown texture {t!r} (known: {', '.join(TEXTURES)})")
        if not self.backgrounds or not self.textures:
            raise ConfigError("generator.backgrounds/textures: must not be empty")
        if not isinstance(self.classes, dict):
            raise ConfigError(f"generator.classes: must be a mapping class -> {{shape: ..., text: ...}}, got {self.classes!r}")
        for c, spec in self.classes.items():
            if not isinstance(spec, dict) or not ({"shape", "text"} & set(spec)):
                raise ConfigError(f"generator.classes.{c}: needs 'shape' (one of {', '.join(SHAPES)}) or 'text'")
            if "shape" in spec and spec["shape"] not in SHAPES:
                raise ConfigError(f"generator.classes.{c}.shape: unknown shape {spec['shape']!r} (known: {', '.join(SHAPES)})")
            unknown = set(spec) - {"shape", "text", "size", "color"}
            if unknown:
                raise ConfigError(f"generator.classes.{c}.{sorted(unknown)[0]}: unknown key (allowed: shape, text, size, color)")
        _range(self.object_size, "object_size", 0.01, 1.0)
        _range(self.rotate, "rotate", -180, 180)
        _range(self.blur, "blur", 0.0)
        lo, _ = _range(self.objects_per_image, "objects_per_image", 1)
        _range(self.distractors, "distractors", 0)
        if self.size is not None:
            hw = self._hw(self.size)
            if min(hw) < 8:
                raise ConfigError(f"generator.size: must be at least 8 pixels, got {self.size}")

    @staticmethod
    def _hw(size) -> tuple[int, int]:
        if isinstance(size, int):
            return int(size), int(size)
        if isinstance(size, (list, tuple)) and len(size) == 2:
            return int(size[0]), int(size[1])
        raise ConfigError(f"generator.size: expected an integer or [height, width], got {size!r}")

    def fit(self, real=None) -> "ImageProcedural":
        self._check()
        self.real_ = real
        hw, gray, task, classes = (64, 64), False, "classification", list(self.classes)
        if real is not None and len(real.samples):
            shapes = np.array([s.data.shape[:2] for s in real.samples])
            hw = (int(np.median(shapes[:, 0])), int(np.median(shapes[:, 1])))
            step = max(1, len(real.samples) // 50)
            gray = all(s.data.ndim == 2 or s.data.shape[2] == 1 or (np.array_equal(s.data[..., 0], s.data[..., 1])
                       and np.array_equal(s.data[..., 1], s.data[..., 2])) for s in real.samples[::step])
            task = real.task
            classes = list(real.classes)
        if self.size is not None:
            hw = self._hw(self.size)
        if self.grayscale != "auto":
            gray = bool(self.grayscale)
        if self.task != "auto":
            task = self.task
        self.hw_, self.gray_, self.task_, self.classes_ = hw, gray, task, classes
        return self

    def _spec(self, label: str) -> dict[str, Any]:
        spec = dict(self.classes.get(label) or {})
        if not spec:
            spec = {"shape": label} if label in SHAPES else {"text": label}
        return spec

    # -- drawing ---------------------------------------------------------------------------------
    def _colour(self, rng, avoid: np.ndarray | None = None) -> np.ndarray:
        for _ in range(8):
            c = rng.integers(0, 256, size=3).astype(np.float64)
            if self.gray_:
                c[:] = c[0]
            if avoid is None or np.abs(c - avoid).mean() >= self.contrast:
                return c
        return np.where(avoid > 127, 0.0, 255.0) if avoid is not None else c

    def _background(self, rng, h: int, w: int) -> tuple[np.ndarray, str, np.ndarray]:
        kind = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
        c1, c2 = self._colour(rng), self._colour(rng)
        if self.gray_ and kind != "noise":  # keep backgrounds dark-ish or light-ish, objects contrast against them
            pass
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        if kind == "solid":
            img = np.broadcast_to(c1, (h, w, 3)).copy()
        elif kind == "gradient":
            a = float(rng.uniform(0, 2 * np.pi))
            t = (np.cos(a) * xx / max(w - 1, 1) + np.sin(a) * yy / max(h - 1, 1))
            t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
            img = c1 * (1 - t[..., None]) + c2 * t[..., None]
        elif kind == "noise":
            import cv2

            n = rng.normal(0, 1, size=(max(h // 4, 1), max(w // 4, 1))).astype(np.float32)
            n = cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)
            t = np.clip(0.5 + 0.2 * n, 0, 1)[..., None]
            img = c1 * (1 - t) + c2 * t
        elif kind == "stripes":
            period = float(rng.uniform(4, max(6, min(h, w) / 3)))
            a = float(rng.uniform(0, np.pi))
            t = (np.sin((np.cos(a) * xx + np.sin(a) * yy) * 2 * np.pi / period) > 0).astype(float)[..., None]
            img = c1 * (1 - t) + c2 * t
        else:  # checker
            cell = int(rng.integers(3, max(4, min(h, w) // 4)))
            t = (((yy // cell) + (xx // cell)) % 2)[..., None]
            img = c1 * (1 - t) + c2 * t
        return img, kind, (c1 + c2) / 2 if kind != "solid" else c1

    def _object_mask(self, spec, rng, h: int, w: int, size_frac: float, angle: float, cx: float, cy: float):
        """(mask uint8, keypoints or None, params) for one object centred at (cx, cy)."""
        import cv2

        r = size_frac * min(h, w) / 2.0
        m = np.zeros((h, w), np.uint8)
        a = np.deg2rad(angle)
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        kps = None
        if "shape" in spec:
            shape = spec["shape"]
            if shape in ("circle", "ellipse"):
                ax = (r, r) if shape == "circle" else (r, r * float(rng.uniform(0.45, 0.75)))
                t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
                pts = np.stack([np.cos(t) * ax[0], np.sin(t) * ax[1]], 1) @ R.T + [cx, cy]
            else:
                poly = _polygon(shape, rng) * r
                pts = poly @ R.T + [cx, cy]
                if self.keypoints:
                    kps = [[float(x), float(y), 2.0] for x, y in pts]
            cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
            return m, kps, {"shape": shape}
        text = str(spec["text"])
        font = FONTS[int(rng.integers(len(FONTS)))]
        thick = max(1, int(round(r / float(rng.uniform(4.0, 7.0)))))
        (tw, th), base = cv2.getTextSize(text, font, 1.0, thick)
        scale = 2 * r / max(tw, th + base, 1)
        thick = max(1, int(round(thick * min(scale, 3.0) / 1.5)))
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        canvas = np.zeros((th + base + 2 * thick + 4, tw + 2 * thick + 4), np.uint8)
        cv2.putText(canvas, text, (thick + 2, th + thick + 2), font, scale, 1, thick, cv2.LINE_8)
        ch, cw = canvas.shape
        M = cv2.getRotationMatrix2D((cw / 2.0, ch / 2.0), -angle, 1.0)
        M[0, 2] += cx - cw / 2.0
        M[1, 2] += cy - ch / 2.0
        m = cv2.warpAffine(canvas, M, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
        return m, None, {"text": text, "font": int(font), "thickness": int(thick)}

    def _paint(self, img, mask, rng, bg_colour, colour=None):
        kind = self.textures[int(rng.integers(len(self.textures)))]
        c1 = np.asarray(colour, float) if colour is not None else self._colour(rng, bg_colour)
        sel = mask > 0
        if kind == "solid":
            img[sel] = c1
        elif kind == "stripes":
            c2 = np.clip(c1 + rng.uniform(-40, 40), 0, 255)
            if self.gray_:
                c2[:] = c2[0]
            yy, xx = np.nonzero(sel)
            period = float(rng.uniform(3, 8))
            t = (np.sin((xx + yy) * 2 * np.pi / period) > 0)[:, None]
            img[yy, xx] = np.where(t, c1, c2)
        else:
            yy, xx = np.nonzero(sel)
            n = rng.normal(0, 12, size=(len(yy), 1))
            img[yy, xx] = np.clip(c1 + n, 0, 255)
        return kind, [round(float(v), 2) for v in c1]

    def _make(self, label, index, rng, seed):
        if getattr(self, "hw_", None) is None:
            raise ConfigError(f"generator {self.short_name}: call fit(real) before generate()")
        import cv2

        cv2.setNumThreads(1)
        h, w = self.hw_
        img, bg_kind, bg_colour = self._background(rng, h, w)
        multi = self.task_ != "classification"
        if multi:
            lo, hi = (int(v) for v in _range(self.objects_per_image, "objects_per_image", 1))
            dlo, dhi = (int(v) for v in _range(self.distractors, "distractors", 0))
            others = [c for c in self.classes_ if c != label]
            n_target = int(rng.integers(lo, hi + 1))
            n_dis = int(rng.integers(dlo, dhi + 1)) if others else 0
            cats = [label] * n_target + [others[int(rng.integers(len(others)))] for _ in range(n_dis)]
            cats = [cats[j] for j in rng.permutation(len(cats))]
        else:
            cats = [label]
        objects, drawn, dropped = [], [], []
        for cat in cats:
            spec = self._spec(cat)
            s_lo, s_hi = _range(spec.get("size", self.object_size), f"classes.{cat}.size" if "size" in spec else "object_size", 0.01, 1.0)
            r_lo, r_hi = _range(self.rotate, "rotate", -180, 180)
            placed = None
            for _t in range(self.max_tries):
                size = float(rng.uniform(s_lo, s_hi))
                angle = float(rng.uniform(r_lo, r_hi))
                rad = size * min(h, w) / 2.0
                if multi:
                    cx, cy = float(rng.uniform(rad, w - rad)), float(rng.uniform(rad, h - rad))
                else:
                    cx, cy = w / 2.0 + float(rng.uniform(-0.08, 0.08)) * w, h / 2.0 + float(rng.uniform(-0.08, 0.08)) * h
                m, kps, p = self._object_mask(spec, rng, h, w, size, angle, cx, cy)
                if m.sum() < self.min_area:
                    continue
                if all((o["mask"].astype(bool) & (m > 0)).sum() <= self.max_overlap * o["_area0"] for o in objects):
                    placed = (m, kps, {**p, "size": round(size, 4), "rotate": round(angle, 3), "cx": round(cx, 2), "cy": round(cy, 2)})
                    break
            if placed is None:
                continue
            m, kps, p = placed
            kind, col = self._paint(img, m, rng, bg_colour, spec.get("color"))
            objects, gone = occlude(objects, m > 0, self.min_visibility, self.min_area)
            dropped.extend(gone)
            if kps is not None:
                kps = [[x, y, v if 0 <= x < w and 0 <= y < h else 0.0] for x, y, v in kps]
            objects.append({"category": cat, "mask": m, "bbox": tight_box(m), "_area0": int(m.sum()), "keypoints": kps})
            drawn.append({"category": cat, **p, "texture": kind, "color": col})
        if not any(o["category"] == label for o in objects):
            # a target object is always drawn last-resort: centred, no overlap check
            spec = self._spec(label)
            s_lo, s_hi = _range(spec.get("size", self.object_size), "object_size", 0.01, 1.0)
            m, kps, p = self._object_mask(spec, rng, h, w, s_lo, 0.0, w / 2.0, h / 2.0)
            if m.sum() == 0:
                raise ConfigError(f"generator.object_size: class '{label}' is too small to draw at {w}x{h}")
            kind, col = self._paint(img, m, rng, bg_colour, spec.get("color"))
            objects, gone = occlude(objects, m > 0, self.min_visibility, self.min_area)
            dropped.extend(gone)
            objects.append({"category": label, "mask": m, "bbox": tight_box(m), "_area0": int(m.sum()), "keypoints": kps})
            drawn.append({"category": label, **p, "texture": kind, "color": col, "fallback": True})
        b_lo, b_hi = _range(self.blur, "blur", 0.0)
        sigma = float(rng.uniform(b_lo, b_hi)) if b_hi > 0 else 0.0
        if sigma > 0:
            k = int(2 * round(3 * sigma) + 1)
            img = cv2.GaussianBlur(img, (k, k), sigma)
        if self.noise > 0:
            img = img + rng.normal(0, self.noise, size=img.shape[:2] + ((1,) if self.gray_ else (3,)))
        out = np.clip(np.round(img), 0, 255).astype(np.uint8)
        if self.gray_:
            out[..., 1] = out[..., 0]
            out[..., 2] = out[..., 0]
        params = {"size": [h, w], "background": bg_kind, "objects": drawn, "dropped": dropped, "blur": round(sigma, 4)}
        ann = {"objects": finish_objects(objects)} if multi else {}
        return np.ascontiguousarray(out), ann, [], params
