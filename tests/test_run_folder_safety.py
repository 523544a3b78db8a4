"""A run folder is data, ids are unique by construction, clean-up removes only what it created."""
import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from synthgen.config import load_run_config
from synthgen.errors import DatasetError
from synthgen.io.imagefolder import read_imagefolder, write_imagefolder
from synthgen.io.manifest import read_manifest
from synthgen.merge import current_version, merge
from synthgen.sample import Sample

from .test_cli import SMALL, synthgen


def _augment():
    from hydra import compose, initialize_config_module

    from synthgen.config import build

    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="run")
    return build(cfg.generator, "generator")


def _real(tmp_path, labels, n=4):
    root = tmp_path / "real"
    samples = [Sample(f"{k}-{i}.png", np.full((16, 16, 3), 30 * i + k, np.uint8), lab)
               for k, lab in enumerate(labels) for i in range(n)]
    write_imagefolder(samples, list(labels), str(root))
    return read_imagefolder(str(root))


def test_ids_differ_by_seed_and_by_labels_that_sanitise_alike(tmp_path):
    labels = ["a b", "a_b", "日本", "中文"]
    real = _real(tmp_path, labels)
    g = _augment().fit(real)
    ids = {seed: [s.id for lab in labels for s in g.generate(lab, 3, seed)] for seed in (0, 1)}
    assert len(set(ids[0])) == 12 and not set(ids[0]) & set(ids[1])
    # merged together, nothing is lost to a collision
    report = {"classes": {lab: {"verdict": "pass"} for lab in labels}}
    into = tmp_path / "train"
    merge(into, real, [s for lab in labels for s in g.generate(lab, 3, 0)], report)
    res = merge(into, real, [s for lab in labels for s in g.generate(lab, 3, 1)], report)
    assert res["added"] == {lab: 3 for lab in labels}
    recs = read_manifest(current_version(into) / "manifest.jsonl")
    syn = [r for r in recs if r["origin"] == "synthetic"]
    assert len(syn) == 24 and {r["label"] for r in syn} == set(labels)


@pytest.mark.slow
def test_seed_0_and_seed_1_runs_merge_into_one_training_set(tmp_path):
    into = tmp_path / "train"
    added = []
    for seed in (0, 1):
        d = tmp_path / f"s{seed}"
        p = synthgen(f"hydra.run.dir={d}", f"merge.into={into}", f"seed={seed}", "merge.force=true",
                     "merge.reason=test", *SMALL, cwd=tmp_path)
        assert "training set:" in p.stdout
        added.append(sum(1 for r in read_manifest(d / "synthetic" / "manifest.jsonl")))
    recs = read_manifest(current_version(into) / "manifest.jsonl")
    assert sum(1 for r in recs if r["origin"] == "synthetic") == sum(added)


def _planted(tmp_path, target):
    cfg = tmp_path / "run" / ".hydra" / "config.yaml"
    cfg.parent.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"seed": 0, "dataset": {"_target_": target, "_args_": ["touch " + str(tmp_path / "pwned")]}}), cfg)
    return cfg


def test_planted_run_config_is_not_built(tmp_path):
    cfg = _planted(tmp_path, "os.system")
    with pytest.raises(DatasetError, match=r"dataset\._target_ 'os.system' is not a synthgen target"):
        load_run_config(cfg)
    # trusted only when the user says so
    assert load_run_config(cfg, ["os."]).dataset._target_ == "os.system"


@pytest.mark.parametrize("command", ["merge", "collect"])
def test_merge_and_collect_refuse_a_planted_run_config(tmp_path, command):
    _planted(tmp_path, "os.system")
    run = tmp_path / "run"
    (run / "report.json").write_text(json.dumps({"classes": {}}))
    (run / "synthetic").mkdir()
    args = [f"run_dir={run}", f"merge.into={tmp_path / 'train'}"] if command == "merge" else [f"shards=[{run}]"]
    p = synthgen(command, *args, f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path, check=False)
    assert p.returncode == 2 and "is not a synthgen target" in p.stderr, p.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "train").exists()


