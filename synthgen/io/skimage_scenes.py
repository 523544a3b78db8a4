"""A real detection / instance-segmentation dataset built from ``skimage.data.coins()`` (no download).

``coins()`` is a 303x384 greyscale photograph of 24 Greek coins (it ships inside scikit-image).  The
dataset is built in three documented, deterministic steps:

1. **Segment** the coins as in scikit-image's "Comparing edge-based and region-based segmentation"
   example: a Sobel elevation map, watershed from markers (pixels < 30 are background, > 150 coin),
   holes filled, connected components labelled, components under ``min_coin_area`` pixels removed.
   This finds all 24 coins.
2. **Classify** each coin by its area: ``large_coin`` when it has at least ``large_area`` pixels
   (6 of the 24 coins), else ``small_coin``.  Large coins are the rare class.
3. **Tile** the photograph into ``tile`` x ``tile`` windows every ``stride`` pixels (the last row and
   column are aligned to the border).  Every coin visible in a window with at least
   ``min_visible_area`` pixels is an object (its mask is clipped to the window, its box is the tight
   box of that clipped mask; a coin cut by the window keeps its class).  A window's image-level label
   is ``large_coin`` when a large coin shows at least ``label_visibility`` of its full area (default
   1.0: a whole large coin lies inside the window), else ``small_coin``; windows without any coin
   are left out.

The defaults (128-pixel windows every 40 pixels) give 48 RGB images (greyscale replicated), 32
``small_coin`` and 16 ``large_coin``, with COCO-style objects carrying ``category``, ``bbox``
(x, y, w, h), ``mask`` and ``iscrowd``.
"""
from __future__ import annotations

import numpy as np

from ..dataset import Dataset
from ..errors import ConfigError
from ..sample import Sample

CLASSES = ["small_coin", "large_coin"]


def segment_coins(image: np.ndarray | None = None, min_coin_area: int = 300) -> np.ndarray:
    """Integer label image of the coins in ``skimage.data.coins()`` (0 = background)."""
    from scipy import ndimage as ndi
    from skimage import data, filters, segmentation

    im = data.coins() if image is None else image
    markers = np.zeros_like(im, dtype=np.int32)
    markers[im < 30] = 1
    markers[im > 150] = 2
    seg = segmentation.watershed(filters.sobel(im), markers)
    fg = ndi.binary_fill_holes(seg == 2)
    lab, n = ndi.label(fg)
    areas = np.bincount(lab.ravel(), minlength=n + 1)
    keep = np.flatnonzero(areas >= min_coin_area)
    keep = keep[keep != 0]
    out = np.zeros_like(lab)
    for new, old in enumerate(keep, 1):  # components in raster order of their first pixel
        out[lab == old] = new
    return out


def _starts(size: int, tile: int, stride: int) -> list[int]:
    s = list(range(0, max(size - tile, 0) + 1, stride))
    if s[-1] != size - tile:
        s.append(size - tile)
    return s


def load_coins_detection(tile: int = 128, stride: int = 40, large_area: int = 1900, min_coin_area: int = 300,
                         min_visible_area: int = 40, label_visibility: float = 1.0) -> Dataset:
    """The tiled coins detection set described in the module docstring."""
    from skimage import data

    if tile < 16 or stride < 1:
        raise ConfigError(f"dataset.tile/stride: need tile >= 16 and stride >= 1, got {tile}/{stride}")
    im = data.coins()
    H, W = im.shape
    if tile > min(H, W):
        raise ConfigError(f"dataset.tile: must be at most {min(H, W)} (the photograph is {W}x{H}), got {tile}")
    lab = segment_coins(im, min_coin_area)
    n = int(lab.max())
    areas = np.bincount(lab.ravel(), minlength=n + 1)
    cls = {i: ("large_coin" if areas[i] >= large_area else "small_coin") for i in range(1, n + 1)}
    rgb = np.repeat(im[:, :, None], 3, axis=2)
    samples = []
    for y in _starts(H, tile, stride):
        for x in _starts(W, tile, stride):
            win = lab[y:y + tile, x:x + tile]
            objects, label = [], "small_coin"
            for i in np.unique(win):
                if i == 0:
                    continue
                m = (win == i).astype(np.uint8)
                a = int(m.sum())
                if a < min_visible_area:
                    continue
                ys, xs = np.nonzero(m)
                objects.append({"category": cls[int(i)], "bbox": [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                                                                  float(ys.max() - ys.min() + 1)], "mask": m, "iscrowd": 0})
                if cls[int(i)] == "large_coin" and a >= label_visibility * areas[i]:
                    label = "large_coin"
            if not objects:
                continue
            sid = f"coins-y{y:03d}-x{x:03d}"
            samples.append(Sample(id=sid, data=np.ascontiguousarray(rgb[y:y + tile, x:x + tile]), label=label,
                                  annotations={"objects": objects}, meta={"file": sid}))
    categories = [{"id": i + 1, "name": c, "supercategory": "coin"} for i, c in enumerate(CLASSES)]
    return Dataset(samples, list(CLASSES), "skimage.data.coins (tiled)", "skimage_coins", "image", "segmentation",
                   {"categories": categories, "coins": n, "large_coins": sum(v == "large_coin" for v in cls.values())})
