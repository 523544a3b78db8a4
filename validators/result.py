"""Typed validation results.  Never NaN: a class with too little data is ``incomputable`` with a reason."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, INCOMPUTABLE = "pass", "fail", "incomputable"


@dataclass
class ClassResult:
    label: str
    status: str  # pass | fail | incomputable
    statistic: float | None = None
    score: float | None = None  # [0, 1], 1 = indistinguishable from real; >= 0.5 iff passed
    p_value: float | None = None
    threshold: float | None = None
    passed: bool = False
    n_real: int = 0
    n_synthetic: int = 0
    baseline: dict[str, float] = field(default_factory=dict)  # real-vs-real distribution of the statistic
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
