"""Ready-made model wrappers for ``synthgen evaluate`` (``model._target_``).

A model for ``evaluate`` is any callable ``samples -> labels`` (or ``-> scores``, one column per
class); these wrap common cases so no code is needed.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def image_features(images: Sequence[np.ndarray], size: int = 32) -> np.ndarray:
    """Grey-scale ``size`` x ``size`` pixels in [0, 1], flattened: (n, size * size) float32."""
    from PIL import Image

    out = np.empty((len(images), size * size), dtype=np.float32)
    for i, im in enumerate(images):
        a = np.asarray(im, dtype=np.float32)
        g = a.mean(axis=2) if a.ndim == 3 else a
        if g.shape != (size, size):
            g = np.asarray(Image.fromarray(g.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))
        out[i] = g.reshape(-1) / 255.0
    return out


class _PickledSklearn:
    """Load a pickled scikit-learn estimator (shared by the wrappers below)."""

    def _load(self, path: str):
        from ..plan import load_pickle

        # the pickle the user names for evaluation (README: evaluate unpickles the model you give it)
        est = load_pickle(path, "model.path", refuse_run_folder=False)
        self.estimator = est
        self.classes_ = [str(c) for c in getattr(est, "classes_", [])] or None

    def _out(self, X):
        if self.scores:
            return self.estimator.predict_proba(X)
        return np.asarray([str(v) for v in self.estimator.predict(X)])


class SklearnImageClassifier(_PickledSklearn):
    """A pickled scikit-learn classifier applied to image samples via :func:`image_features`."""

    def __init__(self, path: str, size: int = 32, scores: bool = False):
        self.path = path
        self.size = int(size)
        self.scores = bool(scores)
        self._load(path)

    def __call__(self, samples):
        return self._out(image_features([s.data for s in samples], self.size))


class SklearnTextClassifier(_PickledSklearn):
    """A pickled scikit-learn pipeline that takes raw strings (e.g. TfidfVectorizer + LogisticRegression)."""

    def __init__(self, path: str, scores: bool = False):
        self.path = path
        self.scores = bool(scores)
        self._load(path)

    def __call__(self, samples):
        return self._out([str(s.data) for s in samples])


class SklearnPointsClassifier(_PickledSklearn):
    """A pickled scikit-learn classifier applied to point clouds through the documented point-cloud
    features (:class:`synthgen.validators.points_features.PointsFeaturizer`: centred, unit sphere,
    2,048 points)."""

    def __init__(self, path: str, scores: bool = False, seed: int = 0):
        self.path = path
        self.scores = bool(scores)
        self.seed = int(seed)
        self._load(path)

    def __call__(self, samples):
        from synthgen.validators.points_features import PointsFeaturizer

        return self._out(PointsFeaturizer(self.seed).transform(list(samples)))
