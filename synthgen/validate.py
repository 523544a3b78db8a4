"""Validation: featurize real and synthetic samples once per class, run every validator, gate, report."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from .config import build
from .dataset import Dataset
from .errors import ConfigError
from .plan import Plan
from .sample import Sample


def _echo(msg: str = "") -> None:
    print(msg, flush=True)


def validate(cfg_validation: Any, reference: Dataset, synthetic: list[Sample], seed: int, labels: list[str]):
    """Returns ``(results, verdicts, features, featurizer)``."""
    from tqdm import tqdm

    from .gate import class_verdicts

    if cfg_validation is None:
        raise ConfigError("validation: missing (e.g. validation=image_stats)")
    featurizer = build(cfg_validation.get("featurizer"), "validation.featurizer")
    if getattr(featurizer, "modality", reference.modality) != reference.modality:
        raise ConfigError(f"validation.featurizer: reads {featurizer.modality} samples but the data is {reference.modality} "
                          f"(choose validation=... for {reference.modality})")
    vnodes = cfg_validation.get("validators") or {}
    if not vnodes:
        raise ConfigError("validation.validators: no validators configured")
    validators = {str(k): build(v, f"validation.validators.{k}") for k, v in vnodes.items()}
    feats: dict[str, dict[str, np.ndarray]] = {}
    for label in tqdm(labels, desc="featurize", unit="class", disable=None, file=sys.stderr):
        r = [s for s in reference.samples if s.label == label]
        sy = [s for s in synthetic if s.label == label]
        feats[label] = {"real": featurizer.transform(r), "synthetic": featurizer.transform(sy)}
    real = {k: v["real"] for k, v in feats.items()}
    syn = {k: v["synthetic"] for k, v in feats.items()}
    results = {}
    for name, v in tqdm(validators.items(), desc="validate", unit="validator", disable=None, file=sys.stderr):
        results[name] = v.validate(real, syn, list(featurizer.feature_names), seed=seed)
    return results, class_verdicts(results, labels), feats, featurizer


def _examples(reference: Dataset, synthetic: list[Sample], labels: list[str], k: int) -> dict[str, dict[str, list]]:
    return {label: {"real": [s.data for s in reference.samples if s.label == label][:k],
                    "synthetic": [s.data for s in synthetic if s.label == label][:k]} for label in labels}


def validate_and_report(cfg, out_dir: Path, reference: Dataset, synthetic: list[Sample], run_info: dict, plan: Plan | None):
    """Validate, write ``report.json`` and ``report.html`` into ``out_dir``, print the summary table."""
    from .report import build_report, summary_table, write_html, write_json

    order = {c: i for i, c in enumerate(reference.classes)}
    labels = sorted({s.label for s in synthetic}, key=lambda l: (order.get(l, len(order)), l))
    results, verdicts, feats, featurizer = validate(cfg.get("validation"), reference, synthetic, int(cfg.seed), labels)
    counts = {l: {"real": int(len(feats[l]["real"])), "synthetic": int(len(feats[l]["synthetic"]))} for l in labels}
    report = build_report(run=run_info, plan=plan.to_dict() if plan else None, feature_names=list(featurizer.feature_names),
                          results=results, verdicts=verdicts, counts=counts)
    write_json(report, out_dir / "report.json")
    k = int((cfg.get("report") or {}).get("examples", 8))
    write_html(report, out_dir / "report.html", feats, _examples(reference, synthetic, labels, k))
    _echo(summary_table(report))
    return report
