"""A stress suite: corruptions x severities applied to every sample of a base dataset.

A suite config (``conf/stress/*.yaml``) names the corruptions (a name, or ``{name, severities,
expect, options}``), the default severities, and whether to include the clean base samples
(needed for relative mCE and CheckList invariance failure rates).  Sample ``i`` of the suite is a
pure function of ``(seed, base sample id, severity, corruption)``, so a suite is identical however
it is built.  Every sample records its corruption, severity and base sample in its provenance.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import digest, library_versions, plain
from ..dataset import Dataset
from ..errors import ConfigError
from ..io.common import safe_name
from ..sample import Provenance, Sample
from ..seeding import derived_seed, sample_rng
from . import corruptions as registry

CLEAN = "clean"
CLEAN_TARGET = "synthgen.stress.suite.clean"
SUITE_VERSION = "1"


@dataclass
class Entry:
    corruption: registry.Corruption
    severities: tuple[int, ...]
    expect: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c = self.corruption
        return {"name": c.name, "target": c.target, "family": c.family, "benchmark": c.benchmark, "geometric": c.geometric,
                "expect": self.expect, "severities": list(self.severities), "options": self.options}


def _severities(v, key: str) -> tuple[int, ...]:
    if v is None:
        return registry.SEVERITIES
    if isinstance(v, int):
        v = [v]
    try:
        out = tuple(sorted({int(s) for s in v}))
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: must be a list of severities 1..5, got {v!r}") from None
    bad = [s for s in out if s not in registry.SEVERITIES]
    if bad or not out:
        raise ConfigError(f"{key}: severities must be in 1..5, got {list(v)!r}")
    return out


ALLOWED = {"name", "modality", "benchmark", "baseline", "severities", "include_clean", "per_class", "options", "corruptions", "description",
           "language"}


def parse_suite(suite_cfg: Any, modality: str, key: str = "stress") -> tuple[dict[str, Any], list[Entry]]:
    """Validate a suite config against the dataset's modality; returns (settings, entries)."""
    cfg = plain(suite_cfg) or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{key}: must be a mapping (a suite from conf/stress/)")
    for k in cfg:
        if k not in ALLOWED:
            raise ConfigError(f"{key}.{k}: unknown key (allowed: {', '.join(sorted(ALLOWED))})")
    want = cfg.get("modality")
    if want and want != modality:
        raise ConfigError(f"{key}.modality: suite '{cfg.get('name')}' corrupts {want} data but the base dataset holds {modality}")
    default_sev = _severities(cfg.get("severities"), f"{key}.severities")
    options = dict(cfg.get("options") or {})
    items = cfg.get("corruptions")
    if not items:
        raise ConfigError(f"{key}.corruptions: empty (list corruption names, e.g. [gaussian_noise, shot_noise])")
    if isinstance(items, str):
        items = [items]
    entries, seen = [], set()
    for i, item in enumerate(items):
        k = f"{key}.corruptions[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(f"{k}: must be a name or a mapping with 'name'")
        extra = set(item) - {"name", "severities", "expect", "options"}
        if extra:
            raise ConfigError(f"{k}.{sorted(extra)[0]}: unknown key (allowed: name, severities, expect, options)")
        c = registry.get(modality, str(item["name"]), k)
        if c.name in seen:
            raise ConfigError(f"{k}: corruption '{c.name}' is listed twice")
        seen.add(c.name)
        expect = item.get("expect", c.expect)
        if expect not in ("invariant", "directional"):
            raise ConfigError(f"{k}.expect: must be 'invariant' or 'directional', got {expect!r}")
        sev = _severities(item["severities"], f"{k}.severities") if "severities" in item else default_sev
        entries.append(Entry(c, sev, expect, {**options, **dict(item.get("options") or {})}))
    per_class = cfg.get("per_class")
    if per_class is not None and (not isinstance(per_class, int) or per_class < 1):
        raise ConfigError(f"{key}.per_class: must be a positive integer or null, got {per_class!r}")
    settings = {"name": cfg.get("name") or "suite", "benchmark": cfg.get("benchmark"), "baseline": cfg.get("baseline"),
                "include_clean": bool(cfg.get("include_clean", True)), "per_class": per_class, "modality": modality}
    if modality == "text":  # English-only corruptions are left out of a suite in another language (stress/text.py)
        from ..language import check_language

        settings["language"] = check_language(cfg.get("language", "auto"), f"{key}.language")
    return settings, entries


