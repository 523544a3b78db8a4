"""The audit trail: a tiny digits run traced back from a merged sample; the chain catches edited,
deleted, reordered and truncated lines; appends are safe across processes and after a killed merge."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from synthgen.audit import HEAD, LOG, AuditError, record, verify
from synthgen.cli import main
from synthgen.io.manifest import read_manifest
from synthgen.merge import current_version

ROOT = Path(__file__).resolve().parents[1]
TINY = ["policy.target=45", "evidence.folds=2", "evidence.repeats=1", "validation.validators.ks.n_bootstrap=10",
        "validation.validators.mmd.n_bootstrap=10", "validation.validators.mmd.n_permutations=50",
        "validation.validators.utility.n_bootstrap=50", "validation.validators.label_agreement_cf.n_bootstrap=50",
        "report.examples=1", "gate.default.severity=warn"]


def run(args, capsys, code=0):
    try:
        main(list(args))
        got = 0
    except SystemExit as e:
        got = e.code or 0
    cap = capsys.readouterr()
    assert got == code, f"exit {got} (expected {code}): {cap.err[-2000:]}"
    return cap


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """One tiny digits run merged into a training set (in-process, gate at warn so classes are admitted)."""
    base = tmp_path_factory.mktemp("audit")
    out, into = base / "run", base / "train"
    try:
        main([f"hydra.run.dir={out}", f"merge.into={into}", *TINY])
    except SystemExit as e:
        assert e.code in (0, None), e.code
    return out, into


def test_audit_traces_a_merged_sample(merged, tmp_path, capsys):
    out, into = merged
    recs = read_manifest(current_version(into) / "manifest.jsonl")
    sample = next(r for r in recs if r["origin"] == "synthetic")
    report = json.loads((out / "report.json").read_text())
    a = tmp_path / "a"
    cap = run(["audit", f"target={sample['id']}", f"into={into}", f"hydra.run.dir={a}"], capsys)
    t = json.loads((a / "audit.json").read_text())
    prov = sample["provenance"]
    assert t["run"] == str(out.resolve())
    assert t["config_digest"] == prov["config_digest"] and t["parents"] == prov["parents"] and t["parents"]
    assert t["generator"] == prov["generator"] == "synthgen.generators.image.augment.ImageAugment"
    klass = report["classes"][sample["label"]]
    assert t["decision"]["verdict"] == klass["verdict"] and t["decision"]["admitted"] is True
    assert t["decision"]["explanation"] == klass["explanation"]
    # the audit entries about it: the training set's version entry and the run folder's entry, both by `run`
    logs = {Path(e["log"]).parent for e in t["entries"]}
    assert logs == {into.resolve(), out.resolve()} or logs == {into, out}
    ts = [e for e in t["entries"] if Path(e["log"]).parent.resolve() == into.resolve()]
    assert ts and ts[0]["command"] == "run" and ts[0]["version"] == t["added_in"] == "v0001"
    assert f"merge.into={into}" in ts[0]["overrides"] and ts[0]["who"]["user"]
    assert prov["parents"][0] in cap.out and prov["config_digest"] in cap.out and klass["verdict"] in cap.out
    # the run folder's entry holds the gate's decision per class and what it wrote
    entry = json.loads((out / LOG).read_text().splitlines()[0])
    assert entry["decisions"][sample["label"]]["verdict"] == klass["verdict"]
    assert entry["written"]["merged_into"]["version"] == "v0001" and entry["inputs"]["dataset"]["n_samples"] > 0
    assert sum(entry["written"]["synthetic"].values()) == entry["written"]["n_synthetic"] > 0
    # a version and a run folder can be asked about too
    run(["audit", "target=v0001", f"into={into}", f"hydra.run.dir={tmp_path / 'v'}"], capsys)
    v = json.loads((tmp_path / "v" / "audit.json").read_text())
    assert v["merge"]["version"] == "v0001" and v["entries"][0]["decisions"][sample["label"]]["admitted"]
    run(["audit", f"target={out}", f"hydra.run.dir={tmp_path / 'r'}"], capsys)
    # an unknown sample is one line, exit 2
    cap = run(["audit", "target=no-such-sample", f"into={into}", f"hydra.run.dir={tmp_path / 'x'}"], capsys, code=2)
    assert len(cap.err.strip().splitlines()) == 1 and "no-such-sample" in cap.err


def test_audit_verify_cli_passes_then_catches_an_edit(merged, tmp_path, capsys):
    out, into = merged
    for folder in (into, out):
        cap = run(["audit", "verify=true", f"path={folder}", f"hydra.run.dir={tmp_path / folder.name}"], capsys)
        assert "chain intact" in cap.out
    # the audit log is not part of any byte-identical output
    assert not (out / "synthetic" / LOG).exists() and not (current_version(into) / LOG).exists()
    copy = tmp_path / "copy"
    copy.mkdir()
    lines = (into / LOG).read_text().splitlines()
    e = json.loads(lines[0])
    e["decisions"] = {k: {**d, "admitted": not d.get("admitted")} for k, d in e["decisions"].items()}
    (copy / LOG).write_text("\n".join([json.dumps(e)] + lines[1:]) + "\n")
    cap = run(["audit", "verify=true", f"path={copy}", f"hydra.run.dir={tmp_path / 'bad'}"], capsys, code=2)
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and f"{copy / LOG}:1:" in err[0] and "edited" in err[0], err


def _log(tmp_path, n=4) -> Path:
    d = tmp_path / "log"
    for i in range(n):
        record(d, {"command": "test", "written": {"i": i}})
    return d


def test_verify_catches_edited_deleted_reordered_and_truncated_lines(tmp_path):
    d = _log(tmp_path)
    assert verify(d)["entries"] == 4
    good = (d / LOG).read_bytes()
    lines = good.decode().splitlines(keepends=True)

    def bad(content: bytes, line: int, word: str):
        (d / LOG).write_bytes(content)
        with pytest.raises(AuditError) as e:
            verify(d)
        assert f"{d / LOG}:{line}:" in str(e.value) and word in str(e.value), str(e.value)
        (d / LOG).write_bytes(good)

    bad("".join(lines[:1] + [lines[1].replace('"i":1', '"i":7')] + lines[2:]).encode(), 2, "edited")
    bad("".join(lines[:1] + lines[2:]).encode(), 2, "deleted")
    bad("".join([lines[0], lines[2], lines[1], lines[3]]).encode(), 2, "reordered")
    bad(good[:-10], 4, "torn")                      # cut inside the last line
    bad("".join(lines[:3]).encode(), 4, "cut from the end")  # a whole line cut: .audit.head remembers it
    bad("".join(lines[:2] + ["{not json\n"] + lines[3:]).encode(), 3, "")
    assert verify(d)["entries"] == 4


def test_a_torn_write_is_recorded_not_silently_accepted(tmp_path, capsys):
    d = _log(tmp_path, 2)
    with open(d / LOG, "ab") as f:
        f.write(b'{"schema":"synthgen/audit-1","seq":2,"pr')  # a crash in the middle of an append
    with pytest.raises(AuditError, match=":3: torn"):
        verify(d)
    e = record(d, {"command": "after-crash"})
    assert "torn last line" in capsys.readouterr().err
    assert e["torn_line"]["line"] == 3 and e["seq"] == 2
    res = verify(d)
    assert res["entries"] == 3 and res["repaired"] == [3]


def _append(folder: str, tag: str, n: int) -> None:
    for i in range(n):
        record(folder, {"command": tag, "written": {"i": i}})


def test_concurrent_appends_keep_the_chain(tmp_path):
    ctx = mp.get_context("spawn")
    ps = [ctx.Process(target=_append, args=(str(tmp_path), f"p{k}", 15)) for k in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(120)
        assert p.exitcode == 0
    assert verify(tmp_path)["entries"] == 30
    assert json.loads((tmp_path / HEAD).read_text())["seq"] == 29


def test_a_merge_killed_after_publishing_is_logged_by_its_recovery(tmp_path):
    import numpy as np
    from PIL import Image

    real = tmp_path / "real"
    for c in ("a", "b"):
        (real / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(real / c / f"{i}.png")
    into = tmp_path / "train"

    def worker(tag, kill_at=None):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("SYNTHGEN_KILL_AT", None)
        if kill_at:
            env["SYNTHGEN_KILL_AT"] = kill_at
        p = subprocess.run([sys.executable, "-m", "tests.merge_worker", str(real), str(into), tag, "6"], cwd=ROOT, env=env,
                           input="go\n", capture_output=True, text=True, timeout=300)
        return p.returncode

    assert worker("base") == 0
    assert worker("new", kill_at="merge.after-publish") == -signal.SIGKILL
    assert worker("new") == 0  # recovers: v0002 is published and logged as recovered
    entries = [json.loads(x) for x in (into / LOG).read_text().splitlines()]
    assert [(e["event"], e["written"]["version"]) for e in entries] == [("version", "v0001"), ("recovered", "v0002")]
    assert verify(into)["entries"] == 2


def test_audit_bad_options_are_one_line_exit_2(tmp_path, capsys):
    cap = run(["audit", "verify=maybe", f"hydra.run.dir={tmp_path / 'a'}"], capsys, code=2)
    assert cap.err.strip() == "synthgen: error: verify: must be true or false, got 'maybe'"
    cap = run(["audit", f"hydra.run.dir={tmp_path / 'b'}"], capsys, code=2)
    assert len(cap.err.strip().splitlines()) == 1 and cap.err.startswith("synthgen: error: target: missing")
    cap = run(["audit", "verify=true", f"path={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'c'}"], capsys, code=2)
    assert "no audit log here" in cap.err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
