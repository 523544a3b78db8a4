"""benchmarks/bench_utility.py: the split keeps test and oracle data away from training, and the
summary's goal checks read the rows they claim to read (the numbers themselves are the benchmark's)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_split_keeps_test_and_oracle_apart(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import bench_utility as B
    from benchmarks import evidence_cases as EC

    spec = B.SPECS["images"]
    cfg = B.compose(spec, spec["main"])
    full = EC.load_full(spec["mod"], cfg)
    sp = B.split(full, spec, 0)
    train = {s.id for s in sp["train"].samples}
    test = {s.id for s in sp["test"].samples}
    counts = sp["train"].counts()
    for c, n in spec["rare"].items():
        assert counts[c] == n
        oracle = {s.id for s in sp["oracle"][c]}
        assert oracle and not oracle & train and not oracle & test
    assert not train & test
    assert sp["test"].counts()["8"] > 0
    assert {s.id for s in B.split(full, spec, 1)["train"].samples} != train  # the seed changes the split


def _row(rare, acc, **kw):
    return {"rare_recall": rare, "accuracy": acc, "macro_recall": acc, **kw}


def test_summary_goals(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import bench_utility as B

    def seed(i, guided, accepted_acc):
        return {"seed": i, "rows": {
            "real only": _row(0.5, 0.90), "oversampling": _row(0.6, 0.91), "class weights": _row(0.6, 0.9),
            "g, uniform (forced)": _row(0.7, 0.92), "g, model-guided (forced)": _row(guided, 0.92),
            "g, uniform (gate-accepted)": _row(0.7, accepted_acc, admitted=1, classes=2, gate={}),
            "real-data oracle (same count)": _row(0.8, 0.95)}}

    res = {"main": "g", "seeds": [seed(0, 0.75, 0.92), seed(1, 0.67, 0.85)]}
    g = B.summarize(res)["goals"]
    assert g["guided_wins"] == "1/2"
    assert abs(g["guided_minus_uniform_rare_recall"][0] - 0.01) < 1e-9
    assert [h["seed"] for h in g["gate_accepted_rows_below_real_only_accuracy"]] == [1]
    assert g["gap_closed_by_best"]["row"] == "g, model-guided (forced)"
    assert abs(g["gap_closed_by_best"]["share"] - 0.55) < 1e-9  # (0.71 - 0.60) / (0.80 - 0.60)
