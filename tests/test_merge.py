"""Merge: versions, idempotency, the gate, forced merges, real data untouched, atomicity under kill."""
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from synthgen.errors import ConfigError, MergeError
from synthgen.io.common import sha256_file
from synthgen.io.imagefolder import read_imagefolder
from synthgen.io.manifest import read_manifest
from synthgen.merge import current_version, merge, read_training_set

from .merge_worker import synthetic

ROOT = Path(__file__).resolve().parents[1]


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def real_dir(tmp_path):
    from PIL import Image

    root = tmp_path / "real"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((16, 16, 3), i * 40, np.uint8)).save(root / c / f"{i}.png")
    return root


PASS = {"classes": {"a": {"verdict": "pass"}, "b": {"verdict": "fail"}}}


def test_merge_versions_gate_and_idempotency(tmp_path, real_dir):
    before = tree_hash(real_dir)
    real = read_imagefolder(str(real_dir))
    into = tmp_path / "train"
    syn = synthetic(6, "run1")
    r1 = merge(into, real, syn, PASS, report_path=str(tmp_path / "report.json"))
    assert r1["version"] == "v0001" and r1["added"] == {"a": 3} and r1["left_out"] == {"b": "fail"}
    ts = read_training_set(into)
    assert len(ts) == 8 + 3
    recs = read_manifest(current_version(into) / "manifest.jsonl")
    syn_recs = [r for r in recs if r["origin"] == "synthetic"]
    assert len(syn_recs) == 3 and all(r["label"] == "a" for r in syn_recs)
    assert all(r["admitted_by"]["verdict"] == "pass" and r["admitted_by"]["report"] == "../report.json" for r in syn_recs)
    assert all(r["provenance"]["parents"] == ["p"] for r in syn_recs)
    for r in recs:
        assert sha256_file(current_version(into) / r["file"]) == r["sha256"]
    # the same run merged twice adds nothing and writes no new version
    r2 = merge(into, real, syn, PASS)
    assert r2["version"] == "v0001" and not r2["new_version"] and r2["added"] == {}
    # a forced merge needs a reason, which lands in the manifest
    with pytest.raises(ConfigError, match="merge.reason"):
        merge(into, real, syn, PASS, force=True)
    r3 = merge(into, real, syn, PASS, force=True, reason="reviewed by hand")
    assert r3["version"] == "v0002" and r3["added"] == {"b": 3} and r3["forced"] == ["b"]
    forced = [r for r in read_manifest(current_version(into) / "manifest.jsonl") if r["label"] == "b" and r["origin"] == "synthetic"]
    assert forced and all(r["admitted_by"] == {**r["admitted_by"], "forced": True, "reason": "reviewed by hand"} for r in forced)
    # the old version is still intact
    assert len(read_manifest(into / "versions" / "v0001" / "manifest.jsonl")) == 11
    assert tree_hash(real_dir) == before, "the real input is never modified"


def test_merge_refuses_foreign_folder_and_real_input(tmp_path, real_dir):
    real = read_imagefolder(str(real_dir))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("mine")
    with pytest.raises(MergeError, match="not a synthgen training set"):
        merge(foreign, real, synthetic(2, "r"), PASS)
    with pytest.raises(MergeError, match="inside the real dataset"):
        merge(real_dir / "sub", real, synthetic(2, "r"), PASS)


def _check_consistent(into: Path, allowed: set[str]):
    cur = current_version(into) if (into / "CURRENT").exists() else None
    name = cur.name if cur else None
    assert name in allowed, f"CURRENT names {name}, expected one of {allowed}"
    if cur is not None:
        recs = read_manifest(cur / "manifest.jsonl")
        files = {str(p.relative_to(cur)) for p in cur.rglob("*") if p.is_file()} - {"manifest.jsonl", "MERGE.json"}
        assert files == {r["file"] for r in recs}
        for r in recs:
            assert sha256_file(cur / r["file"]) == r["sha256"]
        return len(recs)
    return 0


def test_merge_is_atomic_when_killed(tmp_path, real_dir):
    """A subprocess killed at random moments mid-merge leaves the old or the new version, never a mix."""
    into = tmp_path / "train"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(0)
    done = {None}
    seen_kill_states = set()
    for attempt in range(8):
        tag = f"r{attempt}"
        p = subprocess.Popen([sys.executable, "-m", "tests.merge_worker", str(real_dir), str(into), tag, "300"],
                             cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        p.stdin.write("go\n")
        p.stdin.flush()
        time.sleep(rng.uniform(0.0, 0.8))
        p.send_signal(signal.SIGKILL)
        p.wait()
        n = _check_consistent(into, done | {f"v{i:04d}" for i in range(1, 20)})
        seen_kill_states.add(n)
        if (into / "CURRENT").exists():
            done.add((into / "CURRENT").read_text().strip())
    # a clean merge afterwards works and cleans up staging leftovers
    out = subprocess.run([sys.executable, "-m", "tests.merge_worker", str(real_dir), str(into), "final", "20"],
                         cwd=ROOT, env=env, input="go\n", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    _check_consistent(into, {(into / "CURRENT").read_text().strip()})
    assert not list(into.glob(".staging-*")) and not list(into.glob("..staging-*"))
