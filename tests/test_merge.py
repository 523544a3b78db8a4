"""Merge: versions, idempotency, the gate, forced merges, real data untouched, atomicity under kill."""
import hashlib
import json
import os
import signal
import subprocess
import sys
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


def test_a_new_version_copies_the_current_one_without_decoding_it(tmp_path, real_dir, monkeypatch):
    """The next version copies the current version's files byte for byte (issue 11.6: no re-decoding)."""
    from synthgen.io import imagefolder as IF

    real = read_imagefolder(str(real_dir))
    into = tmp_path / "train"
    merge(into, real, synthetic(6, "run1"), PASS)
    v1 = current_version(into)
    decoded = []
    real_read = IF.read_image
    monkeypatch.setattr(IF, "read_image", lambda p, *a, **k: decoded.append(str(p)) or real_read(p, *a, **k))
    r = merge(into, real, synthetic(6, "run2"), PASS)
    assert r["version"] == "v0002" and not [p for p in decoded if str(v1) in p]
    old = read_manifest(v1 / "manifest.jsonl")
    new = read_manifest(current_version(into) / "manifest.jsonl")
    assert new[:len(old)] == old and len(new) == len(old) + 3
    for rec in old:
        assert (current_version(into) / rec["file"]).read_bytes() == (v1 / rec["file"]).read_bytes()


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


def _worker(real_dir, into, tag, n=40, kill_at=None, timeout=60.0):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SYNTHGEN_KILL_AT", None)
    if kill_at:
        env["SYNTHGEN_KILL_AT"] = kill_at
    return subprocess.Popen([sys.executable, "-m", "tests.merge_worker", str(real_dir), str(into), tag, str(n), str(timeout)],
                            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_worker(real_dir, into, tag, n=40, kill_at=None):
    p = _worker(real_dir, into, tag, n, kill_at)
    out, err = p.communicate("go\n", timeout=300)
    return p.returncode, out, err


def _ids(into: Path) -> set[str]:
    return {r["id"] for r in read_manifest(current_version(into) / "manifest.jsonl")}


POINTS = ["merge.before-lock", "merge.before-staging", "merge.mid-write", "merge.before-publish", "merge.after-publish"]


@pytest.mark.parametrize("first", [True, False], ids=["first-version", "later-version"])
@pytest.mark.parametrize("point", POINTS)
def test_merge_killed_at_each_point_recovers(tmp_path, real_dir, point, first):
    """Killed at a named point, the training set still reads as the old version (or, after publish,
    the new one is complete); the rerun leaves exactly one new version, no leftovers."""
    into = tmp_path / "train"
    if not first:
        assert _run_worker(real_dir, into, "base")[0] == 0
    before = (into / "CURRENT").read_text().strip() if not first else None
    code, _, err = _run_worker(real_dir, into, "new", kill_at=point)
    assert code == -signal.SIGKILL and f"synthgen-kill-point: {point}" in err, err
    # where the kill landed, seen on disk
    staging = [p for p in into.glob("*staging-*")] if into.exists() else []
    versions = sorted(p.name for p in (into / "versions").iterdir()) if (into / "versions").exists() else []
    if point in ("merge.mid-write", "merge.before-publish"):
        assert staging, "killed while building: the staging folder is there"
        files = [p for p in staging[0].rglob("*") if p.is_file()]
        assert files and (("MERGE.json" in {f.name for f in files}) == (point == "merge.before-publish"))
    expected_new = "v0001" if first else "v0002"
    assert (expected_new in versions) == (point == "merge.after-publish")
    # CURRENT never moved: the old version (or none) is what readers see, and it is complete
    cur = (into / "CURRENT").read_text().strip() if (into / "CURRENT").exists() else None
    assert cur == before
    _check_consistent(into, {before})
    # the rerun recovers: one new version with every sample, nothing left over
    code, out, err = _run_worker(real_dir, into, "new")
    assert code == 0, err
    res = json.loads(out.splitlines()[-1])
    assert res["version"] == expected_new
    assert res["new_version"] == (point != "merge.after-publish"), "a published version is adopted, not written twice"
    assert sorted(p.name for p in (into / "versions").iterdir()) == (["v0001"] if first else ["v0001", "v0002"])
    _check_consistent(into, {expected_new})
    assert {f"new-{i:04d}" for i in range(40)} <= _ids(into)
    assert not [p.name for p in into.iterdir() if p.name not in ("CURRENT", "versions", ".lock", "audit.jsonl", ".audit.head")]


def test_merge_into_a_folder_left_by_a_killed_first_merge_is_not_foreign(tmp_path, real_dir):
    """Only synthgen's own leftovers (.lock, staging) in the folder: a later merge goes ahead."""
    into = tmp_path / "train"
    code, _, err = _run_worker(real_dir, into, "x", kill_at="merge.mid-write")
    assert code == -signal.SIGKILL, err
    real = read_imagefolder(str(real_dir))
    res = merge(into, real, synthetic(4, "y"), PASS)
    assert res["version"] == "v0001" and res["new_version"]


def test_concurrent_merges_both_land(tmp_path, real_dir):
    """Two merges into one training set at the same moment: one waits for the other, none loses data."""
    into = tmp_path / "train"
    procs = [_worker(real_dir, into, tag, n=60) for tag in ("p", "q")]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.splitlines()[-1]))
    assert sorted(r["version"] for r in results) == ["v0001", "v0002"]
    _check_consistent(into, {"v0002"})
    ids = _ids(into)
    assert {f"{t}-{i:04d}" for t in "pq" for i in range(60)} <= ids


def test_merge_waits_then_fails_cleanly_when_the_lock_stays_held(tmp_path, real_dir):
    import fcntl

    into = tmp_path / "train"
    real = read_imagefolder(str(real_dir))
    merge(into, real, synthetic(4, "a"), PASS)
    with open(into / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(MergeError, match="still holds the lock"):
            merge(into, real, synthetic(4, "b"), PASS, lock_timeout=0.2)
    assert sorted(p.name for p in (into / "versions").iterdir()) == ["v0001"]
    assert merge(into, real, synthetic(4, "b"), PASS)["version"] == "v0002"


def test_merge_refuses_a_file_and_a_folder_inside_the_real_data(tmp_path, real_dir):
    real = read_imagefolder(str(real_dir))
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(MergeError, match="is a file"):
        merge(f, real, synthetic(2, "r"), PASS)
    with pytest.raises(MergeError, match="inside the real dataset"):
        merge(real_dir / "a" / "deeper", real, synthetic(2, "r"), PASS)


@pytest.mark.parametrize("fmt", ["coco", "jsonl"])
def test_merge_refuses_a_folder_inside_a_coco_or_jsonl_dataset(tmp_path, fmt):
    """docs/merge.md: a training set is never written inside the real data, whatever its format."""
    from .reader_datasets import build, read

    root = build(fmt, tmp_path / "ds")
    real = read(fmt, root)
    base = root if root.is_dir() else root.parent
    before = tree_hash(base)
    with pytest.raises(MergeError, match="inside the real dataset"):
        merge(base / "train", real, [], {"classes": {}})
    assert tree_hash(base) == before
