"""Where the evidence comes from: the reference each class is judged against, and cross-fitted batches.

Synthetic samples must never be judged against the real samples they were made from.  With held-out
real data (``dataset.longtail.holdout``) the distribution checks use it.  Without (every real user's
rare class), the default is **cross-fitting**: each class's real samples are split into K folds, R
times (:func:`synthgen.validators.crossfit.make_folds`); for fold k the generator is fitted on the
real data outside fold k and makes a validation batch from parents outside fold k only, which is
then compared with fold k.  The samples that are merged still come from all parents; the validation
batches are evidence only, their provenance names their fold (``params.crossfit``), and
:func:`make_batches` refuses a batch with a parent inside its own fold.

``evidence.reference`` (run config): ``auto`` (held-out real data when the dataset has it, else
cross-fitting), ``crossfit``, or ``parents`` (the old circular comparison, only when asked for, with
a warning in the terminal and the report).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .dataset import Dataset
from .errors import ConfigError, DatasetError, InsufficientDataError
from .sample import Sample
from .seeding import derived_seed

MODES = ("auto", "crossfit", "holdout", "parents")


@dataclass(frozen=True)
class EvidenceOptions:
    """The ``evidence`` node of a run config, checked once."""

    reference: str = "auto"
    folds: int = 3
    repeats: int = 5
    max_batch: int = 60
    max_real: int = 200  # real samples per class that enter the folds (the rest are only parents)
    seed: int | None = 0  # the fold split's seed (None: the run's seed)

    @classmethod
    def parse(cls, node: Any) -> "EvidenceOptions":
        from .config import plain

        d = plain(node) or {}
        if not isinstance(d, dict):
            raise ConfigError("evidence: must be a mapping")
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"evidence.{sorted(unknown)[0]}: unknown key (allowed: reference, folds, repeats, max_batch, max_real, seed)")
        ref = str(d.get("reference", "auto"))
        if ref not in MODES:
            raise ConfigError(f"evidence.reference: must be one of {', '.join(MODES)}, got {ref!r}")
        out = {"reference": ref}
        for key, lo in (("folds", 2), ("repeats", 1), ("max_batch", 1), ("max_real", 2)):
            v = d.get(key, getattr(cls, key))
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigError(f"evidence.{key}: must be an integer >= {lo}, got {v!r}")
            out[key] = v
        seed = d.get("seed", 0)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"evidence.seed: must be an integer or null, got {seed!r}")
        return cls(**out, seed=seed)


@dataclass
class FoldBatch:
    """One (repeat, fold): real ids outside and inside it, and the validation batch made from outside."""

    repeat: int
    fold: int
    train_ids: dict[str, list[str]]
    test_ids: dict[str, list[str]]
    samples: list[Sample]


@dataclass
class Reference:
    """What each class was judged against, stated in the terminal and the report."""

    mode: str  # holdout | crossfit | parents | given
    n_real: dict[str, int]
    folds: int = 0
    repeats: int = 0
    parents_unknown: int = 0  # synthetic samples without provenance (synthgen validate on foreign data)

    def describe(self, label: str) -> str:
        n = self.n_real.get(label, 0)
        if self.mode == "holdout" and n == 0:  # the class is not cut by dataset.longtail.keep: nothing held out
            return "held-out real: none (class not in dataset.longtail.keep; distribution checks n/a)"
        return {"holdout": f"held-out real (n={n})",
                "crossfit": f"cross-fit {self.folds}x{self.repeats} (n={n})",
                "parents": f"PARENTS (circular, n={n})",
                "given": f"given real, parents excluded (n={n})"}[self.mode]

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "folds": self.folds, "repeats": self.repeats, "n_real": dict(self.n_real),
                "parents_unknown": self.parents_unknown, "per_class": {c: self.describe(c) for c in self.n_real}}


def resolve_mode(opts: EvidenceOptions, has_holdout: bool, has_generator: bool) -> str:
    mode = opts.reference
    if mode == "auto":
        return "holdout" if has_holdout else ("crossfit" if has_generator else "given")
    if mode == "holdout" and not has_holdout:
        raise ConfigError("evidence.reference=holdout: the dataset has no held-out real samples "
                          "(set dataset.longtail.keep with holdout: true, or use evidence.reference=crossfit)")
    if mode == "crossfit" and not has_generator:
        raise ConfigError("evidence.reference=crossfit: needs the generator (only `synthgen run` and `collect` cross-fit)")
    return mode


def fresh(generator):
    """An unfitted copy of a generator, built from its parameters (constructors only store them), so
    no state of another fit (parent pools, caches, a trained model) carries over into a fold."""
    try:
        g = type(generator)(**generator.get_params())
        if getattr(generator, "guidance_", None) and hasattr(g, "guide"):  # model-guided parents, as merged
            g.guide(generator.guidance_)
        return g
    except TypeError as e:  # a constructor that does more than store its arguments: a generator bug
        raise TypeError(f"{generator.target}: cannot be rebuilt from get_params() for cross-fitting ({e})") from None


def make_batches(generator, train: Dataset, counts: dict[str, int], seed: int, opts: EvidenceOptions,
                 progress: bool = True) -> tuple[list[FoldBatch], int, int]:
    """Fit a fresh copy of the generator once per (repeat, fold) on the real data outside the fold
    and generate a validation batch per filled class (``counts``: planned samples per class) from it.

    Returns the batches, the number of folds and of repeats used (a generator that trains a model
    may cap its repeats with ``crossfit_repeats``: each fold costs one training).  Every batch
    sample's parents are checked against the fold's held-out ids: a parent inside its own fold is
    a generator bug and an error.
    """
    import sys

    from tqdm import tqdm

    from synthgen.validators.crossfit import make_folds

    by_class = _fold_members(train, opts, seed)
    repeats = min(opts.repeats, getattr(generator, "crossfit_repeats", None) or opts.repeats)
    splits = make_folds(by_class, opts.folds, repeats, seed if opts.seed is None else opts.seed, groups=_groups(by_class))
    k = 1 + max(f for _, f, _, _ in splits)
    labels = [c for c, n in counts.items() if n > 0]
    batches = []
    bar = tqdm(total=len(splits), desc="cross-fit", unit="fold", disable=None if progress else True, file=sys.stderr)
    try:
        for r, f, train_idx, test_idx in splits:
            train_ids = {c: [by_class[c][i].id for i in idx] for c, idx in train_idx.items()}
            test_ids = {c: [by_class[c][i].id for i in idx] for c, idx in test_idx.items()}
            out = {id(by_class[c][i]) for c, idx in test_idx.items() for i in idx}
            g = fresh(generator).fit(train.subset([s for s in train.samples if id(s) not in out]))
            fold_seed = derived_seed(seed, "crossfit", r, f)
            held = {i for ids in test_ids.values() for i in ids}  # no parent from the fold, of any class
            samples = []
            for label in labels:
                if not train_ids.get(label):
                    continue  # every real sample of the class is in this fold: nothing to derive from
                n = min(opts.max_batch, max(1, math.ceil(counts[label] / k)))
                try:
                    made = list(g.generate(label, n, fold_seed))
                except InsufficientDataError:
                    continue  # the texts left outside this fold are too few for the generator: no batch, as above
                for s in made:
                    leaked = held.intersection(s.provenance.parents)
                    if leaked:
                        raise DatasetError(f"generator {g.target}: validation sample {s.id} of fold {f} has "
                                           f"parent {sorted(leaked)[0]} from inside its own fold")
                    params = {**s.provenance.params, "crossfit": {"repeat": r, "fold": f, "k": k}}
                    samples.append(dataclasses.replace(s, provenance=dataclasses.replace(s.provenance, params=params)))
            batches.append(FoldBatch(r, f, train_ids, test_ids, samples))
            bar.update(1)
    finally:
        bar.close()
    return batches, k, repeats


def evidence_batches(generator, train: Dataset, synthetic: list[Sample], counts: dict[str, int], seed: int,
                     opts: EvidenceOptions, progress: bool = True) -> tuple[list[FoldBatch], int, int]:
    """The cross-fitted validation batches of ``synthgen run`` (and ``collect``): one per (repeat, fold)
    holding, per filled class, ``min(max_batch, ceil(count / K))`` samples none of whose parents lies
    in the fold.  A generator whose samples depend on the real data only through their parents
    (``evidence_kind = "per_parent"``) has its batches drawn (seeded) from ``synthetic``, the set it
    generated for the merge, when that is held in memory: drawing among the samples whose parents are
    outside fold k is drawing from the generator applied to the real data outside fold k, so nothing
    is generated or featurized twice.  Any other generator is refitted without each fold and generates its batch
    (:func:`make_batches`).  Returns the batches, K and the repeats used."""
    from .validate import _lazy

    if getattr(generator, "evidence_kind", "fitted") != "per_parent" or any(_lazy(s) for s in synthetic):
        return make_batches(generator, train, counts, seed, opts, progress=progress)
    import numpy as np

    from synthgen.validators.crossfit import make_folds

    by_class = _fold_members(train, opts, seed)
    splits = make_folds(by_class, opts.folds, opts.repeats, seed if opts.seed is None else opts.seed, groups=_groups(by_class))
    k = 1 + max(f for _, f, _, _ in splits)
    syn = {c: [s for s in synthetic if s.label == c] for c, n in counts.items() if n > 0}
    batches = []
    for r, f, train_idx, test_idx in splits:
        train_ids = {c: [by_class[c][i].id for i in idx] for c, idx in train_idx.items()}
        test_ids = {c: [by_class[c][i].id for i in idx] for c, idx in test_idx.items()}
        held = {i for ids in test_ids.values() for i in ids}  # no parent from the fold, of any class
        samples = []
        for label, pool in syn.items():
            if not train_ids.get(label):
                continue  # every real sample of the class is in this fold: nothing to derive from
            ok = [s for s in pool if s.provenance is not None and held.isdisjoint(s.provenance.parents)]
            n = min(opts.max_batch, max(1, math.ceil(counts[label] / k)), len(ok))
            rng = np.random.default_rng(derived_seed(seed, "crossfit-draw", r, f, label))
            for i in np.sort(rng.permutation(len(ok))[:n]):
                s = ok[int(i)]
                params = {**s.provenance.params, "crossfit": {"repeat": r, "fold": f, "k": k, "drawn_from": "merge set"}}
                samples.append(dataclasses.replace(s, provenance=dataclasses.replace(s.provenance, params=params)))
        batches.append(FoldBatch(r, f, train_ids, test_ids, samples))
    return batches, k, opts.repeats


def exclude_parents(reference: Dataset, synthetic: list[Sample]) -> tuple[Dataset, int]:
    """The reference without any real sample named as a parent of a synthetic sample (for
    ``synthgen validate``, where the generator is not at hand).  Returns it and how many were removed."""
    parents = {p for s in synthetic if s.provenance is not None for p in s.provenance.parents}
    kept = [s for s in reference.samples if s.id not in parents]
    return (reference if len(kept) == len(reference.samples) else reference.subset(kept)), len(reference.samples) - len(kept)


def batches_from_parents(train: Dataset, synthetic: list[Sample], opts: EvidenceOptions, seed: int) -> tuple[list[FoldBatch], int]:
    """Cross-fitted batches without the generator (``synthgen validate``): for fold k, the synthetic
    samples none of whose parents lies inside fold k (by the ids in their provenance).

    Samples without provenance (made elsewhere: parents unknown) enter every fold; the reference says
    how many there are.  For a generator that fitted a model on every real sample the model has still
    seen fold k; only ``synthgen run`` refits without it.
    """
    from synthgen.validators.crossfit import make_folds

    by_class = _fold_members(train, opts, seed)
    splits = make_folds(by_class, opts.folds, opts.repeats, seed if opts.seed is None else opts.seed, groups=_groups(by_class))
    k = 1 + max(f for _, f, _, _ in splits)
    batches = []
    for r, f, train_idx, test_idx in splits:
        test_ids = {c: [by_class[c][i].id for i in idx] for c, idx in test_idx.items()}
        held = {i for ids in test_ids.values() for i in ids}
        taken: dict[str, int] = {}
        samples = []
        for s in synthetic:
            parents = s.provenance.parents if s.provenance is not None else ()
            if held.isdisjoint(parents) and taken.get(s.label, 0) < opts.max_batch:
                taken[s.label] = taken.get(s.label, 0) + 1
                samples.append(s)
        batches.append(FoldBatch(r, f, {c: [by_class[c][i].id for i in idx] for c, idx in train_idx.items()},
                                 test_ids, samples))
    return batches, k


def _fold_members(train: Dataset, opts: EvidenceOptions, seed: int) -> dict[str, list[Sample]]:
    """The real samples of each class that enter the folds: all of a class up to ``max_real``, else a
    seeded subset (in dataset order).  The others stay possible parents and are never tested, which
    keeps the probes' cost flat on large datasets without touching the rare classes."""
    import numpy as np

    out = {}
    for c in train.classes:
        members = [s for s in train.samples if s.label == c]
        if len(members) > opts.max_real:
            rng = np.random.default_rng(derived_seed(seed if opts.seed is None else opts.seed, "crossfit-members", c))
            keep = np.sort(rng.choice(len(members), opts.max_real, replace=False))
            members = [members[i] for i in keep]
        if members:
            out[c] = members
    return out


def _groups(by_class: dict[str, list[Sample]]) -> dict[str, list[Any]] | None:
    """Group keys for the folds: ``meta["group"]`` where a reader sets it (CGAL: the mesh file every
    cloud of a shape was sampled from), so near-copies never sit on both sides of a fold."""
    if not any((s.meta or {}).get("group") is not None for ss in by_class.values() for s in ss):
        return None
    return {c: [(s.meta or {}).get("group", s.id) for s in ss] for c, ss in by_class.items()}