def test_error_cleanup_keeps_what_was_there(tmp_path):
    """A failing command in a reused run folder removes only what it created."""
    d = tmp_path / "run"
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "mine.txt").write_text("keep")
    (d / "notes.log").write_text("keep")
    p = synthgen(f"hydra.run.dir={d}", "dataset.longtail.keep=[nope:3]", cwd=tmp_path, check=False)
    assert p.returncode == 2
    assert (d / ".hydra" / "mine.txt").read_text() == "keep" and (d / "notes.log").read_text() == "keep"
    assert sorted(x.name for x in d.iterdir()) == [".hydra", "notes.log"]


@pytest.mark.slow
def test_run_meeting_a_held_merge_lock_keeps_its_run_folder(tmp_path):
    import fcntl

    into = tmp_path / "train"
    into.mkdir()
    d = tmp_path / "run"
    with open(into / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        p = synthgen(f"hydra.run.dir={d}", f"merge.into={into}", "merge.lock_timeout=0.5", *SMALL, cwd=tmp_path, check=False)
    assert p.returncode == 2 and "still holds the lock" in p.stderr and "synthgen merge run_dir=" in p.stderr
    assert (d / "report.json").exists() and (d / "synthetic" / "manifest.jsonl").exists()
    p = synthgen("merge", f"run_dir={d}", f"merge.into={into}", "merge.force=true", "merge.reason=later",
                 f"hydra.run.dir={tmp_path / 'm'}", cwd=tmp_path)
    assert (into / "CURRENT").exists()


def test_stage_files_round_trip_every_kind_of_sample_exactly():
    """The data-only stage format gives back what went in: arrays (dtype, shape, bytes), tuples,
    nested annotations, provenance, and never a meta path to copy bytes from."""
    from synthgen.sample import Provenance
    from synthgen.stream import pack_sample, unpack_sample

    prov = Provenance("g", "1", "0" * 64, 3, "a", 7, ("p1", "p2"), {"angle": 0.1 + 0.2, "crop": (1, 2), "nested": {"k": [1.5, None]}},
                      {"numpy": "2"})
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3:6] = 1
    samples = [
        Sample("img", np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3), "a",
               {"objects": [{"category": "a", "bbox": [3.0, 2.0, 3.0, 3.0], "mask": mask, "keypoints": [[4.0, 3.0, 2]]}]}, prov),
        Sample("txt", "Call Ana at 555-0100 \ud7ff", "b", {"spans": [{"start": 5, "end": 8, "label": "NAME"}]}, prov, "text"),
        Sample("pts", {"points": np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32),
                       "labels": np.arange(16, dtype=np.int32)}, "c", {"boxes": [{"center": [0.0, 0, 0], "size": (1, 2, 3)}]},
               prov, "points", {"path": "/etc/passwd", "file": "x", "score": np.float32(0.5)}),
    ]
    for s in samples:
        back = unpack_sample(pack_sample(s))
        assert back.id == s.id and back.label == s.label and back.modality == s.modality and back.provenance == s.provenance
        if isinstance(s.data, dict):
            assert back.data.keys() == s.data.keys()
            for k in s.data:
                assert back.data[k].dtype == s.data[k].dtype and np.array_equal(back.data[k], s.data[k])
        elif isinstance(s.data, np.ndarray):
            assert back.data.dtype == s.data.dtype and np.array_equal(back.data, s.data)
        else:
            assert back.data == s.data
        if "objects" in s.annotations:
            o, b = s.annotations["objects"][0], back.annotations["objects"][0]
            assert np.array_equal(b["mask"], o["mask"]) and b["bbox"] == o["bbox"] and b["keypoints"] == o["keypoints"]
        else:
            assert back.annotations == s.annotations
        assert "path" not in back.meta
    assert unpack_sample(pack_sample(samples[2])).meta["score"] == np.float32(0.5)
