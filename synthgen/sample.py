"""The one data type everything passes around: a labeled :class:`Sample` and its :class:`Provenance`.

``data`` is an ``HxWxC`` uint8 image, a ``str``, or an ``(N, 3)`` float32 point array.  ``annotations``
travel with the data (image: ``objects`` with boxes, masks and keypoints; text: character spans;
points: per-point labels and 3D boxes).  ``provenance`` is ``None`` for real data.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Provenance:
    """Everything a reviewer needs to answer "where did this sample come from and how was it made"."""

    generator: str  # the generator's import path (its Hydra ``_target_``)
    generator_version: str
    config_digest: str  # sha256 of the resolved generator config
    seed: int
    label: str
    index: int
    parents: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["parents"] = list(self.parents)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Provenance":
        d = dict(d)
        d["parents"] = tuple(d.get("parents", ()))
        return cls(**d)


@dataclass
class Sample:
    """One labeled item of any modality."""

    id: str
    data: Any
    label: str
    annotations: dict[str, Any] = field(default_factory=dict)
    provenance: Provenance | None = None
    modality: str = "image"
    meta: dict[str, Any] = field(default_factory=dict)  # reader-specific details (source file, COCO ids)

    @property
    def origin(self) -> str:
        return "real" if self.provenance is None else "synthetic"
