"""The corruption registry: every image, text and point-cloud corruption by (modality, name).

A corruption is a plain function ``fn(data, annotations, severity, rng, **options) -> (data,
annotations, params)``: it reads ``severity`` (1-5), draws all randomness from ``rng`` (one per
sample, from :func:`synthgen.seeding.sample_rng`), returns the corrupted data, the annotations moved
with it (boxes, masks, keypoints, character spans, per-point labels) and the parameters it sampled
(recorded in the sample's provenance).

Each entry says which published benchmark it belongs to (``imagenet-c``, ``imagenet-c-holdout``,
``modelnet-c``, ``modelnet40-c``, ``checklist``) or ``edge-case`` for extras that belong to none,
and whether a model's prediction must stay the same (``invariant``) or should change
(``directional``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConfigError

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Corruption:
    name: str
    modality: str  # image | text | points
    family: str  # noise, blur, weather, digital, typo, entity, density, ...
    benchmark: str  # imagenet-c | imagenet-c-holdout | edge-case | checklist | modelnet-c | modelnet40-c
    fn: Callable[..., tuple[Any, dict, dict]]
    geometric: bool = False  # moves pixels/points, so labels are moved too
    expect: str = "invariant"  # invariant | directional
    version: str = "1"
    libraries: tuple[str, ...] = ("numpy",)
    table: dict[str, Any] = field(default_factory=dict)  # the per-severity parameter table, for docs and provenance

    @property
    def target(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__name__}"

    def __call__(self, data, annotations, severity: int, rng, **options):
        if int(severity) not in SEVERITIES:
            raise ConfigError(f"{self.name}: severity must be one of 1..5, got {severity!r}")
        return self.fn(data, annotations, int(severity), rng, **options)


REGISTRY: dict[tuple[str, str], Corruption] = {}
_LOADED = False


def register(modality: str, family: str, benchmark: str, *, geometric: bool = False, expect: str = "invariant",
             libraries: tuple[str, ...] = ("numpy",), table: dict | None = None, name: str | None = None):
    """Decorator adding a corruption function to the registry."""

    def deco(fn):
        key = (modality, name or fn.__name__)
        REGISTRY[key] = Corruption(key[1], modality, family, benchmark, fn, geometric, expect,
                                   libraries=libraries, table=dict(table or {}))
        return fn

    return deco


def _load() -> None:
    global _LOADED
    if not _LOADED:
        from . import images, points, text  # noqa: F401  (registration happens at import)

        _LOADED = True


def get(modality: str, name: str, key: str = "stress.corruptions") -> Corruption:
    _load()
    if (modality, name) not in REGISTRY:
        raise ConfigError(f"{key}: unknown {modality} corruption '{name}' (known: {', '.join(names(modality))})")
    return REGISTRY[(modality, name)]


def names(modality: str, benchmark: str | None = None) -> list[str]:
    """Corruption names of a modality (optionally of one benchmark), in registration order."""
    _load()
    return [c.name for (m, _), c in REGISTRY.items() if m == modality and (benchmark is None or c.benchmark == benchmark)]


def all_corruptions() -> list[Corruption]:
    _load()
    return list(REGISTRY.values())
