"""scikit-learn's bundled handwritten digits (1,797 8x8 images, classes "0"-"9"): the embedded default.

No download: the data ships inside scikit-learn.  Images are scaled to ``size`` pixels (bilinear)
and replicated to RGB so every image generator and featurizer sees ordinary uint8 photos.
"""
from __future__ import annotations

import numpy as np

from ..dataset import Dataset
from ..sample import Sample


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``(images (1797, 8, 8) float64, target (1797,) int)``: the same arrays as
    ``sklearn.datasets.load_digits()`` (``.images``, ``.target``), read straight from the CSV that
    scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``) the way ``load_digits`` reads it.

    Importing ``sklearn.datasets`` costs about 2 CPU-seconds (it pulls in most of scikit-learn and
    scipy.stats) for a 57 kB file; locating the package does not import it.  Falls back to
    ``load_digits`` if the file is not where scikit-learn keeps it.
    """
    import gzip
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("sklearn")
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locs:
        f = Path(loc) / "datasets" / "data" / "digits.csv.gz"
        if f.is_file():
            with gzip.open(f, mode="rt", encoding="utf-8") as fh:
                data = np.loadtxt(fh, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
    from sklearn.datasets import load_digits  # pragma: no cover - an unusual scikit-learn layout

    d = load_digits()  # pragma: no cover
    return d.images, d.target  # pragma: no cover


def digits_images(size: int = 32, pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(N, size, size, 3) uint8 images and (N,) int labels.

    The 8x8 digits touch their frame; ``pad`` adds that many black pixels (in 8x8 units) around
    them first, as MNIST does, so shifts and rotations do not cut strokes off at the border.
    """
    from PIL import Image

    images, target = digits_arrays()
    raw = np.clip(images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    if pad:
        raw = np.pad(raw, ((0, 0), (pad, pad), (pad, pad)))
    if size != raw.shape[1]:
        raw = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in raw])
    return np.repeat(raw[..., None], 3, axis=3), target.astype(int)


def load_digits_dataset(size: int = 32, pad: int = 2) -> Dataset:
    imgs, y = digits_images(size, pad)
    samples = [Sample(id=f"digits-{i:04d}", data=imgs[i], label=str(int(y[i])), meta={"file": f"digits-{i:04d}"}) for i in range(len(y))]
    return Dataset(samples, [str(i) for i in range(10)], "sklearn.datasets.load_digits", "digits", "image", "classification")
