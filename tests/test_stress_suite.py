"""Suites over text and point clouds, evaluated in process (formats for those modalities live elsewhere)."""
from __future__ import annotations

import numpy as np
import pytest

from synthgen.dataset import Dataset
from synthgen.errors import ConfigError
from synthgen.evaluate import evaluate
from synthgen.sample import Sample
from synthgen.stress.baselines import DGCNN_MODELNET_C
from synthgen.stress.suite import build_suite, parse_suite


def _text_ds():
    texts = [("The room is clean and the staff were friendly.", "pos"), ("I do not like the food at all.", "neg"),
             ("Anna Smith said it is great value.", "pos"), ("It was a terrible stay in Texas.", "neg")]
    return Dataset([Sample(f"t{i}", t, l, {"spans": []}, modality="text") for i, (t, l) in enumerate(texts)], ["neg", "pos"],
                   "mem", "jsonl", "text", "classification")


def keyword_model(samples):
    """Negative if the text says 'not' or 'terrible'; a toy sentiment model that typos can fool."""
    return ["neg" if any(w in s.data.lower().split() for w in ("not", "terrible")) or "terrible" in s.data.lower() else "pos" for s in samples]


def test_checklist_suite_failure_rates():
    ds = _text_ds()
    settings, entries = parse_suite({"name": "cl", "modality": "text", "severities": [1, 5],
                                     "corruptions": ["typo_swap", "casing", "negation"]}, "text")
    suite = build_suite(ds, settings, entries, seed=0)
    assert len(suite) == 4 * (1 + 3 * 2)
    res = evaluate(Dataset(suite, ds.classes, "mem", "jsonl", "text"), keyword_model(suite), None)
    c = res["corruptions"]
    assert res["clean"]["error"] == 0.0
    assert c["casing"]["failure_rate"] == 0.0  # the model lower-cases: invariant to casing
    assert c["negation"]["expect"] == "directional"
    assert c["negation"]["failure_rate"] < 0.5  # negation flips this model's prediction most of the time
    assert c["typo_swap"]["severities"]["5"]["failure_rate"] >= c["typo_swap"]["severities"]["1"]["failure_rate"]


def test_modelnet_c_suite_with_dgcnn_baseline():
    rng = np.random.default_rng(0)
    samples = []
    for i in range(6):
        p = rng.standard_normal((128, 3)) * ([2.0, 0.5, 0.5] if i % 2 else [0.5, 0.5, 2.0])
        samples.append(Sample(f"p{i}", p.astype(np.float32), "x" if i % 2 else "z",
                              {"point_labels": np.zeros(128, np.int64), "instance_ids": np.zeros(128, np.int64)}, modality="points"))
    ds = Dataset(samples, ["x", "z"], "mem", "npz", "points", "segmentation")
    settings, entries = parse_suite({"name": "mc", "modality": "points", "corruptions": ["scale", "jitter", "rotate", "dropout_global",
                                                                                        "dropout_local", "add_global", "add_local"]}, "points")
    suite = build_suite(ds, settings, entries, seed=1)

    def axis_model(ss):  # the longest principal axis
        return ["x" if np.ptp(s.data[:, 0]) > np.ptp(s.data[:, 2]) else "z" for s in ss]

    for s in suite:
        assert len(s.annotations["point_labels"]) == len(s.data)
    res = evaluate(Dataset(suite, ds.classes, "mem", "npz", "points"), axis_model(suite), DGCNN_MODELNET_C)
    assert res["summary"]["mce"] is not None and len(res["summary"]["mce_corruptions"]) == 7
    assert res["summary"]["mce"] < 1.0  # this shape rule is far more robust than DGCNN on these easy shapes


def test_suite_config_errors():
    with pytest.raises(ConfigError, match="stress.modality"):
        parse_suite({"modality": "text", "corruptions": ["casing"]}, "image")
    with pytest.raises(ConfigError, match=r"stress.corruptions\[0\].severities"):
        parse_suite({"corruptions": [{"name": "fog", "severities": [0, 6]}]}, "image")
    with pytest.raises(ConfigError, match="stress.colour"):
        parse_suite({"colour": 1, "corruptions": ["fog"]}, "image")
    with pytest.raises(ConfigError, match="listed twice"):
        parse_suite({"corruptions": ["fog", "fog"]}, "image")
