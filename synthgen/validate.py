"""Validation: featurize real and synthetic data once, run every validator per class, gate, report.

A ``validation`` bundle (``conf/validation/<bundle>.yaml``) chooses feature spaces from the
``validation/featurizer`` group and validators from the ``validation/validator`` group (Hydra's
multi-select defaults: ``validation/validator=[ks,mmd,c2st]``); they land under
``validation.featurizers.<name>`` and ``validation.validators.<name>``.  A validator reads the space
named by its ``features:`` key (the first space when absent).  Validators with
``reads = "samples"`` (schema, duplicates) read the samples themselves and look for copies among
every real sample that may be a parent.  Validators with ``reads = "folds"`` (utility, cross-fitted
label agreement) read the cross-fitting folds (:mod:`synthgen.crossfit`); in ``crossfit`` mode every
other validator runs once per fold (batch made without the fold vs the fold) and the folds are
combined.  Every real class is featurized, each dataset once, through the content-hash cache
(``validation.cache_dir``; null turns it off).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import build, plain
from .dataset import Dataset
from .errors import ConfigError
from .plan import Plan
from .protocols import judge, reads
from .sample import Sample


def _echo(msg: str = "") -> None:
    print(msg, flush=True)


@dataclass
class View:
    """One feature space: names plus per-class real and synthetic matrices."""

    name: str
    featurizer: Any
    names: list[str]
    real: dict[str, np.ndarray] = field(default_factory=dict)
    synthetic: dict[str, np.ndarray] = field(default_factory=dict)
    real_ids: dict[str, list[str]] = field(default_factory=dict)
    synthetic_ids: dict[str, list[str]] = field(default_factory=dict)
    folds: list[Any] = field(default_factory=list)  # synthgen.validators.crossfit.Fold per (repeat, fold)


@dataclass
class Validation:
    results: dict[str, Any]
    verdicts: dict[str, dict[str, Any]]
    views: dict[str, View]
    validator_views: dict[str, str | None]  # validator -> feature space (None: reads samples)
    dropped: list[dict[str, Any]]
    cache: dict[str, Any]
    labels: list[str]
    synthetic: list[Sample]  # after the filter


def _selected(nodes: Any) -> dict[str, Any]:
    """The chosen components of a ``validation/featurizer`` or ``validation/validator`` list.  A bundle
    may set options (``features:``...) for components a user's override left out; such a node has no
    ``_target_`` and is ignored (an unknown key given on the command line never gets here: Hydra refuses
    it)."""
    return {str(k): n for k, n in (nodes or {}).items() if not (hasattr(n, "get") and n.get("_target_") is None)}


def _featurizers(cfg_validation: Any, modality: str) -> dict[str, Any]:
    nodes = _selected(cfg_validation.get("featurizers"))
    if not nodes:
        raise ConfigError("validation.featurizers: none chosen (choose with validation/featurizer=[...]; "
                          "see `synthgen run --cfg job --package validation`)")
    out = {}
    for name, node in nodes.items():
        key = f"validation.featurizers.{name}"
        f = build(node, key)
        if getattr(f, "modality", modality) != modality:
            raise ConfigError(f"{key}: reads {f.modality} samples but the data is {modality} "
                              f"(choose validation=... for {modality})")
        out[name] = f
    return out


def _validators(cfg_validation: Any, views: list[str]) -> tuple[dict[str, Any], dict[str, str | None]]:
    from omegaconf import OmegaConf

    vnodes = _selected(cfg_validation.get("validators"))
    if not vnodes:
        raise ConfigError("validation.validators: none chosen (choose with validation/validator=[...])")
    validators, which = {}, {}
    for k, node in vnodes.items():
        key = f"validation.validators.{k}"
        d = plain(node)
        if not isinstance(d, dict):
            raise ConfigError(f"{key}: must be a mapping with _target_")
        view = d.pop("features", None)
        v = build(OmegaConf.create(d), key)
        try:
            kind = reads(v)
        except TypeError as e:
            raise ConfigError(f"{key}: {e}") from None
        if kind == "samples":
            which[k] = None
        else:
            view = str(view) if view is not None else views[0]
            if view not in views:
                raise ConfigError(f"{key}.features: no feature space '{view}' (have: {', '.join(views)})")
            which[k] = view
        validators[k] = v
    return validators, which


def _batch_features(cache: Any, f: Any, name: str, batch: list[Sample], syn_order: list[Sample], S: np.ndarray,
                    width: int) -> np.ndarray:
    """Features of the cross-fitted batch samples: the rows already computed for the generated set
    where a batch sample was drawn from it (same id, same data object: ``evidence_kind = "per_parent"``
    generators), the featurizer for the rest."""
    if not batch:
        return np.zeros((0, width))
    row = {(s.id, id(s.data)): i for i, s in enumerate(syn_order) if not _lazy(s)}  # a lazy sample decodes anew
    at = [row.get((s.id, id(s.data))) for s in batch] if row else [None] * len(batch)
    todo = [s for s, i in zip(batch, at) if i is None]
    if not todo:
        return S[np.asarray(at, dtype=np.intp)]
    if len(todo) == len(batch):
        return cache.transform(f, batch, f"{name}/crossfit")
    out = np.zeros((len(batch), width))
    F = cache.transform(f, todo, f"{name}/crossfit")
    j = 0
    for k, i in enumerate(at):
        if i is None:
            out[k] = F[j]
            j += 1
        else:
            out[k] = S[i]
    return out


def _fold_views(batches: list[Any], train_order: list[Sample], T: np.ndarray, B: np.ndarray, width: int) -> list[Any]:
    """Per (repeat, fold): real rows outside / inside the fold and the rows of its validation batch."""
    from synthgen.validators.crossfit import Fold

    row = {s.id: i for i, s in enumerate(train_order)}
    empty = np.zeros((0, width))
    folds, start = [], 0
    for b in batches:
        rows = B[start:start + len(b.samples)]
        start += len(b.samples)
        syn: dict[str, list[int]] = {}
        for i, s in enumerate(b.samples):
            syn.setdefault(s.label, []).append(i)
        pick = lambda ids: T[[row[i] for i in ids]] if ids else empty  # noqa: E731
        folds.append(Fold(b.repeat, b.fold, {c: pick(ids) for c, ids in b.train_ids.items()},
                          {c: pick(ids) for c, ids in b.test_ids.items()}, {c: rows[ix] for c, ix in syn.items()}))
    return folds


def _lazy(s: Sample) -> bool:
    """Read from its file on every access (synthgen's own outputs, :mod:`synthgen.io.imagefolder`)."""
    return isinstance(getattr(type(s), "data", None), property)


IN_MEMORY_BYTES = 1 << 30  # lazy synthetic sets up to this size are decoded once for all validators


def decoded_once(samples: list[Sample], budget: int = IN_MEMORY_BYTES) -> list[Sample]:
    """Lazy samples (a file decoded, a manifest line parsed, on every read: synthgen's own outputs) read
    once into memory when the whole set fits in ``budget`` bytes, estimated from the first one; else
    as given.  Every validator reads each sample's pixels or points and annotations, so this turns
    about nine decodes per synthetic image of the default job into one."""
    lazy = [s for s in samples if _lazy(s)]
    if not lazy:
        return samples
    first = lazy[0].data
    if getattr(first, "nbytes", 0) * len(lazy) > budget:
        return samples

    def once(s: Sample) -> Sample:
        if not _lazy(s):
            return s
        return Sample(id=s.id, data=first if s is lazy[0] else s.data, label=s.label, annotations=s.annotations,
                      provenance=s.provenance, modality=s.modality, meta=dict(s.meta))

    return [once(s) for s in samples]


def run_validation(cfg_validation: Any, reference: Dataset, synthetic: list[Sample], seed: int, labels: list[str],
                   gate: Any = None, workers: int = 1, train: Dataset | None = None, batches: list[Any] | None = None,
                   mode: str = "holdout") -> Validation:
    """Featurize (cached), filter (if the gate asks), validate, and gate.

    ``reference``: the real data the distribution checks compare with (held-out real data, or in
    ``crossfit`` mode the whole training set, of which each fold compares only its held-out part with
    the batch made without it).  ``train``: every real sample that may be a parent (copy checks, folds;
    default ``reference``).  ``batches``: cross-fitted validation batches (:mod:`synthgen.crossfit`)
    for the validators that read folds (``reads = "folds"``) and, in ``crossfit`` mode, for every
    feature-matrix validator, run once per fold and combined (:func:`combine_folds`).
    """
    from tqdm import tqdm

    from synthgen.validators.cache import FeatureCache, content_hash

    from .gate import GatePolicy, class_verdicts, filter_samples

    if cfg_validation is None:
        raise ConfigError("validation: missing (e.g. validation=image_stats)")
    policy = gate if isinstance(gate, GatePolicy) else GatePolicy(gate)
    featurizers = _featurizers(cfg_validation, reference.modality)
    validators, which = _validators(cfg_validation, list(featurizers))
    cache_dir = cfg_validation.get("cache_dir", None)
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ConfigError(f"validation.cache_dir: must be a folder path or null, got {cache_dir!r}")
    cache = FeatureCache(cache_dir, workers=workers)
    real_classes = list(reference.classes)
    by_real = {c: [s for s in reference.samples if s.label == c] for c in real_classes}
    by_real = {c: v for c, v in by_real.items() if v}
    real_order = [s for c in by_real for s in by_real[c]]
    train = reference if train is None else train
    by_train = by_real if train is reference else {c: v for c in train.classes if (v := [s for s in train.samples if s.label == c])}
    train_order = [s for c in by_train for s in by_train[c]]
    batch_order = [s for b in (batches or []) for s in b.samples]
    synthetic = decoded_once(list(synthetic))
    syn = {label: [s for s in synthetic if s.label == label] for label in labels}
    syn_order = [s for label in labels for s in syn[label]]
    views: dict[str, View] = {}
    for name, f in tqdm(featurizers.items(), desc="featurize", unit="space", disable=None, file=sys.stderr):
        R = cache.transform(f, real_order, f"{name}/real")
        S = cache.transform(f, syn_order, f"{name}/synthetic")
        names = list(f.feature_names)
        v = View(name, f, names)
        i = 0
        for c, ss in by_real.items():
            v.real[c], v.real_ids[c] = R[i:i + len(ss)], [s.id for s in ss]
            i += len(ss)
        i = 0
        for label in labels:
            n = len(syn[label])
            v.synthetic[label] = S[i:i + n] if n else np.zeros((0, len(names)))
            v.synthetic_ids[label] = [s.id for s in syn[label]]
            i += n
        if batches:
            T = R if train is reference else cache.transform(f, train_order, f"{name}/train")
            B = _batch_features(cache, f, name, batch_order, syn_order, S, len(names))
            v.folds = _fold_views(batches, train_order, T, B, len(names))
        views[name] = v
    dropped: list[dict[str, Any]] = []
    if policy.filter["enabled"]:
        fv = policy.filter["features"] or next(iter(views))
        if fv not in views:
            raise ConfigError(f"gate.filter.features: no feature space '{fv}' (have: {', '.join(views)})")
        hashes = {c: {content_hash(s) for s in ss} for c, ss in by_real.items()} if policy.filter["drop_copies"] else None
        keep, dropped = filter_samples(views[fv].real, views[fv].synthetic, syn, views[fv].real_ids, policy.filter, hashes)
        for label, mask in keep.items():
            syn[label] = [s for s, k in zip(syn[label], mask) if k]
            for v in views.values():
                v.synthetic[label] = v.synthetic[label][mask]
                v.synthetic_ids[label] = [i for i, k in zip(v.synthetic_ids[label], mask) if k]
    results = {}
    if policy.filter["enabled"]:
        results["filter"] = _filter_result(dropped, {l: len(v) for l, v in syn.items()}, labels, policy.filter["max_drop_share"],
                                           policy.filter["far_quantile"])
    from synthgen.validators.result import combine_folds

    from .seeding import derived_seed

    for name, val in tqdm(validators.items(), desc="validate", unit="validator", disable=None, file=sys.stderr):
        if which[name] is None:  # sample checks; copies are looked for among every possible parent
            results[name] = judge(val, seed=seed, labels=labels, samples=(by_train, syn))
            continue
        v = views[which[name]]
        if reads(val) == "features" and mode == "crossfit" and v.folds:
            per_fold = [val.validate(fd.test, {l: fd.synthetic.get(l, np.zeros((0, len(v.names)))) for l in labels},
                                     list(v.names), seed=derived_seed(seed, name, fd.repeat, fd.fold)) for fd in v.folds]
            results[name] = combine_folds(per_fold, labels)
        else:
            results[name] = judge(val, seed=seed, labels=labels, folds=v.folds, features=(v.real, v.synthetic, list(v.names)))
    if "filter" in results:
        which = {"filter": None, **which}
    verdicts = class_verdicts(results, labels, policy)
    kept = [s for label in labels for s in syn[label]]
    return Validation(results, verdicts, views, which, dropped, cache.info(), labels, kept)


def _filter_result(dropped: list[dict[str, Any]], kept: dict[str, int], labels: list[str], max_share: float, far_q: float):
    """The filter as a validator: a class whose synthetic samples are mostly outside the real support
    fails (``gate.filter.max_drop_share``), instead of passing on the few that remain."""
    from synthgen.validators.result import FAIL, PASS, ClassResult, ValidationResult

    per = {}
    for label in labels:
        n_drop = sum(1 for d in dropped if d["label"] == label)
        total = n_drop + kept.get(label, 0)
        share = n_drop / total if total else 0.0
        passed = share <= max_share
        score = float(np.clip(1.0 - 0.5 * share / max_share, 0.0, 1.0)) if max_share > 0 else (1.0 if passed else 0.0)
        per[label] = ClassResult(label, PASS if passed else FAIL, statistic=share, score=score, threshold=max_share,
                                 n_synthetic=total, baseline={"real_share_beyond_far_threshold": round(1.0 - far_q, 6)},
                                 details={"dropped": n_drop, "worst_feature": None if passed else "dropped_share"})
    return ValidationResult("filter", "dropped_share", per)


def validate(cfg_validation: Any, reference: Dataset, synthetic: list[Sample], seed: int, labels: list[str], gate: Any = None):
    """Returns ``(results, verdicts, features, featurizer)`` of the first feature space (kept for callers
    of the foundation API; :func:`run_validation` returns everything)."""
    v = run_validation(cfg_validation, reference, synthetic, seed, labels, gate)
    first = next(iter(v.views.values()))
    feats = {l: {"real": first.real.get(l, np.zeros((0, len(first.names)))), "synthetic": first.synthetic[l]} for l in labels}
    return v.results, v.verdicts, feats, first.featurizer


def _examples(reference: Dataset, synthetic: list[Sample], labels: list[str], k: int) -> dict[str, dict[str, list]]:
    from itertools import islice

    def first(samples, label):  # decode only the k shown (samples may load lazily); annotations are drawn
        return list(islice((s for s in samples if s.label == label), k))

    return {label: {"real": first(reference.samples, label), "synthetic": first(synthetic, label)} for label in labels}


def validate_and_report(cfg, out_dir: Path, reference: Dataset, synthetic: list[Sample], run_info: dict, plan: Plan | None,
                        train: Dataset | None = None, batches: list[Any] | None = None, ref_info: Any = None):
    """Validate, write ``report.json`` and ``report.html`` into ``out_dir``, print the summary table.

    ``ref_info`` (:class:`synthgen.crossfit.Reference`) says what each class was judged against; it is
    written into the report and the terminal table."""
    from .gate import GatePolicy, exit_code
    from .report import add_diagnosis, build_report, summary_table, typicality, write_html, write_json

    order = {c: i for i, c in enumerate(reference.classes)}
    labels = sorted({s.label for s in synthetic}, key=lambda l: (order.get(l, len(order)), l))
    policy = GatePolicy(cfg.get("gate"))
    mode = ref_info.mode if ref_info is not None else "holdout"
    v = run_validation(cfg.get("validation"), reference, synthetic, int(cfg.seed), labels, policy,
                       workers=int(cfg.get("workers", 1) or 1), train=train, batches=batches, mode=mode)
    counts = {l: {"real": int(len(next(iter(v.views.values())).real.get(l, ()))),
                  "synthetic": int(sum(1 for s in v.synthetic if s.label == l))} for l in labels}
    k = int((cfg.get("report") or {}).get("examples", 8))
    typical = typicality(v, k)
    report = build_report(run=run_info, plan=plan.to_dict() if plan else None,
                          feature_names=list(next(iter(v.views.values())).names),
                          results=v.results, verdicts=v.verdicts, counts=counts,
                          views={n: {"featurizer": f"{type(w.featurizer).__module__}.{type(w.featurizer).__qualname__}",
                                     "dims": len(w.names), "description": getattr(w.featurizer, "description", None)}
                                 for n, w in v.views.items()},
                          validator_features=v.validator_views, gate=policy.to_dict(), dropped=v.dropped, cache=v.cache,
                          typical=typical)
    if ref_info is not None:
        report["reference"] = ref_info.to_dict()
        for label, c in report["classes"].items():
            c["reference"] = ref_info.describe(label)
    add_diagnosis(report, v.views)
    report["exit_code"] = exit_code(report["classes"], policy)
    write_json(report, out_dir / "report.json")
    by_id = {s.id: s for s in synthetic}
    by_id.update({s.id: s for s in v.synthetic})  # already decoded (decoded_once): thumbnails read no file
    write_html(report, out_dir / "report.html", views=v.views, examples=_examples(reference, v.synthetic, labels, k),
               samples_by_id=by_id)
    _echo(summary_table(report))
    return report
