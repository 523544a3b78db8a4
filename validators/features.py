"""Image featurizer: cheap, interpretable per-image statistics shared by every validator.

Columns: per-channel mean and std (R, G, B), brightness (mean luma), contrast (luma std), sharpness
(variance of the Laplacian of luma), edge density (share of Canny edge pixels) and colourfulness
(Hasler and Süsstrunk 2003).
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
