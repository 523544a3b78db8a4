"""Validator results -> per-class verdicts.

A class PASSes when every validator that could compute passed; FAILs when any failed; is
INCOMPUTABLE when none failed but at least one had too little data.  Only PASS classes are merged
(unless a merge is forced with a recorded reason).
"""
from __future__ import annotations

from typing import Any

VERDICTS = ("pass", "fail", "incomputable")


def class_verdicts(results: dict[str, Any], labels: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for label in labels:
        statuses = {}
        failed_by, reasons = [], []
        for name, res in results.items():
            cr = res.per_class.get(label)
            if cr is None:
                continue
            statuses[name] = cr.status
            if cr.status == "fail":
                worst = cr.details.get("worst_feature")
                failed_by.append(f"{name}" + (f" ({worst})" if worst else ""))
            elif cr.status == "incomputable":
                reasons.append(f"{name}: {cr.reason}")
        if failed_by:
            verdict = "fail"
        elif reasons or not statuses:
            verdict = "incomputable"
        else:
            verdict = "pass"
        out[label] = {"verdict": verdict, "validators": statuses, "failed_by": failed_by, "reasons": reasons}
    return out
