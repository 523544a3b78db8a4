"""Smoke test of benchmarks/bench_evidence.py: quick mode, images only; the result's structure, not its
numbers or its timing (the full benchmark reports those)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_evidence_quick_images(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import bench_evidence as B

    out = tmp_path / "evidence.md"
    res = B.main(["--quick", "--modalities", "images", "--out", str(out)])

    assert set(res) >= {"meta", "summary", "results", "markdown"}
    assert res["meta"]["seeds"] == 3 and res["meta"]["command"].endswith("--quick --modalities images --out " + str(out))
    assert list(res["results"]) == ["images"]
    r = res["results"]["images"]
    assert r["evidence"]["mode"] == "crossfit"  # no held-out data given to synthgen: reference=auto cross-fits
    assert [s["seed"] for s in r["seeds"]] == [0, 1, 2]
    for s in r["seeds"]:
        assert s["n_keep"] == 15 and 0 < s["n_synthetic"] <= s["n_pool"]
        assert set(s["cases"]) == set(B.CASES)
        for case in s["cases"].values():
            assert case["verdict"] in {"pass", "warn", "fail", "incomputable"}
            assert isinstance(case["admitted"], bool) and isinstance(case["failed_by"], list)
            if case["verdict"] == "fail":
                assert case["failed_by"], "a refused class names the validator that failed it"
        for arm in ("real-only", "oversampling", "+ accepted", "+ forced"):
            for k in ("rare_recall", "others_macro_recall"):
                assert 0.0 <= s["utility"][arm][k] <= 1.0
    summ = res["summary"]["images"]
    assert set(summ["cases"]) == set(B.CASES)
    for c in summ["cases"].values():
        assert c["admitted"] + c["refused"] == 3
    assert set(summ["utility"]) == {"real-only", "oversampling", "+ accepted", "+ forced"}
    assert summ["agreement"]["admitted"] + summ["agreement"]["refused"] == 3
    text = out.read_text()
    for heading in ("Real versus real", "Broken generators", "Utility of the default generator", "Gate versus held-out"):
        assert heading in text
    assert "synthgen commit:" in text and "cores" in text
    assert out.with_suffix(".json").exists()
