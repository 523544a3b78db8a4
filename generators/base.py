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
    # How a sample depends on the real data, for cross-fitted evidence (synthgen.crossfit.evidence_batches):
    # "fitted" (the safe default): through what fit() learned, so each fold refits without its held-out
    # samples and generates its own batch; "per_parent": only through the parents named in its provenance
    # (and its seed), so a fold's batch is drawn from the generated set itself, among the samples none of
    # whose parents lies in the fold: the same distribution, nothing generated twice.
    evidence_kind: str = "fitted"
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
        d = {"_target_": self.target, "version": self.version, **self.get_params()}
        if getattr(self, "guidance_", None):  # model-guided parents change the output: new ids
            d["guidance"] = self.guidance_
        return digest(d)

    # -- model guidance (policy.target=model) -------------------------------------------------
    def guide(self, guidance: dict[str, Any] | None) -> "BaseGenerator":
        """Concentrate generation on what a model gets wrong (:func:`synthgen.plan.model_guided`).

        ``guidance["parent_weights"]``: ``{real sample id: integer multiplicity}``; :meth:`candidates`
        repeats each parent that many times, so every generator that draws its parents from
        ``candidates`` picks the model's misclassified and low-margin samples more often, with no
        change of its own.  ``guidance["confusions"]``: ``{label: [labels the model confuses it
        with]}``, kept as ``self.guidance_`` for generators that condition on it.  ``None`` clears it.
        """
        g = dict(guidance) if guidance else None
        if g is not None:
            g["parent_weights"] = {str(k): int(v) for k, v in (g.get("parent_weights") or {}).items()}
        self.guidance_ = g
        self.__dict__.pop("_candidates", None)
        return self

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
        weights = (getattr(self, "guidance_", None) or {}).get("parent_weights")
        if weights:  # model-guided: a parent of multiplicity m appears m times (order kept)
            c = [s for s in c for _ in range(max(1, int(weights.get(s.id, 1))))]
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
        size = self.group_size()
        group: tuple[int, list] | None = None  # (group number, its samples): one group held at a time
        for i in idx:
            i = int(i)
            if not 0 <= i < n:
                raise ConfigError(f"index {i} is outside 0..{n - 1} for class '{label}'")
            if size:  # the batch hook: indices g*size .. (g+1)*size-1 are made together, whatever the shard
                g = i // size
                if group is None or group[0] != g:
                    members = list(range(g * size, min((g + 1) * size, int(n))))
                    group = (g, list(self._make_group(label, members, int(seed))))
                data, ann, parents, params = group[1][i - g * size]
            else:
                rng = sample_rng(seed, label, i)
                data, ann, parents, params = self._make(label, i, rng, int(seed))
            weights = (getattr(self, "guidance_", None) or {}).get("parent_weights")
            if weights and parents:  # model-guided: how much more often each parent was drawn
                params = {**params, "parent_multiplicity": {str(q): int(weights.get(q, 1)) for q in parents}}
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

    # -- the batch hook (generators that make samples in fixed groups: DDPM, Stable Diffusion) -------
    def group_size(self) -> int | None:
        """Samples made together (a fixed group of consecutive indices), or None for one at a time.
        Groups are fixed by index, so any split into shards gives the same bytes."""
        return None

    def _make_group(self, label: str, indices: list[int], seed: int) -> list[tuple]:  # pragma: no cover
        """``[(data, annotations, parents, params) for i in indices]`` (called when group_size() is set).
        Seed each member from ``(seed, label, i)`` (:mod:`synthgen.seeding`), never from the group."""
        raise NotImplementedError
