"""Helpers of ``bench_evidence.py``: the three modalities' data, the per-seed split, and the generators
whose right verdict is known in advance (a perfect one and four broken ones).

Every generator here is a :class:`synthgen.generators.base.BaseGenerator` subclass, so synthgen's own
cross-fitting (:func:`synthgen.crossfit.make_batches`) drives it exactly like a shipped generator: for
each fold it rebuilds a fresh copy from ``get_params()`` and calls ``fit`` with the real data outside
the fold, and the generator derives only from that (a "copy" generator copies only what ``fit`` gave it).  The perfect generator is the exception
by design: it returns real samples of the class from a POOL that synthgen never sees (cut away from
the dataset), with ``parents=()``.

* ``PoolGenerator``: real-versus-real, must pass.
* ``RelabelGenerator``: real samples of another (donor) class labeled as the rare class.
* ``NoiseGenerator``: a parent plus heavy noise (images: Gaussian sigma 80 of 255; text: 60 % of the
  characters replaced by random ones; points: Gaussian jitter of 0.5 on the unit sphere).
* ``CopyGenerator``: exact copies of the parents.
* ``ConstantGenerator``: the same output for every index (grey image; one real text repeated; all
  points at the origin plus a tiny, fixed jitter).
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgen.dataset import Dataset
from synthgen.generators.base import BaseGenerator
from synthgen.sample import Sample
from synthgen.seeding import derived_seed

KEEP = 15  # real samples of the rare class given to synthgen
OTHERS_TRAIN = 0.7  # share of every other class given to synthgen (the rest is test data)


# --- the three modalities -------------------------------------------------------------------------

@dataclass(frozen=True)
class Modality:
    """One modality of the benchmark: a shipped dataset, its default generator and validation, the
    rare class, the donor class of the relabel case and the probe's feature space."""

    name: str
    modality: str  # synthgen's: image | text | points
    overrides: tuple[str, ...]  # Hydra overrides of the `run` config
    rare: str
    donor: str  # the class whose real samples the relabel case passes off as the rare class
    target: int  # policy.target: real + synthetic of the rare class (at most KEEP + the pool)
    probe_features: str  # the feature space of validation.featurizers the utility probe reads
    group_by: str | None = None  # Sample.meta key: keep, pool and test are split by it (points: the source shape)
    per_group: int = 1  # samples per group (points: clouds per shape)


MODALITIES: dict[str, Modality] = {
    "images": Modality(
        "images", "image",
        ("dataset=digits", "generator=image_augment", "validation=image_stats"),
        rare="8", donor="3", target=120, probe_features="auto"),
    "text": Modality(
        "text", "text",
        ("dataset=fortunes", "generator=text_ngram", "validation=text_stats",
         "dataset.categories=[food,computers,politics,science,sports,love,kids,medicine]"),
        rare="food", donor="kids", target=120, probe_features="words"),
    "points": Modality(
        "points", "points",
        ("+experiment=cgal_box", "dataset.samples_per_shape=3"),
        rare="box", donor="mechanical", target=30, probe_features="shape", group_by="shape", per_group=3),
}


