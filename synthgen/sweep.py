"""Sweeps that choose: rank the runs of a multirun by their validation scores, and give Optuna an objective.

* :class:`SweepSummary` is a Hydra callback (registered in ``conf/run.yaml``): after ``synthgen -m ...``
  it reads every job's ``report.json`` and writes ``sweep_summary.json`` and ``sweep_summary.md`` in the
  sweep folder, best configuration first, and prints the table.
* :func:`objective` turns a report into the number an Optuna sweep maximises (``objective.class``:
  one class's score, or the mean over classes when null).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from .io.common import dumps


def class_score(c: dict[str, Any]) -> float:
    """A class's score: the lowest validator score (0 when a validator could not compute)."""
    scores = [v.get("score") for v in c.get("validators", {}).values()]
    return float(min((s if s is not None else 0.0) for s in scores)) if scores else 0.0


def objective(report: dict[str, Any], label: str | None = None) -> float:
    classes = report.get("classes", {})
    if label is not None:
        if str(label) not in classes:
            from .errors import ConfigError

            raise ConfigError(f"objective.class: class '{label}' is not in the report (classes: {', '.join(classes)})")
        return class_score(classes[str(label)])
    return float(sum(class_score(c) for c in classes.values()) / len(classes)) if classes else 0.0


def summarise(sweep_dir: str | Path, label: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for rep in sorted(Path(sweep_dir).glob("*/report.json")):
        job = rep.parent
        report = json.loads(rep.read_text())
        ov = job / ".hydra" / "overrides.yaml"
        overrides = [ln[2:].strip() for ln in ov.read_text().splitlines() if ln.startswith("- ")] if ov.exists() else []
        rows.append({
            "job": job.name,
            "overrides": overrides,
            "score": round(objective(report, label), 6),
            "classes": {k: {"verdict": c["verdict"], "score": round(class_score(c), 6)} for k, c in report["classes"].items()},
            "passed": report.get("summary", {}).get("pass", []),
        })
    rows.sort(key=lambda r: (-r["score"], r["job"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def write_summary(sweep_dir: str | Path, label: str | None = None) -> list[dict[str, Any]]:
    sweep_dir = Path(sweep_dir)
    rows = summarise(sweep_dir, label)
    if not rows:
        return rows
    (sweep_dir / "sweep_summary.json").write_text(dumps({"objective_class": label, "runs": rows}) + "\n")
    lines = ["| rank | score | passed | overrides | job |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rank']} | {r['score']:.3f} | {', '.join(r['passed']) or '-'} | {' '.join(r['overrides'])} | {r['job']} |")
    (sweep_dir / "sweep_summary.md").write_text("\n".join(lines) + "\n")
    print(f"sweep summary ({len(rows)} runs, best first): {sweep_dir / 'sweep_summary.md'}")
    for r in rows[:10]:
        print(f"  #{r['rank']}  score {r['score']:.3f}  {' '.join(r['overrides'])}")
    return rows


class SweepSummary(Callback):
    """Hydra callback: write the ranking when a multirun ends."""

    def on_multirun_end(self, config, **kwargs) -> None:
        label = (config.get("objective") or {}).get("class")
        write_summary(config.hydra.sweep.dir, label)
