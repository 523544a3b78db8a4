"""Scale: workers, resume after kill, shards joined by `synthgen collect` (joblib, Ray, submitit_local)."""
import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .test_cli import SMALL, synthgen, tree

pytestmark = pytest.mark.slow  # end-to-end runs of the CLI: `make test-fast` skips them

EXE = str(Path(sys.executable).parent / "synthgen")


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    d = tmp_path_factory.mktemp("single") / "run"
    synthgen(f"hydra.run.dir={d}", "merge.into=null", *SMALL, cwd=d.parent)
    return tree(d / "synthetic")


def test_workers_give_the_same_output(single, tmp_path):
    d = tmp_path / "w2"
    synthgen(f"hydra.run.dir={d}", "merge.into=null", "workers=2", "chunk=5", *SMALL, cwd=tmp_path)
    assert tree(d / "synthetic") == single


@pytest.mark.parametrize("point", ["stage.mid-commit@1", "stage.mid-commit@23", "stage.before-final", "stage.after-final"])
def test_resume_after_kill_at_each_point(single, tmp_path, point):
    """Killed at a named point (first sample, mid-way, all staged, dataset renamed but stage left),
    then run again: exactly the clean run's files, nothing left over."""
    d = tmp_path / "run"
    args = [EXE, f"hydra.run.dir={d}", "merge.into=null", "chunk=4", *SMALL]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "SYNTHGEN_KILL_AT": point}
    p = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    name = point.split("@")[0]
    assert p.returncode == -signal.SIGKILL and f"synthgen-kill-point: {name}" in p.stderr, p.stderr[-2000:]
    stage = d / ".stage" / "manifest.jsonl"
    staged = len(stage.read_text().splitlines()) if stage.exists() else None
    if name == "stage.mid-commit":  # the sample file is written, its line (and its chunk's) not yet
        assert staged == 4 * ((int(point.split("@")[1]) - 1) // 4) and not (d / "synthetic").exists()
    elif name == "stage.before-final":
        assert staged and not (d / "synthetic").exists()
    else:
        assert (d / "synthetic").exists() and (d / ".stage").exists()
    env.pop("SYNTHGEN_KILL_AT")
    p = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert tree(d / "synthetic") == single
    assert not (d / ".stage").exists() and not list(d.glob(".synthetic.tmp-*"))


def test_planted_stage_file_cannot_run_code(tmp_path):
    """A stage file is data: a pickle planted in its place is never unpickled (it fails to load)."""
    import pickle

    from synthgen.stream import Stage

    d = tmp_path / "run"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "SYNTHGEN_KILL_AT": "stage.before-final"}
    args = [EXE, f"hydra.run.dir={d}", "merge.into=null", "chunk=4", *SMALL]
    subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    stage = Stage(d).open()
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    rec = json.loads((d / ".stage" / "manifest.jsonl").read_text().splitlines()[0])
    planted = pickle.dumps(Evil())
    (d / ".stage" / rec["file"]).write_bytes(planted)
    lines = (d / ".stage" / "manifest.jsonl").read_text().splitlines()
    rec["sha256"] = hashlib.sha256(planted).hexdigest()  # the attacker controls the manifest too
    (d / ".stage" / "manifest.jsonl").write_text("\n".join([json.dumps(rec, sort_keys=True), *lines[1:]]) + "\n")
    env.pop("SYNTHGEN_KILL_AT")
    p = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert not marker.exists(), "a planted stage file ran code"
    assert p.returncode == 2 and "unreadable stage file" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert stage.root.exists()


def test_resume_refuses_another_config(tmp_path):
    d = tmp_path / "run"
    synthgen(f"hydra.run.dir={d}", "merge.into=null", "shard=0/4", *SMALL, cwd=tmp_path)
    p = synthgen(f"hydra.run.dir={d}", "merge.into=null", "shard=0/4", "seed=5", *SMALL, cwd=tmp_path, check=False)
    assert p.returncode == 2 and "different run" in p.stderr


def _sharded(tmp_path, n, launcher_args):
    sweep = tmp_path / f"sweep{n}"
    shards = ",".join(f"{i}/{n}" for i in range(n))
    synthgen("-m", f"shard={shards}", f"hydra.sweep.dir={sweep}", *launcher_args, *SMALL, cwd=tmp_path)
    out = tmp_path / f"collect{n}"
    p = synthgen("collect", f"sweep_dir={sweep}", f"hydra.run.dir={out}", "merge.into=null", cwd=tmp_path)
    assert f"from {n} shards" in p.stdout
    return tree(out / "synthetic"), out


@pytest.mark.parametrize("n", [1, 3, 8])
def test_shards_with_joblib_equal_a_single_run(single, tmp_path, n):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    got, out = _sharded(tmp_path, n, ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    assert got == single
    assert (out / "report.json").exists()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray launcher extra not installed")
def test_shards_with_ray_equal_a_single_run(single, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    import shutil
    import tempfile

    short = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    monkeypatch.setenv("RAY_TMPDIR", short)
    try:
        got, _ = _sharded(tmp_path, 3, ["hydra/launcher=ray_local"])
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert got == single


def test_shards_with_submitit_local_equal_a_single_run(single, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    got, _ = _sharded(tmp_path, 3, ["hydra/launcher=submitit_local_capped", "hydra.sweeper.max_batch_size=2"])
    assert got == single


def test_collect_refuses_missing_shard(tmp_path):
    sweep = tmp_path / "sw"
    synthgen("-m", "shard=0/3,2/3", f"hydra.sweep.dir={sweep}", *SMALL, cwd=tmp_path)
    p = synthgen("collect", f"sweep_dir={sweep}", f"hydra.run.dir={tmp_path / 'c'}", cwd=tmp_path, check=False)
    assert p.returncode == 2 and "missing [1]" in p.stderr and not (tmp_path / "c").exists()


def test_sweep_summary_ranks_runs_by_score(tmp_path):
    import json

    sweep = tmp_path / "sw"
    synthgen("-m", "generator.transforms.3.p=0.1,0.9", f"hydra.sweep.dir={sweep}", "merge.into=null", *SMALL, cwd=tmp_path)
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    runs = summary["runs"]
    assert [r["rank"] for r in runs] == [1, 2]
    assert runs[0]["score"] >= runs[1]["score"]
    for r in runs:
        rep = json.loads((sweep / r["job"] / "report.json").read_text())
        assert set(r["classes"]) == set(rep["classes"])
        assert any(o.startswith("generator.transforms.3.p=") for o in r["overrides"])
    assert "| rank |" in (sweep / "sweep_summary.md").read_text()


def test_optuna_sweeper_maximises_a_class_score(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    import json

    import yaml

    sweep = tmp_path / "opt"
    synthgen("-m", "hydra/sweeper=optuna_score", "hydra.sweeper.n_trials=2", "objective.class=8",
             f"hydra.sweep.dir={sweep}", "merge.into=null", *SMALL, cwd=tmp_path)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_value"]
    runs = json.loads((sweep / "sweep_summary.json").read_text())["runs"]
    assert len(runs) == 2 and summary_best(runs) == pytest.approx(best, abs=1e-6)


def summary_best(runs):
    return max(r["score"] for r in runs)


def test_parallel_featurization_is_identical(digits):
    import numpy as np

    from synthgen.validators.cache import parallel_transform
    from synthgen.validators.features import ImageStatsFeaturizer

    f = ImageStatsFeaturizer()
    samples = digits.samples[:700]
    one = parallel_transform(f, samples, workers=1)
    two = parallel_transform(f, samples, workers=2, chunk=100)
    assert one.shape == (700, len(f.feature_names)) and np.array_equal(one, two)
