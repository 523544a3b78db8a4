"""``synthgen loop`` end to end through the CLI on tiny digits: rounds, training-set versions, resume."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow  # two rounds of generate -> validate -> merge -> refit

ARGS = ["dataset.size=16", "dataset.longtail.keep=[8:15]", "evidence.repeats=1", "evidence.max_batch=20",
        "loop.min_gain=-1",  # never stop early: the test wants both rounds
        "merge.force=true", "merge.reason=test: every round must merge",
        "loop.round_size=40"]


def _run(tmp_path, rounds: int, capsys):
    from synthgen.cli import main

    main(["loop", f"rounds={rounds}", f"hydra.run.dir={tmp_path / 'loop'}", *ARGS])
    return capsys.readouterr().out


def test_two_rounds_versions_and_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = _run(tmp_path, 1, capsys)
    d = tmp_path / "loop"
    state = json.loads((d / "loop.json").read_text())
    assert [r["round"] for r in state["rounds"]] == [0, 1]
    assert state["rounds"][1]["plan"]["8"] == 40 and state["rounds"][1]["added"] == {"8": 40}
    assert "model-guided" in out and "round 1:" in out
    v1 = state["rounds"][1]["version"]
    first_plan = (d / "round-01" / "plan.json").read_text()

    out = _run(tmp_path, 2, capsys)  # raise rounds on a rerun: continues after round 1
    assert "resuming after round 1" in out and "round 2/2" in out and "round 1/" not in out
    state = json.loads((d / "loop.json").read_text())
    assert [r["round"] for r in state["rounds"]] == [0, 1, 2]
    v2 = state["rounds"][2]["version"]
    assert v1 != v2 and (d / "training_set" / "versions" / v1).is_dir() and (d / "training_set" / "versions" / v2).is_dir()
    assert state["rounds"][2]["base_version"] == v1
    assert state["rounds"][2]["n_synthetic"] == 80  # 40 per round, both merged
    assert (d / "round-01" / "plan.json").read_text() == first_plan  # round 1 untouched
    for r in state["rounds"]:
        assert 0.0 <= r["metrics"]["accuracy"] <= 1.0 and r["metrics"]["rare_recall"] is not None
    page = (d / "loop.html").read_text()
    assert "<svg" in page and "rare recall" in page

    out = _run(tmp_path, 2, capsys)  # complete: nothing is redone
    assert "== round" not in out
    assert json.loads((d / "loop.json").read_text())["rounds"] == state["rounds"]


def test_loop_stops_when_the_gain_is_too_small(tmp_path, monkeypatch, capsys):
    from synthgen.cli import main

    monkeypatch.chdir(tmp_path)
    main(["loop", "rounds=3", f"hydra.run.dir={tmp_path / 'l'}", *ARGS, "loop.min_gain=1.0"])
    state = json.loads((tmp_path / "l" / "loop.json").read_text())
    assert [r["round"] for r in state["rounds"]] == [0, 1]
    assert state["stopped"]["after_round"] == 1 and "min_gain" in state["stopped"]["reason"]


def test_changed_config_on_rerun_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from synthgen.cli import main

    monkeypatch.chdir(tmp_path)
    d = tmp_path / "l"
    d.mkdir()
    (d / "loop.json").write_text(json.dumps({"key": "other", "rounds": [{"round": 0}]}))
    with pytest.raises(SystemExit) as e:
        main(["loop", "rounds=1", f"hydra.run.dir={d}", *ARGS])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another config" in err[0]
    assert (d / "loop.json").exists()  # the earlier loop's state is kept
