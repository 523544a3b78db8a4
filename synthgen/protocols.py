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


@runtime_checkable
class Validator(Protocol):
    """Compares real and synthetic features per class and returns a typed result."""

    name: str

    def validate(
        self,
        real: dict[str, np.ndarray],
        synthetic: dict[str, np.ndarray],
        feature_names: list[str],
        seed: int = 0,
    ) -> "ValidationResult": ...
