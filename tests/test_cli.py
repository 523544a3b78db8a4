"""The CLI end to end on scikit-learn's digits: default job, determinism, shards, commands, bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synthgen.io.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["policy.target=70", "validation.validators.mmd.n_permutations=200"]


def synthgen(*args, cwd=None, check=True, module=False):
    exe = [sys.executable, "-m", "synthgen"] if module else [str(Path(sys.executable).parent / "synthgen")]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    p = subprocess.run(exe + list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"synthgen {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("default") / "run"
    p = synthgen(f"hydra.run.dir={out}", cwd=out.parent)
    return out, p


@pytest.mark.slow
def test_default_job_end_to_end(default_run):
    out, p = default_run
    assert "report: run/report.html" in p.stdout  # shown relative to the working folder
    assert "training set: " in p.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "synthgen/report" and report["schema_version"] == 3
    assert set(report["classes"]) == {"3", "5", "8"}
    for c in report["classes"].values():
        assert c["verdict"] in ("pass", "warn", "fail", "incomputable")
        for v in c["validators"].values():
            assert v["score"] is None or 0 <= v["score"] <= 1
    html = (out / "report.html").read_text()
    assert "<svg" in html and "data:image/png;base64," in html
    # the training set traces every synthetic image to its parent, seed and config
    cur = (out / "training_set" / "CURRENT").read_text().strip()
    recs = read_manifest(out / "training_set" / "versions" / cur / "manifest.jsonl")
    real_ids = {r["id"] for r in recs if r["origin"] == "real"}
    syn = [r for r in recs if r["origin"] == "synthetic"]
    assert len(real_ids) == 1797 - (183 + 182 + 174) + (40 + 40 + 15) and syn
    admitted = {k for k, c in report["classes"].items() if c["admitted"]}
    assert {r["label"] for r in syn} == admitted
    # the evidence says what it was judged against and explains each verdict
    assert report["reference"]["mode"] == "holdout" and report["reference"]["folds"] == 3
    for c in report["classes"].values():
        assert c["reference"].startswith("held-out real") and c["explanation"].endswith(".")
        assert "gain_ci" in c["validators"]["utility"]["details"]
    for r in syn:
        pr = r["provenance"]
        assert pr["parents"] and set(pr["parents"]) <= real_ids
        assert pr["seed"] == 0 and len(pr["config_digest"]) == 64
        assert pr["generator"] == "synthgen.generators.image.augment.ImageAugment"
        assert "albumentations" in pr["libraries"] and pr["params"]["parent"] == pr["parents"][0]
        assert r["admitted_by"]["verdict"] == report["classes"][r["label"]]["verdict"] in ("pass", "warn")
    # held-out reference images never enter the training set
    heldout = len(recs) - len(syn)
    assert heldout == len(real_ids)


@pytest.mark.slow
def test_same_seed_is_byte_identical(default_run, tmp_path):
    out, _ = default_run
    again = tmp_path / "again"
    synthgen(f"hydra.run.dir={again}", cwd=tmp_path)
    a, b = tree(out / "synthetic"), tree(again / "synthetic")
    assert a == b and len(a) > 100
    assert (out / "report.json").read_bytes() == (again / "report.json").read_bytes()
    assert (out / "report.html").read_bytes() == (again / "report.html").read_bytes()
    cur = "versions/v0001/manifest.jsonl"
    assert (out / "training_set" / cur).read_bytes() == (again / "training_set" / cur).read_bytes()


@pytest.mark.slow
def test_other_seed_differs(tmp_path):
    p = synthgen("plan", f"hydra.run.dir={tmp_path / 'p'}", "policy.target=60", cwd=tmp_path)
    assert "generate" in p.stdout
    a = synthgen(f"hydra.run.dir={tmp_path / 's1'}", "seed=1", "merge.into=null", *SMALL, cwd=tmp_path)
    b = synthgen(f"hydra.run.dir={tmp_path / 's0'}", "seed=0", "merge.into=null", *SMALL, cwd=tmp_path)
    assert tree(tmp_path / "s1" / "synthetic") != tree(tmp_path / "s0" / "synthetic")
    assert a.returncode == b.returncode == 0


@pytest.mark.slow
def test_one_shard_or_four_give_the_same_samples(tmp_path):
    synthgen(f"hydra.run.dir={tmp_path / 'one'}", "merge.into=null", *SMALL, cwd=tmp_path)
    one = tree(tmp_path / "one" / "synthetic")
    union: dict[str, bytes] = {}
    lines = []
    for i in range(4):
        d = tmp_path / f"shard{i}"
        synthgen(f"hydra.run.dir={d}", f"shard={i}/4", *SMALL, cwd=tmp_path)
        assert not (d / "report.json").exists() and not (d / "training_set").exists()
        t = tree(d / "synthetic")
        lines += (d / "synthetic" / "manifest.jsonl").read_text().splitlines()
        t.pop("manifest.jsonl")
        assert not set(t) & set(union), "shards overlap"
        union.update(t)
    one_lines = one.pop("manifest.jsonl").decode().splitlines()
    assert union == one
    assert sorted(lines) == sorted(one_lines)


@pytest.mark.slow
def test_python_dash_m_and_commands_help(tmp_path):
    for cmd in ("run", "plan", "validate", "merge"):
        p = synthgen(cmd, "--help", cwd=tmp_path, module=(cmd == "plan"))
        assert "Configuration groups" in p.stdout or "Config" in p.stdout
        c = synthgen(cmd, "--cfg", "job", cwd=tmp_path)
        assert c.stdout.strip()
    assert not (tmp_path / "outputs").exists()


def test_multirun_plan(tmp_path):
    synthgen("plan", "-m", "policy.target=50,60", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    plans = sorted((tmp_path / "sweep").glob("*/plan.json"))
    assert len(plans) == 2
    totals = [json.loads(p.read_text())["total"] for p in plans]
    assert totals[0] < totals[1]


@pytest.mark.slow
def test_validate_and_merge_commands(default_run, tmp_path):
    out, _ = default_run
    v = tmp_path / "val"
    synthgen("validate", f"synthetic.path={out / 'synthetic'}", f"hydra.run.dir={v}",
             "validation.validators.mmd.n_permutations=200", cwd=tmp_path)
    rep = json.loads((v / "report.json").read_text())
    orig = json.loads((out / "report.json").read_text())
    assert set(rep["classes"]) == set(orig["classes"])
    # without the generator, the folds take the synthetic samples whose parents lie outside each fold
    assert rep["reference"]["mode"] == "holdout" and rep["reference"]["folds"] == 3
    for label, c in rep["classes"].items():  # judged from folds; a class the probe already recognises has no room to gain
        u = c["validators"]["utility"]
        assert u["status"] != "incomputable" or u["reason"].startswith(f"class '{label}': no room to show a gain"), u
        assert c["validators"]["label_agreement_cf"]["status"] != "incomputable"
    into = tmp_path / "train"
    m = synthgen("merge", f"run_dir={out}", f"merge.into={into}", f"hydra.run.dir={tmp_path / 'm'}", cwd=tmp_path)
    assert "v0001" in m.stdout
    m2 = synthgen("merge", f"run_dir={out}", f"merge.into={into}", f"hydra.run.dir={tmp_path / 'm2'}", cwd=tmp_path)
    assert "unchanged" in m2.stdout and not (into / "versions" / "v0002").exists()


def _bad_inputs(tmp_path):
    from PIL import Image

    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "b").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(empty / "a" / "x.png")
    corrupt = tmp_path / "corrupt"
    (corrupt / "a").mkdir(parents=True)
    (corrupt / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    coco = tmp_path / "coco"
    (coco / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(coco / "images" / "a.png")

    def coco_file(name, ann):
        p = coco / name
        p.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
                                 "annotations": [ann], "categories": [{"id": 1, "name": "cat"}]}))
        return p

    outside = coco_file("outside.json", {"id": 3, "image_id": 1, "category_id": 1, "bbox": [25, 5, 10, 5]})
    unknown = coco_file("unknown.json", {"id": 4, "image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5]})
    return [
        (["dataset=imagefolder", f"dataset.path={tmp_path / 'missing'}"], "missing: dataset path does not exist"),
        (["dataset=imagefolder", f"dataset.path={empty}"], "class 'b' has no images"),
        (["dataset=imagefolder", f"dataset.path={corrupt}"], "bad.png: cannot read image"),
        (["dataset=coco", f"dataset.path={outside}"], "annotation 3 box"),
        (["dataset=coco", f"dataset.path={unknown}"], "annotation 4 has unknown category_id 7"),
        (["generator=nope"], "generator=nope: no such generator"),
        (["policy.target=-4"], "policy.target: must be max, median, model or an integer >= 1, got -4"),
        (["policy.classes=[zebra]"], "policy.classes: class 'zebra' is not in the dataset"),
        (["dataset.longtail.keep=[3:10,zebra:3]"], "dataset.longtail.keep: class 'zebra'"),
        (["dataset.longtail.keep=[3:0]"], "dataset.longtail.keep: entry for class '3'"),
        (["seed=abc"], "seed"),
        (["generator.transforms=[{name: GaussNoise, var_limit: [1, 2]}]"], "generator.transforms[0]"),
        (["shard=5/2"], "shard"),
        (["bogus"], "unknown command 'bogus'"),
    ]


@pytest.mark.slow
def test_bad_input_one_line_exit_2_nothing_written(tmp_path):
    cases = _bad_inputs(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    for args, needle in cases:
        p = synthgen(*args, cwd=work, check=False)
        err = p.stderr.strip()
        assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)
        assert len(err.splitlines()) == 1 and err.startswith("synthgen: error: "), (args, err)
        assert needle in err, (args, err)
        assert list(work.iterdir()) == [], (args, list(work.rglob("*")))
