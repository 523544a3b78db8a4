"""The review round trip against a real Label Studio server (127.0.0.1, SQLite, a temporary data folder).

A small coins run (copy-paste: masks, so the tasks carry polygons) -> ``synthgen review export``
-> a reviewer annotates through Label Studio's HTTP API (accept, reject, relabel, correct a polygon,
skip) -> ``synthgen review import`` -> ``synthgen merge``: the rejected sample is absent, the
relabeled one is under its new class, the corrected mask replaced the generated one, and every
decision is in the sample's manifest line.
"""
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from synthgen.io.manifest import read_manifest

from .labelstudio_server import TOKEN, USER, started

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def synthgen(*args, cwd, env_extra=None, check=True):
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env_extra or {})}
    env.pop("LABEL_STUDIO_URL", None)
    p = subprocess.run([str(Path(sys.executable).parent / "synthgen"), *args], check=False, cwd=cwd, capture_output=True, text=True,
                       env=env, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"synthgen {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def api(url, method, path, body=None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = started(tmp_path_factory.mktemp("ls") / "data")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def coins_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("review")
    synthgen("+experiment=coins_copy_paste", f"hydra.run.dir={work / 'run'}", "merge.into=null", "evidence.repeats=1", cwd=work)
    return work, work / "run"


def test_review_round_trip_with_label_studio(server, coins_run):
    work, run = coins_run
    env = {"LABEL_STUDIO_API_KEY": TOKEN}
    p = synthgen("review", "export", f"run_dir={run}", f"review.url={server.url}", "review.max_tasks=6",
                 f"hydra.run.dir={work / 'export'}", cwd=work, env_extra=env)
    assert "6 of 27 synthetic samples (masks), most uncertain first" in p.stdout
    exp = json.loads((run / "review" / "export.json").read_text())
    rows = exp["tasks"]
    assert exp["kind"] == "masks" and len(rows) == 6
    u = [r["uncertainty"] for r in rows]
    assert u == sorted(u, reverse=True) and all(0 <= x <= 1 for x in u)

    # the project on the server: the labeling interface, the tasks in that order, the labels as predictions
    proj = api(server.url, "GET", f"/api/projects/{exp['project']}")
    assert '<PolygonLabels name="polygon"' in proj["label_config"] and '<Choices name="review"' in proj["label_config"]
    assert "<RectangleLabels" not in proj["label_config"]  # masked objects are sent once, as polygons
    tasks = {t["data"]["synthgen_id"]: t for t in api(server.url, "GET", f"/api/projects/{exp['project']}/export?exportType=JSON&download_all_tasks=true")}
    assert [tasks[r["sample"]]["id"] for r in rows] == sorted(tasks[r["sample"]]["id"] for r in rows)
    syn = {r["id"]: r for r in read_manifest(run / "synthetic" / "manifest.jsonl")}
    for r in rows:
        t = tasks[r["sample"]]
        assert t["data"]["origin"] == "synthetic" and t["data"]["image"].startswith("data:image/png;base64,")
        assert t["data"]["provenance"]["parents"] == syn[r["sample"]]["provenance"]["parents"]
        pred = api(server.url, "GET", f"/api/predictions?task={t['id']}")
        res = pred[0]["result"]
        assert [x["value"]["choices"] for x in res if x["from_name"] == "class"] == [[syn[r["sample"]]["label"]]]
        assert sum(x["type"] == "polygonlabels" for x in res) == len(syn[r["sample"]]["annotations"]["objects"])

    # a reviewer at work: accept, reject, relabel, correct a polygon, skip one, leave one
    ids = [r["sample"] for r in rows]
    other = {"large_coin": "small_coin", "small_coin": "large_coin"}

    def annotate(sid, verdict, label=None, polygon_shift=None, cancelled=False):
        t = tasks[sid]
        res = [dict(x) for x in api(server.url, "GET", f"/api/predictions?task={t['id']}")[0]["result"]]
        for x in res:
            if x["from_name"] == "class" and label:
                x["value"] = {"choices": [label]}
            if x["type"] == "polygonlabels" and polygon_shift:
                x["value"] = {**x["value"], "points": [[px + polygon_shift, py] for px, py in x["value"]["points"]]}
                polygon_shift = None  # only the first object
        if verdict:
            res.append({"from_name": "review", "to_name": "image", "type": "choices", "value": {"choices": [verdict]}})
        api(server.url, "POST", f"/api/tasks/{t['id']}/annotations", {"result": res, "was_cancelled": cancelled})

    annotate(ids[0], "accept")
    annotate(ids[1], "reject")
    annotate(ids[2], "accept", label=other[syn[ids[2]]["label"]])
    annotate(ids[3], "accept", polygon_shift=-5.0)  # 5 % of the width to the left
    annotate(ids[4], None, cancelled=True)  # skipped: still pending

    p = synthgen("review", "import", f"run_dir={run}", f"hydra.run.dir={work / 'import'}", cwd=work, env_extra=env)
    assert "4 decisions (accept 1, reject 1, relabel 1, correct 1), 2 pending" in p.stdout
    dec = json.loads((run / "review" / "decisions.json").read_text())
    assert dec["pending"] == sorted(ids[4:])
    d = dec["decisions"]
    assert {k: v["decision"] for k, v in d.items()} == {ids[0]: "accept", ids[1]: "reject", ids[2]: "relabel", ids[3]: "correct"}
    assert all(v["reviewer"] == USER and v["time"] for v in d.values())
    assert d[ids[2]]["before"]["label"] == syn[ids[2]]["label"] and d[ids[2]]["after"]["label"] == other[syn[ids[2]]["label"]]
    log = [json.loads(line) for line in (run / "audit.jsonl").read_text().splitlines()]
    assert [e["decisions"]["counts"] for e in log if e.get("command") == "review"] == [dec["counts"]]

    into = work / "train"
    p = synthgen("merge", f"run_dir={run}", f"merge.into={into}", "merge.force=true", "merge.reason=reviewed in Label Studio",
                 f"hydra.run.dir={work / 'merge'}", cwd=work)
    assert "review decisions: accept 1, reject 1, relabel 1, correct 1" in p.stdout
    version = into / "versions" / (into / "CURRENT").read_text().strip()
    merged = {r["id"]: r for r in read_manifest(version / "manifest.jsonl")}
    assert ids[1] not in merged  # rejected: never merged
    assert set(syn) - {ids[1]} <= set(merged)
    assert merged[ids[0]]["review"]["decision"] == "accept" and merged[ids[0]]["review"]["reviewer"] == USER
    assert merged[ids[2]]["label"] == other[syn[ids[2]]["label"]] and merged[ids[2]]["review"]["before"]["label"] == syn[ids[2]]["label"]
    assert "review" not in merged[ids[4]] and "review" not in merged[ids[5]]
    # the corrected polygon replaced the generated mask: its box moved left by 5 % of the width
    from synthgen.io.formats import detect

    back = {s.id: s for s in detect(version).read(str(version)).samples}
    before, after = syn[ids[3]]["annotations"]["objects"][0]["bbox"], back[ids[3]].annotations["objects"][0]["bbox"]
    w = back[ids[3]].data.shape[1]
    assert after[0] == pytest.approx(max(0.0, before[0] - 0.05 * w), abs=1.5)
    assert merged[ids[3]]["review"]["decision"] == "correct" and merged[ids[3]]["review"]["after"]["annotations"]["objects"]
    assert merged[ids[3]]["sha256"] == syn[ids[3]]["sha256"]  # the image itself is unchanged
