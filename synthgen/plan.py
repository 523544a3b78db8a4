"""Class-gap planning: real label counts plus a policy -> how many samples to generate per class.

Policy (``policy`` in config):
  target: ``max`` | ``median`` | an integer N: the per-class total (real + synthetic) to reach
  max_synthetic_fraction: the synthetic share of a class's total may not exceed this (0..1)
  classes: optional list of classes to fill; the others get 0
  min_real: classes with fewer real samples than this are reported and skipped (0 to allow all)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True)
class PlanRow:
    label: str
    real: int
    target: int
    synthetic: int
    note: str = ""


@dataclass(frozen=True)
class Plan:
    rows: tuple[PlanRow, ...]
    policy: dict[str, Any]

    def counts(self) -> dict[str, int]:
        return {r.label: r.synthetic for r in self.rows}

    @property
    def total(self) -> int:
        return sum(r.synthetic for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "rows": [asdict(r) for r in self.rows], "total": self.total}

    def table(self) -> str:
        w = max([5] + [len(r.label) for r in self.rows])
        lines = [f"{'class':<{w}}  {'real':>6}  {'target':>6}  {'generate':>8}  note", "-" * (w + 40)]
        for r in self.rows:
            lines.append(f"{r.label:<{w}}  {r.real:>6}  {r.target:>6}  {r.synthetic:>8}  {r.note}")
        lines.append(f"{'total':<{w}}  {sum(r.real for r in self.rows):>6}  {'':>6}  {self.total:>8}")
        return "\n".join(lines)


def make_plan(
    counts: dict[str, int],
    target: Any = "max",
    max_synthetic_fraction: float = 0.9,
    classes: Iterable[str] | None = None,
    min_real: int = 1,
) -> Plan:
    """Compute the per-class number of synthetic samples.  Errors name the policy key at fault."""
    if not counts:
        raise ConfigError("policy: the dataset has no classes")
    for label, n in counts.items():
        if n == 0:
            raise ConfigError(f"dataset: class '{label}' has no real samples")
    f = float(max_synthetic_fraction)
    if not 0.0 <= f < 1.0:
        raise ConfigError(f"policy.max_synthetic_fraction: must be in [0, 1), got {max_synthetic_fraction}")
    if int(min_real) < 0:
        raise ConfigError(f"policy.min_real: must be >= 0, got {min_real}")
    values = np.array(list(counts.values()))
    if isinstance(target, str) and target in ("max", "median"):
        goal = int(values.max()) if target == "max" else int(math.ceil(float(np.median(values))))
    else:
        try:
            goal = int(target)
            if isinstance(target, float) and target != goal:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"policy.target: must be 'max', 'median' or a non-negative integer, got {target!r}") from None
        if goal < 0:
            raise ConfigError(f"policy.target: must be a non-negative count, got {goal}")
    selected = None
    if classes is not None:
        selected = [str(c) for c in classes]
        for c in selected:
            if c not in counts:
                raise ConfigError(f"policy.classes: class '{c}' is not in the dataset (classes: {', '.join(counts)})")
    rows = []
    for label, real in counts.items():
        note = ""
        if selected is not None and label not in selected:
            n = 0
            note = "not selected"
        elif real < int(min_real):
            n = 0
            note = f"fewer than min_real={min_real} real samples"
        else:
            n = max(0, goal - real)
            cap = int(math.floor(f * real / (1.0 - f) + 1e-9)) if f > 0 else 0
            if n > cap:
                n = cap
                note = f"capped by max_synthetic_fraction={f:g}"
        rows.append(PlanRow(label, int(real), int(goal), int(n), note))
    policy = {"target": target, "max_synthetic_fraction": f, "classes": selected, "min_real": int(min_real)}
    return Plan(tuple(rows), policy)


def shard_indices(n: int, shard: str | None) -> range:
    """The contiguous slice of ``range(n)`` that shard ``i/k`` owns (``None`` owns everything)."""
    if not shard:
        return range(n)
    try:
        i, k = (int(v) for v in str(shard).split("/"))
    except ValueError:
        raise ConfigError(f"shard: expected 'i/n' such as 0/4, got {shard!r}") from None
    if k <= 0 or not 0 <= i < k:
        raise ConfigError(f"shard: index must satisfy 0 <= i < n, got {shard!r}")
    return range(n * i // k, n * (i + 1) // k)
