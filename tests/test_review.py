"""Review scores, decisions and their application, without a server (tests/test_review_labelstudio.py
drives the real Label Studio round trip)."""
import numpy as np
import pytest

from synthgen.errors import DatasetError
from synthgen.io.labelstudio import label_config, task
from synthgen.review import (
    ReviewError,
    apply_decisions,
    decide,
    label_kind,
    uncertainty,
)
from synthgen.sample import Provenance, Sample


def _prov(label, i):
    return Provenance("g.Gen", "1", "d" * 8, 0, label, i, ("p0",))


def test_uncertainty_anchors():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (40, 4))
    b = rng.normal(0, 1, (40, 4)) + np.array([8.0, 0, 0, 0])
    real = np.vstack([a, b])
    labels = ["a"] * 40 + ["b"] * 40
    syn = np.vstack([a[3], a.mean(0), b[5] + 0.01, np.array([0, 40.0, 0, 0]), a.mean(0)])
    sl = ["a", "a", "a", "a", "a"]
    s = uncertainty(real, labels, syn, sl, k=5, flagged={4})
    assert s[0]["near_copy"] == 1.0 and s[0]["why"] == "near_copy"  # an exact copy of a real sample
    assert s[1]["uncertainty"] < 0.6 and s[1]["label_disagreement"] == 0.0  # typical of its class
    assert s[2]["label_disagreement"] == 1.0 and s[2]["boundary"] == 1.0  # among the other class: mislabeled?
    assert s[3]["off_support"] == 1.0  # farther from its class than any real sample
    assert s[4]["filtered"] == 1.0 and s[4]["uncertainty"] == 1.0  # the gate's filter dropped it
    assert all(0 <= v <= 1 for r in s for k, v in r.items() if k not in ("why", "nearest_real_distance"))
    assert uncertainty(real, labels, syn, sl, k=5, flagged={4}) == s  # deterministic


def test_label_kind_and_review_config():
    img = np.zeros((10, 10, 3), np.uint8)
    m = np.zeros((10, 10), bool)
    m[2:5, 2:6] = True
    assert label_kind([Sample("a", img, "x")]) == "classes"
    assert label_kind([Sample("a", img, "x", {"objects": [{"bbox": [1, 1, 2, 2], "category": "x"}]})]) == "boxes"
    assert label_kind([Sample("a", img, "x", {"objects": [{"bbox": [2, 2, 4, 3], "category": "x", "mask": m}]})]) == "masks"
    assert label_kind([Sample("t", "hi Anna", "x", {"spans": [{"start": 3, "end": 7, "label": "PER"}]}, modality="text")]) == "spans"
    xml = label_config(["x", "y"], [], "image", (), review=True)
    assert "<RectangleLabels" not in xml and '<Choices name="review"' in xml and '<Choice value="reject"/>' in xml


def _text_sample():
    text = "Call Anna Berg at 555"
    return Sample("s1", text, "contact", {"spans": [{"start": 5, "end": 9, "label": "PER", "text": "Anna"}]},
                  _prov("contact", 0), "text")


def _annotated(s, result, cancelled=False, who=7):
    t = task(s)
    t["id"] = 11
    t["annotations"] = [{"id": 3, "completed_by": who, "result": result, "was_cancelled": cancelled,
                         "created_at": "2026-12-02T09:00:00Z", "updated_at": "2026-12-02T09:01:00Z"}]
    return t


def test_decide_spans_corrected_relabel_reject_and_pending():
    s = _text_sample()
    pred = task(s)["predictions"][0]["result"]
    review = lambda v: {"from_name": "review", "to_name": "text", "type": "choices", "value": {"choices": [v]}}
    users = {7: "ann@example.org"}
    acc = decide(_annotated(s, pred + [review("accept")]), s, ["contact", "other"], users, "t")
    assert acc["decision"] == "accept" and acc["reviewer"] == "ann@example.org" and acc["time"] == "2026-12-02T09:01:00Z"
    assert acc["corrected"] is False and "annotations" not in acc["after"]
    # the reviewer widens the name span to "Anna Berg"
    wide = [dict(x) for x in pred]
    wide[0] = {**wide[0], "value": {"start": 5, "end": 14, "text": "Anna Berg", "labels": ["PER"]}}
    cor = decide(_annotated(s, wide + [review("accept")]), s, ["contact", "other"], users, "t")
    assert cor["decision"] == "correct" and cor["after"]["annotations"]["spans"] == [
        {"start": 5, "end": 14, "label": "PER", "text": "Anna Berg"}]
    assert cor["before"]["annotations"]["spans"][0]["end"] == 9
    rel = [dict(x) for x in pred]
    rel[-1] = {**rel[-1], "value": {"choices": ["other"]}}
    assert decide(_annotated(s, rel + [review("accept")]), s, ["contact", "other"], users, "t")["decision"] == "relabel"
    assert decide(_annotated(s, pred + [review("reject")]), s, ["contact", "other"], users, "t")["after"] is None
    assert decide(_annotated(s, pred, cancelled=True), s, ["contact"], users, "t") is None  # skipped: pending
    with pytest.raises(ReviewError, match="task 11.*'zebra', which is not a class"):
        rel[-1] = {**rel[-1], "value": {"choices": ["zebra"]}}
        decide(_annotated(s, rel), s, ["contact", "other"], users, "task 11 (sample s1)")


def test_apply_decisions_reject_relabel_correct():
    s = _text_sample()
    t = Sample("s2", "no entities here", "contact", {"spans": []}, _prov("contact", 1), "text")
    u = Sample("s3", "left alone", "contact", {"spans": []}, _prov("contact", 2), "text")
    dec = {"decisions": {
        "s1": {"decision": "correct", "reviewer": "r", "time": "t", "before": {"label": "contact"},
               "after": {"label": "contact", "annotations": {"spans": [{"start": 5, "end": 14, "label": "PER", "text": "Anna Berg"}]}}},
        "s2": {"decision": "reject", "reviewer": "r", "time": "t", "before": {"label": "contact"}, "after": None}}}
    out, counts = apply_decisions([s, t, u], dec)
    assert [x.id for x in out] == ["s1", "s3"] and counts == {"accept": 0, "reject": 1, "relabel": 0, "correct": 1}
    assert out[0].annotations["spans"][0]["end"] == 14 and out[0].meta["extra"]["review"]["decision"] == "correct"
    assert "review" not in out[1].meta.get("extra", {})
    assert s.annotations["spans"][0]["end"] == 9  # the input is not modified
    dec["decisions"]["s3"] = {"decision": "maybe"}
    with pytest.raises(DatasetError, match="sample s3: decision 'maybe'"):
        apply_decisions([u], dec, "run/review/decisions.json")


def test_two_word_command_maps_to_the_action(tmp_path, capsys, monkeypatch):
    """`synthgen review export ...` is `synthgen review action=export ...` (the documented form)."""
    import sys

    import pytest

    from synthgen.cli import main

    monkeypatch.setattr(sys, "argv", ["synthgen"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["review", "export", f"run_dir={tmp_path / 'nope'}", f"hydra.run.dir={tmp_path / 'r'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "nope" in err[0] and "action" not in err[0], err
