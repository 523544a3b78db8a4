"""Image featurizers without a network: per-image statistics, and a small thumbnail of the content.

:class:`ImageStatsFeaturizer` columns: per-channel mean and std (R, G, B), brightness (mean luma),
contrast (luma std), sharpness (variance of the Laplacian of luma), edge density (share of Canny edge
pixels) and colourfulness (Hasler and Süsstrunk 2003).  They describe how an image looks, not what it
shows: eleven numbers cannot tell a 3 from a 5.

:class:`ThumbnailFeaturizer` keeps what it shows, at low resolution: the luma image area-averaged to
``size`` x ``size`` in [0, 1], plus the three channel means.  It is the default space of the label and
utility checks for small images (digits, icons, 28-64 px crops), where it separates classes about as
well as a linear probe on the pixels does; for photographs use the EfficientNet-Lite0 embedding.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from synthgen.sample import Sample

IMAGE_FEATURES = [
    "mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b",
    "brightness", "contrast", "sharpness", "edge_density", "colourfulness",
]


def image_stats(img: np.ndarray) -> np.ndarray:
    import cv2

    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    a = a[:, :, :3].astype(np.float64)
    r, g, b = a[:, :, 0], a[:, :, 1], a[:, :, 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    lu8 = np.clip(luma, 0, 255).astype(np.uint8)
    lap = cv2.Laplacian(lu8, cv2.CV_64F)
    edges = cv2.Canny(lu8, 100, 200)
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return np.array([
        r.mean(), g.mean(), b.mean(), r.std(), g.std(), b.std(),
        luma.mean(), luma.std(), lap.var(), (edges > 0).mean(), colourful,
    ])


class ImageStatsFeaturizer:
    modality = "image"
    feature_names = IMAGE_FEATURES

    def __init__(self):
        try:
            import cv2

            cv2.setNumThreads(1)
        except ImportError:  # pragma: no cover
            pass

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        if not samples:
            return np.zeros((0, len(IMAGE_FEATURES)))
        return np.stack([image_stats(s.data) for s in samples])


class ThumbnailFeaturizer:
    """Luma thumbnail (``size`` x ``size``, area-averaged, in [0, 1]) plus the R, G, B means.

    ``center``: first shift the image so the centre of its contrast against the border colour (the
    luma-weighted centroid of ``|luma - median(border)|``) lies in the middle, as digit datasets
    are normalised; then a few pixels of translation, which says nothing about the label, do not
    move the features.
    """

    modality = "image"

    def __init__(self, size: int = 8, center: bool = True):
        self.size = size
        self.center = center

    @property
    def feature_names(self) -> list[str]:
        n = int(self.size)
        return [f"px_{y}_{x}" for y in range(n) for x in range(n)] + ["mean_r", "mean_g", "mean_b"]

    def _one(self, img: np.ndarray) -> np.ndarray:
        import cv2

        a = np.asarray(img)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        a = a[:, :, :3].astype(np.float32) / 255.0
        luma = 0.299 * a[:, :, 0] + 0.587 * a[:, :, 1] + 0.114 * a[:, :, 2]
        if self.center and luma.size:
            h, w = luma.shape
            border = np.concatenate([luma[0], luma[-1], luma[:, 0], luma[:, -1]])
            wgt = np.abs(luma - np.median(border))
            total = float(wgt.sum())
            if total > 0:
                ys, xs = np.indices(luma.shape)
                dy, dx = (h - 1) / 2 - float((wgt * ys).sum()) / total, (w - 1) / 2 - float((wgt * xs).sum()) / total
                m = np.float32([[1, 0, dx], [0, 1, dy]])
                luma = cv2.warpAffine(luma, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        n = int(self.size)
        thumb = cv2.resize(luma, (n, n), interpolation=cv2.INTER_AREA)
        return np.concatenate([thumb.reshape(-1), a.reshape(-1, 3).mean(0)]).astype(np.float64)

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        if int(self.size) < 1:
            raise ValueError(f"size: must be >= 1, got {self.size}")
        if not samples:
            return np.zeros((0, len(self.feature_names)))
        return np.stack([self._one(s.data) for s in samples])
