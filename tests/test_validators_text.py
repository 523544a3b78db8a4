"""Validation done-when for text, on Debian's fortunes: a real category against a held-apart half of
itself passes; noise, another category and copies of real texts fail, each with the right validator."""
import json
from pathlib import Path

import numpy as np
import pytest

from synthgen.sample import Sample

from .test_cli import synthgen

FORTUNES = Path("/usr/share/games/fortunes")
pytestmark = pytest.mark.skipif(not (FORTUNES / "people").exists(), reason="Debian package fortunes is not installed")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from synthgen.io.fortunes import read_fortunes
    from synthgen.io.jsonl import write_jsonl

    ds = read_fortunes(str(FORTUNES), categories=["people", "computers"], max_chars=400)
    people = [s for s in ds.samples if s.label == "people"]
    other = [s for s in ds.samples if s.label == "computers"]
    rng = np.random.default_rng(0)
    p = rng.permutation(len(people))
    a, b = [people[i] for i in p[:300]], [people[i] for i in p[300:600]]
    root = tmp_path_factory.mktemp("text")

    def out(name, samples):
        relabeled = [Sample(f"{name}-{i:04d}", s.data, "people", {"spans": []}, modality="text") for i, s in enumerate(samples)]
        write_jsonl(relabeled, ["people"], str(root / name))
        return root / name

    letters = np.array(list("abcdefghijklmnopqrstuvwxyz      ,.;!?QWERTY0123456789"))
    noise = [Sample(f"n{i}", "".join(rng.choice(letters, size=len(s.data))), "people", modality="text") for i, s in enumerate(b)]
    return {"real": out("real", a), "half": out("half", b), "noise": out("noise", noise),
            "wrong": out("wrong", other[:300]), "copies": out("copies", a[:150] + b[:150]), "root": root}


def verdict(data, name, tmp_path):
    run = tmp_path / name
    synthgen("validate", "dataset=jsonl", f"dataset.path={data['real']}", f"synthetic.path={data[name]}",
             "validation=text_evidence", "validation.cache_dir=null", f"hydra.run.dir={run}", cwd=tmp_path)
    rep = json.loads((run / "report.json").read_text())
    c = rep["classes"]["people"]
    return c["verdict"], {k for k, v in c["validators"].items() if v.get("status") == "fail"}


@pytest.mark.slow
def test_held_apart_half_passes(data, tmp_path):
    v, failed = verdict(data, "half", tmp_path)
    assert v == "pass", failed


@pytest.mark.slow
@pytest.mark.parametrize("name,expected", [("noise", {"ks", "mmd"}), ("wrong", {"mmd"}), ("copies", {"duplicates"})])
def test_corruptions_fail_with_the_right_validator(data, tmp_path, name, expected):
    v, failed = verdict(data, name, tmp_path)
    assert v == "fail" and expected <= failed, (name, failed)
