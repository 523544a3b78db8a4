"""Corruption error (CE), mean CE and relative mCE (Hendrycks & Dietterich 2019; Ren et al. 2022).

``CE_c = sum_s E_{s,c} / sum_s B_{s,c}`` with the baseline's error at the same severities; when the
baseline only has the mean over severities 1-5, ``CE_c = mean_s E_{s,c} / mean(B_c)`` (identical
when all five severities are evaluated).  ``relative CE_c`` subtracts the clean errors first.  mCE
is the mean CE over corruptions, times the baseline's scale (100 for ImageNet-C, 1 for ModelNet-C).
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError, InsufficientDataError


def _baseline_sum(entry: Mapping[str, Any], severities: list[int]) -> tuple[float, str]:
    errs = entry.get("errors") or {}
    errs = {int(k): float(v) for k, v in errs.items()}
    if severities and all(s in errs for s in severities):
        return sum(errs[s] for s in severities), "per-severity"
    if entry.get("mean") is not None:
        return float(entry["mean"]) * len(severities), "mean"
    raise InsufficientDataError(f"baseline has no errors for severities {severities}")


def corruption_error(errors: float | Mapping[int, float], entry: Mapping[str, Any]) -> float:
    """CE of one corruption: ``errors`` is the mean error over severities 1-5, or ``{severity: error}``."""
    if isinstance(errors, Mapping):
        sev = sorted(int(s) for s in errors)
        denom, _ = _baseline_sum(entry, sev)
        num = sum(float(errors[s]) for s in sorted(errors, key=int))
    else:
        if entry.get("mean") is None:
            raise InsufficientDataError("baseline has no mean error")
        num, denom = float(errors), float(entry["mean"])
    if denom <= 0:
        raise InsufficientDataError("baseline error is zero")
    return num / denom


def relative_corruption_error(errors: float | Mapping[int, float], clean_error: float, entry: Mapping[str, Any],
                              baseline_clean: float) -> float:
    if isinstance(errors, Mapping):
        sev = sorted(int(s) for s in errors)
        denom, _ = _baseline_sum(entry, sev)
        denom -= baseline_clean * len(sev)
        num = sum(float(errors[s]) for s in sev) - clean_error * len(sev)
    else:
        num, denom = float(errors) - clean_error, float(entry["mean"]) - baseline_clean
    if denom <= 0:
        raise InsufficientDataError("baseline's corruption error does not exceed its clean error")
    return num / denom


def mce(errors: Mapping[str, float | Mapping[int, float]], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """``{"mce": ..., "ce": {corruption: ...}}`` over the corruptions the baseline covers (scaled)."""
    scale = float(baseline.get("scale", 100.0))
    table = baseline["corruptions"]
    missing = [c for c in errors if c not in table]
    if missing:
        raise ConfigError(f"baseline '{baseline.get('name')}': no entry for corruption(s) {', '.join(missing)}")
    ce = {c: corruption_error(e, table[c]) * scale for c, e in errors.items()}
    if not ce:
        raise InsufficientDataError("no corruptions to average")
    return {"mce": sum(ce.values()) / len(ce), "ce": ce}


def relative_mce(errors: Mapping[str, float | Mapping[int, float]], clean_error: float, baseline: Mapping[str, Any]) -> dict[str, Any]:
    scale = float(baseline.get("scale", 100.0))
    bclean = baseline.get("clean_error")
    if bclean is None:
        raise InsufficientDataError(f"baseline '{baseline.get('name')}' has no clean error")
    rce = {c: relative_corruption_error(e, clean_error, baseline["corruptions"][c], float(bclean)) * scale for c, e in errors.items()}
    return {"relative_mce": sum(rce.values()) / len(rce), "relative_ce": rce}