def compose(mod: Modality, cache_dir: str | None, extra: tuple[str, ...] = ()):
    """The `synthgen run` config of a modality: no held-out data (``dataset.longtail=null``), so
    ``evidence.reference=auto`` resolves to cross-fitting; only the rare class is filled."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    overrides = [*mod.overrides, "dataset.longtail=null", "evidence.reference=auto", f"policy.classes=['{mod.rare}']",
                 "policy.rare_below=null", f"policy.target={mod.target}", "policy.max_synthetic_fraction=0.9",
                 "merge.into=null", f"++validation.cache_dir={cache_dir if cache_dir else 'null'}", *extra]
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        return hydra_compose(config_name="run", overrides=overrides)


_FULL: dict[str, Dataset] = {}


def load_full(mod: Modality, cfg) -> Dataset:
    """The whole shipped dataset (no long-tail cut), read once per process."""
    from synthgen.pipeline import load_dataset

    if mod.name not in _FULL:
        full, held = load_dataset(cfg.dataset)
        assert held is None, "the benchmark's dataset must hold no held-out data"
        _FULL[mod.name] = full
    return _FULL[mod.name]


@dataclass
class Split:
    train: Dataset  # what synthgen sees: KEEP real samples of the rare class + OTHERS_TRAIN of every other class
    pool: list[Sample]  # the rare class's other real samples: never in train
    test_others: list[Sample]  # the other classes' held-out samples

    @property
    def test(self) -> list[Sample]:
        return self.pool + self.test_others


def _groups(samples: list[Sample], key: str | None) -> list[list[Sample]]:
    if key is None:
        return [[s] for s in samples]
    out: dict[Any, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.meta.get(key, s.id), []).append(s)
    return list(out.values())


def split(full: Dataset, mod: Modality, seed: int) -> Split:
    """The seed's split.  Rare class: KEEP real samples to synthgen, the rest to the pool.  Every other
    class: OTHERS_TRAIN to synthgen, the rest to the test set.  With ``group_by`` (points: clouds of one
    source shape are near-duplicates) whole groups move together, so no test cloud shares a shape with
    a training cloud."""
    rng = np.random.default_rng(derived_seed(seed, "bench-evidence-split", mod.name))
    keep, pool, test = [], [], []
    for c in full.classes:
        groups = _groups([s for s in full.samples if s.label == c], mod.group_by)
        order = rng.permutation(len(groups))
        if c == mod.rare:
            kept: list[Sample] = []
            for i in order:
                (kept if len(kept) + len(groups[i]) <= KEEP else pool).extend(groups[i])
            keep.extend(kept)
        else:
            n_train = int(round(OTHERS_TRAIN * len(groups)))
            for j, i in enumerate(order):
                (keep if j < n_train else test).extend(groups[i])
    index = {id(s): i for i, s in enumerate(full.samples)}
    keep.sort(key=lambda s: index[id(s)])
    return Split(full.subset(keep), pool, test)


# --- generators with a known right answer ---------------------------------------------------------

class _CaseGenerator(BaseGenerator):
    """Shared plumbing: the modality is per instance, and the parameters are a small summary (a pool
    of samples is not a config)."""

    version = "1"
    libraries = ("numpy",)

    def __init__(self, modality: str = "image"):
        self.modality = modality

    def get_params(self) -> dict[str, Any]:
        return {"modality": self.modality}

    def _parent(self, label: str, rng: np.random.Generator) -> Sample:
        pool = self.candidates(label)  # only what fit() gave: the real data outside the fold
        return pool[int(rng.integers(len(pool)))]


class PoolGenerator(_CaseGenerator):
    """The perfect generator: real samples of the class that synthgen never saw, as "synthetic", with
    ``parents=()``.  Sample i of a call is pool[perm[i]] for a permutation drawn from (seed, label), so
    a call never repeats a sample while n <= len(pool)."""

    short_name = "pool"

    def __init__(self, pool: list[Sample], modality: str = "image"):
        super().__init__(modality)
        self.pool = list(pool)

    def get_params(self) -> dict[str, Any]:
        # the constructor's arguments, so synthgen.crossfit.fresh can rebuild it for every fold
        return {"pool": self.pool, "modality": self.modality}

    @property
    def config_digest(self) -> str:
        from synthgen.config import digest

        return digest({"_target_": self.target, "version": self.version, "modality": self.modality,
                       "pool": [s.id for s in self.pool]})

    def fit(self, real) -> "PoolGenerator":
        self.real_ = real
        return self

    def _make(self, label, index, rng, seed):
        perms = self.__dict__.setdefault("_perms", {})
        if (seed, label) not in perms:
            perms[(seed, label)] = np.random.default_rng(derived_seed(seed, "pool", label)).permutation(len(self.pool))
        s = self.pool[int(perms[(seed, label)][index % len(self.pool)])]
        return _copy(s.data), dict(s.annotations), (), {"pool_sample": s.id}


class RelabelGenerator(_CaseGenerator):
    """Real samples of the donor class (from the data fit gave) labeled as the requested class."""

    short_name = "relabel"

    def __init__(self, donor: str, modality: str = "image"):
        super().__init__(modality)
        self.donor = str(donor)

    def get_params(self) -> dict[str, Any]:
        return {"modality": self.modality, "donor": self.donor}

    def _make(self, label, index, rng, seed):
        src = self._parent(self.donor, rng)
        return _copy(src.data), dict(src.annotations), (src.id,), {"donor": src.id}


class NoiseGenerator(_CaseGenerator):
    """A parent plus heavy noise (see the module docstring for the amounts)."""

    short_name = "noise"
    IMAGE_SIGMA = 80.0  # of 255
    TEXT_SHARE = 0.6  # of the characters
    POINTS_SIGMA = 0.5  # in unit-sphere units
    ALPHABET = string.ascii_letters + string.digits + string.punctuation + " "

    def _make(self, label, index, rng, seed):
        p = self._parent(label, rng)
        if self.modality == "image":
            img = p.data.astype(np.float64)
            noise = rng.normal(0.0, self.IMAGE_SIGMA, size=img.shape[:2])[..., None]  # grey noise: no colour cue
            data = np.clip(np.rint(img + noise), 0, 255).astype(np.uint8)
        elif self.modality == "text":
            chars = list(p.data)
            k = int(round(self.TEXT_SHARE * len(chars)))
            for i in rng.choice(len(chars), size=k, replace=False):
                chars[int(i)] = self.ALPHABET[int(rng.integers(len(self.ALPHABET)))]
            data = "".join(chars)
        else:
            pts = np.asarray(p.data, np.float32)
            data = (pts + rng.normal(0.0, self.POINTS_SIGMA, size=pts.shape)).astype(np.float32)
        ann = {"spans": []} if self.modality == "text" else {}
        return data, ann, (p.id,), {"parent": p.id}


class CopyGenerator(_CaseGenerator):
    """Exact copies of the parents."""

    short_name = "copy"

    def _make(self, label, index, rng, seed):
        p = self._parent(label, rng)
        return _copy(p.data), dict(p.annotations), (p.id,), {"parent": p.id}


class ConstantGenerator(_CaseGenerator):
    """The same output for every index: a mid-grey image the size of the class's images; the first
    real text of the class that fit gave, repeated (parents names it); all points at the origin plus a
    tiny jitter drawn once (seed 0), so every cloud is identical."""

    short_name = "const"
    POINTS_JITTER = 1e-3

    def _make(self, label, index, rng, seed):
        cands = self.candidates(label)
        if self.modality == "image":
            return np.full_like(cands[0].data, 128), {}, (), {"value": 128}
        if self.modality == "text":
            return cands[0].data, {"spans": []}, (cands[0].id,), {"text_of": cands[0].id}
        n = len(cands[0].data)
        pts = np.random.default_rng(0).normal(0.0, self.POINTS_JITTER, size=(n, 3)).astype(np.float32)
        return pts, {}, (), {"jitter": self.POINTS_JITTER}


BROKEN = {
    "relabeled": lambda mod: RelabelGenerator(mod.donor, mod.modality),
    "heavy noise": lambda mod: NoiseGenerator(mod.modality),
    "copies of parents": lambda mod: CopyGenerator(mod.modality),
    "constant": lambda mod: ConstantGenerator(mod.modality),
}


def _copy(data: Any) -> Any:
    return data.copy() if isinstance(data, np.ndarray) else data
