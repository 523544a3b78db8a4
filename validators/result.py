"""Typed validation results.  Never NaN: a class with too little data is ``incomputable`` with a reason."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, INCOMPUTABLE = "pass", "fail", "incomputable"


@dataclass
class ClassResult:
    """One validator's verdict on one class.  ``status`` is the one verdict field (``passed`` is read
    from it, never stored beside it, so the two cannot disagree)."""

    label: str
    status: str  # pass | fail | incomputable
    statistic: float | None = None
    score: float | None = None  # [0, 1], 1 = indistinguishable from real; >= 0.5 iff passed
    p_value: float | None = None
    threshold: float | None = None
    n_real: int = 0
    n_synthetic: int = 0
    baseline: dict[str, float] = field(default_factory=dict)  # real-vs-real distribution of the statistic
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in (PASS, FAIL, INCOMPUTABLE):
            raise ValueError(f"ClassResult.status: must be pass, fail or incomputable, got {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed  # kept in report.json for readers of schema 3
        return d


@dataclass
class ValidationResult:
    validator: str
    statistic_name: str
    per_class: dict[str, ClassResult]

    @property
    def computable(self) -> list[ClassResult]:
        return [c for c in self.per_class.values() if c.status != INCOMPUTABLE]

    @property
    def passed(self) -> bool:
        return bool(self.computable) and all(c.passed for c in self.computable)

    @property
    def score(self) -> float | None:
        s = [c.score for c in self.computable if c.score is not None]
        return float(min(s)) if s else None

    @property
    def statistic(self) -> float | None:
        s = [c.statistic for c in self.computable if c.statistic is not None]
        return float(max(s)) if s else None

    @property
    def p_value(self) -> float | None:
        p = [c.p_value for c in self.computable if c.p_value is not None]
        return float(min(p)) if p else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "validator": self.validator,
            "statistic_name": self.statistic_name,
            "statistic": self.statistic,
            "score": self.score,
            "p_value": self.p_value,
            "passed": self.passed,
            "per_class": {k: v.to_dict() for k, v in self.per_class.items()},
        }


def combine_folds(results: list[ValidationResult], labels: list[str]) -> ValidationResult:
    """One validator run once per cross-fitting fold -> one result per class.

    The score is the mean over the folds that could compute it (so it stays 0.5 at the threshold and
    a verdict does not hinge on one lucky split); ``details`` keep the spread: folds computed, the
    share that passed, the lowest and highest score, and the feature most often named worst.
    """
    from collections import Counter

    import numpy as np

    first = results[0]
    per: dict[str, ClassResult] = {}
    for label in labels:
        crs = [r.per_class[label] for r in results if label in r.per_class]
        ok = [c for c in crs if c.status != INCOMPUTABLE]
        n_real, n_syn = sum(c.n_real for c in crs), sum(c.n_synthetic for c in crs)
        if not ok:
            why = next((c.reason for c in crs if c.reason), "no fold could compute it")
            per[label] = ClassResult(label, INCOMPUTABLE, n_real=n_real, n_synthetic=n_syn,
                                     reason=f"in every cross-fitting fold: {why}")
            continue
        scores = [c.score for c in ok if c.score is not None]
        share = float(np.mean([c.passed for c in ok]))
        score = float(np.mean(scores)) if scores else None
        passed = score >= 0.5 if score is not None else share >= 0.5
        stats = [c.statistic for c in ok if c.statistic is not None]
        thr = [c.threshold for c in ok if c.threshold is not None]
        worst = Counter(w for c in ok if not c.passed and (w := (c.details or {}).get("worst_feature")))
        details = {"folds": len(crs), "computed": len(ok), "pass_share": round(share, 6),
                   "stability": round(share if passed else 1.0 - share, 6),  # the folds agreeing with the verdict
                   "score_min": min(scores) if scores else None, "score_max": max(scores) if scores else None,
                   "worst_feature": worst.most_common(1)[0][0] if worst and not passed else None}
        per[label] = ClassResult(label, PASS if passed else FAIL, statistic=float(np.mean(stats)) if stats else None,
                                 score=score, threshold=float(np.mean(thr)) if thr else None,
                                 n_real=n_real, n_synthetic=n_syn, details=details)
    return ValidationResult(first.validator, first.statistic_name, per)
