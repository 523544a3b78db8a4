"""The shared generator machinery: per-sample seeding, ids, provenance and parameter digests.

A subclass implements ``_make(label, index, rng, seed) -> (data, annotations, parents, params)``
and, if it learns from real data, ``fit``.  Constructors only store their arguments
(scikit-learn style) so ``get_params`` and the config digest are mechanical.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterator, Sequence

import numpy as np

from synthgen.config import digest, library_versions, plain
from synthgen.errors import ConfigError, InsufficientDataError
from synthgen.io.common import safe_name
from synthgen.sample import Provenance, Sample
from synthgen.seeding import sample_rng


class BaseGenerator:
    modality: str = "image"
    version: str = "1"
    short_name: str = "gen"
    crossfit_repeats: int | None = None  # cap on evidence.repeats when each fold's fit is costly (a trained model)
    libraries: tuple[str, ...] = ("numpy",)

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {n: plain(getattr(self, n)) for n in sig.parameters if n != "self" and hasattr(self, n)}

    @property
    def target(self) -> str:
        return f"{type(self).__module__}.{type(self).__qualname__}"

    @property
    def config_digest(self) -> str:
        return digest({"_target_": self.target, "version": self.version, **self.get_params()})

    # -- learning -----------------------------------------------------------------------------
    def fit(self, real) -> "BaseGenerator":
        self.real_ = real
        self._candidates = {}
        return self

    def candidates(self, label: str) -> list[Sample]:
        """Real samples of ``label`` to derive from (images whose objects include it, for detection)."""
        real = getattr(self, "real_", None)
        if real is None:
            raise ConfigError(f"generator {self.short_name}: call fit(real) before generate()")
        cache = self.__dict__.setdefault("_candidates", {})
        if label in cache:
            return cache[label]
        c = [s for s in real.samples if s.label == label]
        if not c:
            c = [s for s in real.samples if any(o.get("category") == label for o in s.annotations.get("objects", []))]
        if not c:
            raise InsufficientDataError(f"class '{label}': no real samples to derive from in {real.source}")
        cache[label] = c
        return c

    # -- generation ---------------------------------------------------------------------------
    def sample_id(self, label: str, index: int, seed: int, config_digest: str | None = None) -> str:
        """Unique by construction: generator config digest, seed, the exact label (hashed: labels that
        read alike once made file-safe, "a b" and "a_b", stay apart) and the index."""
        import hashlib

        dig = config_digest or self.config_digest
        tag = hashlib.blake2b(label.encode(), digest_size=4).hexdigest()
        return f"{self.short_name}-{dig[:8]}-s{int(seed)}-{safe_name(label)[:40]}-{tag}-{index:06d}"

    def generate(self, label: str, n: int, seed: int, indices: Sequence[int] | None = None) -> Iterator[Sample]:
        """Yield sample ``i`` of ``label`` for each ``i`` in ``indices`` (default ``range(n)``)."""
        if int(n) < 0:
            raise ConfigError(f"count for class '{label}' must be >= 0, got {n}")
        idx = range(int(n)) if indices is None else indices
        libs = library_versions(self.libraries)
        dig = self.config_digest
        for i in idx:
            i = int(i)
            if not 0 <= i < n:
                raise ConfigError(f"index {i} is outside 0..{n - 1} for class '{label}'")
            rng = sample_rng(seed, label, i)
            data, ann, parents, params = self._make(label, i, rng, int(seed))
            prov = Provenance(
                generator=self.target,
                generator_version=self.version,
                config_digest=dig,
                seed=int(seed),
                label=label,
                index=i,
                parents=tuple(parents),
                params=params,
                libraries=libs,
            )
            yield Sample(id=self.sample_id(label, i, seed, dig), data=data, label=label, annotations=ann, provenance=prov, modality=self.modality)

    def _make(self, label: str, index: int, rng: np.random.Generator, seed: int):  # pragma: no cover
        raise NotImplementedError
