"""A class whose generator gives up after its first samples is INCOMPUTABLE; the job goes on (issue 16.10).

``probe_classes`` only tries sample 0; a generator may still run dry later (text novelty filters, a
fitted model with too few parents).  That class is dropped from the run (none of its samples written,
validated or merged), the terminal, plan.json and the report say why, and the other classes are
generated, validated and merged as usual, the same with workers, and again on resume.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_cli import SMALL, tree

pytestmark = pytest.mark.slow  # end-to-end runs of the CLI: `make test-fast` skips them

ROOT = Path(__file__).resolve().parents[1]
GIVES_UP = ["generator._target_=tests.gives_up.AugmentGivesUp", "+generator.give_up='3'", "+generator.after=5",
            "policy.rare_below=null"]


def synthgen(*args, cwd):
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "synthgen", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=600)


def test_a_class_that_gives_up_part_way_is_incomputable_and_the_rest_merges(tmp_path):
    run = tmp_path / "run"
    args = [*SMALL, *GIVES_UP, f"hydra.run.dir={run}", f"merge.into={tmp_path / 'train'}"]
    p = synthgen(*args, cwd=tmp_path)
    assert p.returncode in (0, 1), p.stderr  # 1: a verdict failed; never 2 (error) or a traceback
    assert "class '3' is INCOMPUTABLE (nothing generated): ran dry at sample 5" in p.stderr
    plan = {r["label"]: r for r in json.loads((run / "plan.json").read_text())["rows"]}
    assert plan["3"]["synthetic"] == 0 and plan["3"]["note"] == "INCOMPUTABLE: ran dry at sample 5"
    others = {c: r["synthetic"] for c, r in plan.items() if c != "3" and r["synthetic"] > 0}
    assert others, plan
    labels = [json.loads(x)["label"] for x in (run / "synthetic" / "manifest.jsonl").read_text().splitlines()]
    assert "3" not in labels and {c: labels.count(c) for c in others} == others  # none of class 3's first 5 leak in
    report = json.loads((run / "report.json").read_text())
    assert "3" not in report["classes"] and set(others) <= set(report["classes"])
    assert "INCOMPUTABLE: ran dry at sample 5" in (run / "report.html").read_text()
    before, plan_text = tree(run / "synthetic"), (run / "plan.json").read_text()

    again = synthgen(*args, cwd=tmp_path)  # the complete run resumes: same plan, same files
    assert again.returncode == p.returncode, again.stderr
    assert "already complete" in again.stdout and "class '3' is INCOMPUTABLE" in again.stderr
    assert tree(run / "synthetic") == before
    assert (run / "plan.json").read_text() == plan_text

    workers = tmp_path / "workers"  # the pool path gives up the same class the same way
    w = synthgen(*SMALL, *GIVES_UP, "workers=2", "chunk=4", "merge.into=null", f"hydra.run.dir={workers}", cwd=tmp_path)
    assert w.returncode == p.returncode, w.stderr
    assert "class '3' is INCOMPUTABLE (nothing generated): ran dry at sample 5" in w.stderr
    assert tree(workers / "synthetic") == before


def test_every_class_giving_up_writes_nothing_and_merges_nothing(tmp_path):
    run = tmp_path / "run"
    args = [*SMALL, *GIVES_UP[:1], "+generator.give_up='3'", "+generator.after=0", "policy.classes=[3]",
            f"hydra.run.dir={run}", f"merge.into={tmp_path / 'train'}"]
    p = synthgen(*args, cwd=tmp_path)
    assert "class '3' is INCOMPUTABLE (nothing generated): ran dry at sample 0" in p.stderr
    err = [x for x in p.stderr.splitlines() if x.startswith("synthgen: error:")]  # a run that made nothing failed
    assert p.returncode == 2 and err == ["synthgen: error: generator: can make no planned class: class '3': ran dry at sample 0"]
    assert not run.exists() and not (tmp_path / "train").exists()  # an error leaves nothing half-written
    again = synthgen(*args, cwd=tmp_path)  # the same again
    assert again.returncode == 2 and err[0] in again.stderr, again.stderr


def test_shards_and_collect_drop_a_class_any_shard_gave_up(tmp_path):
    """Class 3 (30 planned) runs dry at sample 20: shard 0/2 (samples 0-14) finishes it, shard 1/2 does
    not; the collected run drops the class as the single run does and writes the same files."""
    gives_up = [*GIVES_UP[:1], "+generator.give_up='3'", "+generator.after=20", *GIVES_UP[3:]]
    one = tmp_path / "one"
    p = synthgen(*SMALL, *gives_up, "merge.into=null", f"hydra.run.dir={one}", cwd=tmp_path)
    assert "class '3' is INCOMPUTABLE (nothing generated): ran dry at sample 20" in p.stderr, p.stderr
    shards = []
    for i in range(2):
        d = tmp_path / f"shard{i}"
        s = synthgen(*SMALL, *gives_up, f"shard={i}/2", f"hydra.run.dir={d}", cwd=tmp_path)
        assert s.returncode == 0, s.stderr
        assert ("INCOMPUTABLE" in s.stderr) == (i == 1)
        shards.append(str(d))
    c = synthgen("collect", f"shards=[{','.join(shards)}]", "allow_targets=[tests.gives_up.]", "merge.into=null", f"hydra.run.dir={tmp_path / 'c'}", cwd=tmp_path)
    assert c.returncode == p.returncode, c.stderr
    assert tree(tmp_path / "c" / "synthetic") == tree(one / "synthetic")
    assert (tmp_path / "c" / "plan.json").read_text() == (one / "plan.json").read_text()


def test_collect_refuses_a_shard_with_a_broken_plan_in_one_line(tmp_path):
    d = tmp_path / "shard0"
    s = synthgen(*SMALL, "shard=0/1", f"hydra.run.dir={d}", cwd=tmp_path)
    assert s.returncode == 0, s.stderr
    (d / "plan.json").write_text("{not json")
    c = synthgen("collect", f"shards=[{d}]", "merge.into=null", f"hydra.run.dir={tmp_path / 'c'}", cwd=tmp_path)
    assert c.returncode == 2 and c.stderr.strip().startswith(f"synthgen: error: {d / 'plan.json'}: not a synthgen plan")
    assert len(c.stderr.strip().splitlines()) == 1
