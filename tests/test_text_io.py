"""Text formats: JSONL round trip, CoNLL-2003 BIO export, Label Studio tasks, the fortunes reader."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthgen.errors import DatasetError
from synthgen.generators.text import TextTemplate
from synthgen.io import formats
from synthgen.io.conll import entities, read_conll, write_conll
from synthgen.io.jsonl import read_jsonl, write_jsonl
from synthgen.io.labelstudio import read_labelstudio, write_labelstudio
from synthgen.sample import Sample

FORTUNES = Path("/usr/share/games/fortunes")


@pytest.fixture(scope="module")
def pii():
    return read_jsonl("pkg://synthgen.generators.text/data/pii_seed.jsonl")


@pytest.fixture(scope="module")
def synthetic(pii):
    g = TextTemplate({"x": ["Ich bin {name}, wohne in {address}.\nIBAN: {iban}", "«{company}» → {email}"]}, locale="de_DE").fit(pii)
    return list(g.generate("x", 60, 0))


def test_pii_seed_is_consistent(pii):
    assert pii.task == "ner" and pii.counts() == {"account_update": 12, "delivery_problem": 12, "payment_issue": 12}
    assert sum(len(s.annotations["spans"]) for s in pii) == 56


def test_jsonl_round_trip_and_byte_identical(tmp_path, synthetic, pii):
    a = write_jsonl(synthetic + pii.samples, ["x", "empty"], str(tmp_path / "a"))
    b = write_jsonl(synthetic + pii.samples, ["x", "empty"], str(tmp_path / "b"))
    for f in ("data.jsonl", "manifest.jsonl", "classes.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes()
    assert formats.detect(a).name == "jsonl"
    ds = formats.get("jsonl").read(str(a))
    assert ds.classes[:2] == ["x", "empty"] and ds.modality == "text" and ds.task == "ner"
    for s, r in zip(synthetic + pii.samples, ds.samples):
        assert (r.id, r.data, r.label) == (s.id, s.data, s.label)
        assert r.annotations["spans"] == sorted(s.annotations["spans"], key=lambda d: (d["start"], d["end"], d["label"]))
        assert (r.provenance.to_dict() if r.provenance else None) == (s.provenance.to_dict() if s.provenance else None)
    lines = (a / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == len(ds) and json.loads(lines[0])["provenance"]["params"]["locale"] == "de_DE"


@pytest.mark.parametrize("line, msg", [
    ('{"text": "abc", "label": "a", "spans": [{"start": 0, "end": 2, "label": "X", "text": "ab!"}]}', "spans[0] text"),
    ('{"text": "abc", "label": "a", "spans": [{"start": 2, "end": 9, "label": "X"}]}', "outside the text"),
    ('{"text": 5, "label": "a"}', "'text' must be a string"),
    ('{"text": "a"', "invalid JSON"),
])
def test_jsonl_bad_lines_name_file_and_line(tmp_path, line, msg):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"text": "ok", "label": "a"}\n' + line + "\n")
    with pytest.raises(DatasetError) as e:
        read_jsonl(str(f))
    assert f"{f}:2:" in str(e.value) and msg in str(e.value)


def test_jsonl_nothing_half_written(tmp_path):
    bad = Sample("s", "abc", "a", {"spans": [{"start": 0, "end": 2, "label": "X", "text": "zz"}]}, modality="text")
    with pytest.raises(DatasetError, match="sample s"):
        write_jsonl([bad], ["a"], str(tmp_path / "out"))
    assert not any(tmp_path.iterdir())


def test_conll_export_round_trip(tmp_path, pii, synthetic):
    out = write_conll(pii.samples + synthetic, None, str(tmp_path / "x.conll"))
    text = out.read_text()
    assert text.startswith("-DOCSTART- -X- -X- O\n\n")
    sents = read_conll(str(out))
    assert len(sents) == len(pii) + len(synthetic)
    for s, (toks, tags) in zip(pii.samples + synthetic, sents):
        assert all(len(line.split(" ")) == 4 for line in text.splitlines() if line and not line.startswith("-DOCSTART-"))
        got = entities(toks, tags)
        want = [(sp["label"], " ".join(__import__("re").findall(r"\w+(?:['’-]\w+)*|[^\w\s]", sp["text"]))) for sp in s.annotations["spans"]]
        assert got == want, (s.id, got, want)
    # tokens are cut at span boundaries
    s = Sample("t", "Anna's IBAN", "c", {"spans": [{"start": 0, "end": 4, "label": "PERSON", "text": "Anna"}]}, modality="text")
    (toks, tags), = read_conll(str(write_conll([s], None, str(tmp_path / "y.conll"))))
    assert toks[:2] == ["Anna", "'s"] and tags[:2] == ["B-PERSON", "O"]


def test_labelstudio_text_round_trip(tmp_path, pii, synthetic):
    out = write_labelstudio(pii.samples + synthetic, pii.classes, str(tmp_path / "tasks.json"))
    tasks = json.loads(out.read_text())
    t = tasks[0]
    assert t["data"]["text"] == pii.samples[0].data and t["data"]["synthgen_id"] == pii.samples[0].id
    res = t["predictions"][0]["result"]
    assert {r["type"] for r in res} == {"labels", "choices"}
    assert all(r["from_name"] in ("label", "class") and r["to_name"] == "text" for r in res)
    xml = (tmp_path / "tasks.label_config.xml").read_text()
    assert '<Text name="text" value="$text"/>' in xml and '<Label value="IBAN"/>' in xml and '<Choice value="payment_issue"/>' in xml
    back = read_labelstudio(str(out))
    for s, r in zip(pii.samples + synthetic, back):
        assert (r.id, r.data, r.label) == (s.id, s.data, s.label)
        assert r.annotations["spans"] == sorted(s.annotations["spans"], key=lambda d: (d["start"], d["end"], d["label"]))


def test_labelstudio_image_boxes_in_percent(tmp_path):
    img = np.zeros((50, 200, 3), np.uint8)
    s = Sample("im1", img, "cat", {"objects": [{"bbox": [20.0, 10.0, 50.0, 25.0], "category": "cat"}]}, meta={"file": "cat/im1.png"})
    out = write_labelstudio([s], ["cat", "dog"], str(tmp_path / "img.json"), image_url="/data/local-files/?d=imgs")
    t = json.loads(out.read_text())[0]
    assert t["data"]["image"] == "/data/local-files/?d=imgs/cat/im1.png"
    box = next(r for r in t["predictions"][0]["result"] if r["type"] == "rectanglelabels")
    assert box["value"] == {"x": 10.0, "y": 20.0, "width": 25.0, "height": 50.0, "rotation": 0, "rectanglelabels": ["cat"]}
    assert (box["original_width"], box["original_height"]) == (200, 50)
    assert "<RectangleLabels" in (tmp_path / "img.label_config.xml").read_text()
    back = read_labelstudio(str(out))[0]
    assert back.annotations["objects"][0]["bbox"] == pytest.approx([20.0, 10.0, 50.0, 25.0])


def test_export_module_clis(tmp_path, synthetic):
    from synthgen.io import conll, labelstudio

    d = write_jsonl(synthetic, ["x"], str(tmp_path / "d"))
    assert conll.main([str(d), str(tmp_path / "o.conll")]) == 0 and (tmp_path / "o.conll").exists()
    assert labelstudio.main([str(d), str(tmp_path / "o.json")]) == 0 and len(json.loads((tmp_path / "o.json").read_text())) == 60
    assert conll.main([str(tmp_path / "missing"), str(tmp_path / "p.conll")]) == 2


@pytest.mark.skipif(not FORTUNES.is_dir(), reason="Debian fortunes not installed")
def test_fortunes_reader_real_collection():
    from synthgen.io.fortunes import read_fortunes, split_fortunes

    ds = read_fortunes()
    c = ds.counts()
    assert len(c) == 43 and 14000 < len(ds) < 16500
    assert not any(n.endswith((".dat", ".u8")) for n in c)
    assert min(c.values()) >= 1 and max(c, key=c.get) == "people"
    assert all(isinstance(s.data, str) and s.data.strip() and "\n%\n" not in s.data for s in ds)
    assert split_fortunes("a\n%\nb\nc\n%\n") == ["a", "b\nc"]
    small = read_fortunes(categories=["magic"], max_chars=200)
    assert small.classes == ["magic"] and all(len(s.data) <= 200 for s in small)
    from synthgen.errors import ConfigError

    with pytest.raises(ConfigError, match="dataset.categories"):
        read_fortunes(categories=["nope"])
    with pytest.raises(DatasetError, match="apt-get install fortunes"):
        read_fortunes(path="/nonexistent")
