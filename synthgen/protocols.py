"""The interfaces every plug-in implements: generators, featurizers and validators.

Constructors only store parameters (heavy models load on first use), so every YAML in ``conf/`` can
be instantiated in tests without side effects.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from .sample import Sample

if TYPE_CHECKING:  # pragma: no cover
    from .dataset import Dataset
    from synthgen.validators.result import ValidationResult


@runtime_checkable
class Generator(Protocol):
    """Makes labeled synthetic samples of one modality.

    ``fit`` learns from the real dataset where the generator needs it (pools of parents, a small
    diffusion model, text statistics) and returns ``self``.  ``generate`` yields sample ``i`` for each
    requested index, drawing all randomness from ``(seed, label, i)``.
    """

    modality: str
    version: str

    def fit(self, real: "Dataset") -> "Generator": ...

    def generate(self, label: str, n: int, seed: int, indices: Sequence[int] | None = None) -> Iterator[Sample]: ...


@runtime_checkable
class Featurizer(Protocol):
    """Turns samples of one modality into a numeric matrix (rows = samples)."""

    modality: str
    feature_names: list[str]

    def transform(self, samples: Sequence[Sample]) -> np.ndarray: ...


READS = ("features", "samples", "folds")


@runtime_checkable
class Validator(Protocol):
    """One protocol for every validator: it judges each class and returns a typed
    :class:`~synthgen.validators.result.ValidationResult` (one ``ClassResult`` per class, never NaN:
    a class it cannot judge is ``incomputable`` with a reason; ``score`` >= 0.5 iff it passes).

    ``reads`` says what it judges, and so which one method the pipeline calls (:func:`judge`):

    - ``"features"``: ``validate(real, synthetic, feature_names, seed)`` on per-class feature
      matrices of the feature space named by its ``features:`` key (distribution distances, label
      agreement, memorisation by distance);
    - ``"samples"``: ``validate_samples(real, synthetic, seed)`` on per-class sample lists
      (schema, duplicates, bias, Chamfer on clouds), ``real`` holding every possible parent;
    - ``"folds"``: ``validate_folds(folds, seed, labels)`` on the cross-fitting folds
      (:class:`~synthgen.validators.crossfit.Fold`: real train / test rows and the batch made
      without the test rows; utility, cross-fitted label agreement).

    ``name`` is the key in reports and the gate; ``statistic_name`` names what ``statistic`` holds.
    The contract suite (tests/contracts.py) checks every validator found in conf/ against this.
    """

    name: str
    statistic_name: str
    reads: str


def reads(validator: object) -> str:
    """What ``validator`` judges (``features`` | ``samples`` | ``folds``), checked against the method
    that kind must have; a plug-in written against the first-round flags is told what to change."""
    cls = type(validator).__name__
    if hasattr(validator, "needs_samples") or hasattr(validator, "needs_folds"):
        raise TypeError(f"{cls}: needs_samples / needs_folds are replaced by one attribute: reads = 'samples' | 'folds'")
    kind = getattr(validator, "reads", None)
    if kind not in READS:
        raise TypeError(f"{cls}.reads: must be one of {', '.join(READS)}, got {kind!r}")
    method = {"features": "validate", "samples": "validate_samples", "folds": "validate_folds"}[kind]
    if not callable(getattr(validator, method, None)):
        raise TypeError(f"{cls}: reads = {kind!r} but it has no {method}()")
    return kind


def judge(validator: Validator, *, seed: int, labels: Sequence[str], features: tuple | None = None,
          samples: tuple | None = None, folds: Sequence | None = None) -> "ValidationResult":
    """Call the one method ``validator.reads`` names.  ``features``: ``(real, synthetic, names)``
    matrices; ``samples``: ``(real, synthetic)`` sample lists; ``folds``: cross-fitting folds (a
    folds validator given none judges ``features`` instead, where it says every class is
    incomputable: with no folds there is no honest reference)."""
    kind = reads(validator)
    if kind == "samples":
        return validator.validate_samples(*samples, seed=seed)
    if kind == "folds" and folds:
        return validator.validate_folds(folds, seed=seed, labels=labels)
    return validator.validate(*features, seed=seed)