def drop_not_applicable(ds: Dataset, settings: dict[str, Any], entries: list[Entry]) -> list[Entry]:
    """The entries that apply to the base texts' language; the others go to ``settings["not_applicable"]``
    (``{corruption: reason}``) with the language in ``settings["language_detected"]``.  Other modalities: as is."""
    if settings.get("modality") != "text":
        return entries
    from .text import not_applicable

    det, na = not_applicable([e.corruption.name for e in entries], [s.data for s in ds.samples if isinstance(s.data, str)],
                             settings.get("language", "auto"))
    settings["language_detected"] = det.to_dict()
    settings["not_applicable"] = na
    return [e for e in entries if e.corruption.name not in na]


def select_base(ds: Dataset, per_class: int | None, seed: int) -> list[Sample]:
    """At most ``per_class`` samples per class, chosen by a seeded permutation, in dataset order."""
    if per_class is None:
        return list(ds.samples)
    chosen: set[int] = set()
    for label in ds.classes:
        idx = [i for i, s in enumerate(ds.samples) if s.label == label]
        perm = np.random.default_rng(derived_seed(seed, "stress-base", label)).permutation(len(idx))
        chosen.update(idx[j] for j in perm[:per_class])
    return [s for i, s in enumerate(ds.samples) if i in chosen]


def _copy_data(d):
    return d.copy() if isinstance(d, np.ndarray) else d


def _copy_ann(ann: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(ann)


def build_suite(ds: Dataset, settings: dict[str, Any], entries: list[Entry], seed: int, progress=None) -> list[Sample]:
    """Every (base sample, corruption, severity), plus the clean base samples when asked."""
    base = select_base(ds, settings["per_class"], seed)
    out: list[Sample] = []
    libs = {e.corruption.name: library_versions(e.corruption.libraries) for e in entries}
    suite_name = settings["name"]
    if settings["include_clean"]:
        for b in base:
            prov = Provenance(generator=CLEAN_TARGET, generator_version=SUITE_VERSION, config_digest=digest({"clean": True}),
                              seed=int(seed), label=b.label, index=0, parents=(b.id,),
                              params={"corruption": CLEAN, "severity": 0, "benchmark": None, "expect": None, "suite": suite_name,
                                      **({"language": settings["language_detected"]["language"],
                                          "not_applicable": settings["not_applicable"]} if settings.get("not_applicable") else {})})
            meta = {k: v for k, v in b.meta.items() if k == "path"}
            out.append(Sample(id=f"{safe_name(b.id)}__clean", data=_copy_data(b.data), label=b.label,
                              annotations=_copy_ann(b.annotations), provenance=prov, modality=b.modality, meta=meta))
            if progress:
                progress(1)
    for e in entries:
        c = e.corruption
        dig = digest({"_target_": c.target, "version": c.version, "options": e.options})
        for b in base:
            for sev in e.severities:
                rng = sample_rng(seed, b.id, sev, stream=c.name)
                data, ann, params = c(_copy_data(b.data), _copy_ann(b.annotations), sev, rng, **e.options)
                prov = Provenance(generator=c.target, generator_version=c.version, config_digest=dig, seed=int(seed),
                                  label=b.label, index=int(sev), parents=(b.id,),
                                  params={"corruption": c.name, "severity": int(sev), "benchmark": c.benchmark,
                                          "family": c.family, "expect": e.expect, "suite": suite_name, **params},
                                  libraries=libs[c.name])
                out.append(Sample(id=f"{safe_name(b.id)}__{c.name}_s{sev}", data=data, label=b.label, annotations=ann,
                                  provenance=prov, modality=b.modality))
                if progress:
                    progress(1)
    return out


def suite_size(ds: Dataset, settings: dict[str, Any], entries: list[Entry], seed: int) -> tuple[int, int]:
    n_base = len(select_base(ds, settings["per_class"], seed))
    return n_base, n_base * (int(settings["include_clean"]) + sum(len(e.severities) for e in entries))
