"""Bias checks (validators/bias.py): a skewed synthetic set is flagged with the right attribute and
direction; a real-vs-real split is not; the default gate makes the check a warning."""
from __future__ import annotations

import numpy as np
import pytest
from synthgen.validators.bias import BiasValidator

from synthgen.sample import Provenance, Sample

N = 40


def _prov(label, i, params=None):
    return Provenance("tests.fake", "1", "0" * 64, 0, label, i, ("p",), params or {}, {})


def _halves(samples):
    return {"c": samples[::2]}, {"c": samples[1::2]}


def _check(real, synthetic, attribute=None, direction=None, worst=True):
    res = BiasValidator(n_bootstrap=200).validate_samples(real, synthetic, seed=0)
    c = res.per_class["c"]
    if attribute is None:
        assert c.passed and c.status == "pass" and not c.details["flags"], c.details["flags"]
        assert 0.5 <= c.score <= 1
    else:
        assert not c.passed and c.score < 0.5, c.details
        if worst:
            assert c.details["worst_feature"] == attribute and c.details["direction"] == direction, c.details["flags"]
        assert any(f.startswith(f"{attribute}: ") and direction in f for f in c.details["flags"]), c.details["flags"]
        assert attribute in c.reason
    return c


# --- images ---------------------------------------------------------------------------------------

def _digits(label="0"):
    from synthgen.io.digits import load_digits_dataset

    return load_digits_dataset(32).by_class(label)[: 2 * N]


def test_images_real_vs_real_is_not_flagged():
    _check(*_halves(_digits()))


def test_images_all_bright_are_flagged_brightness_higher():
    real = {"c": _digits()[:N]}
    bright = [Sample(f"s{i}", np.clip(s.data.astype(int) // 3 + 170, 0, 255).astype(np.uint8), "c", provenance=_prov("c", i))
              for i, s in enumerate(_digits()[N:])]
    c = _check(real, {"c": bright}, "background", "higher")  # the dark background is what brightening moves most
    assert c.details["attributes"]["brightness"]["skewed"]


def _boxes(n, size, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = np.full((64, 64, 3), 40, np.uint8)
        s = int(rng.integers(size[0], size[1] + 1))
        x, y = (int(v) for v in rng.integers(0, 64 - s, 2))
        img[y:y + s, x:x + s] = 200
        out.append(Sample(f"b{seed}-{i}", img, "c", {"objects": [{"category": "c", "bbox": [x, y, s, s]}]}))
    return out


def test_images_with_boxes_small_objects_are_flagged():
    _check({"c": _boxes(N, (14, 24), 0)}, {"c": _boxes(N, (14, 24), 1)})
    # tiny objects: smaller (and the image's contrast drops with them)
    c = _check({"c": _boxes(N, (14, 24), 0)}, {"c": _boxes(N, (3, 5), 1)}, "object_size", "lower", worst=False)
    assert {"object_x", "object_y", "object_brightness"} <= set(c.details["attributes"])


# --- text -----------------------------------------------------------------------------------------

WORDS = "the a cat dog runs quickly over under house blue green small large river tree".split()
MALE, FEMALE = ["James", "John", "Robert", "Michael"], ["Mary", "Patricia", "Jennifer", "Linda"]


def _texts(n, seed, length=(6, 14), female_share=0.5, email_share=0.5, prefix="t"):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = [WORDS[int(j)] for j in rng.integers(0, len(WORDS), int(rng.integers(length[0], length[1] + 1)))]
        text = " ".join(words) + ". "
        spans = []
        if rng.random() < email_share:
            e = f"user{i}@example.org"
            spans.append({"start": len(text), "end": len(text) + len(e), "label": "EMAIL", "text": e})
            text += e + " "
        else:
            first = (FEMALE if rng.random() < female_share else MALE)[int(rng.integers(0, 4))]
            name = f"{first} Smith"
            spans.append({"start": len(text), "end": len(text) + len(name), "label": "PERSON", "text": name})
            text += name + " "
        out.append(Sample(f"{prefix}{seed}-{i}", text, "c", {"spans": spans}, modality="text"))
    return out


def test_text_real_vs_real_is_not_flagged():
    c = _check(*_halves(_texts(2 * N, 0)))
    assert {"length_tokens", "entity_type", "first_name_gender"} <= set(c.details["attributes"])


@pytest.mark.parametrize("kw,attribute,direction", [
    ({"length": (40, 60)}, "length_tokens", "higher"),
    ({"email_share": 0.0}, "entity_type", "over-represented"),    # PERSON takes the place of every EMAIL
    ({"female_share": 1.0, "email_share": 0.0}, None, None),      # checked below: gender and entity types
])
def test_text_skews_are_flagged(kw, attribute, direction):
    real = {"c": _texts(N, 0)}
    syn = {"c": [Sample(s.id, s.data, "c", s.annotations, _prov("c", i, {"locale": "en_US"}), "text")
                 for i, s in enumerate(_texts(N, 1, prefix="s", **kw))]}
    if attribute is not None:
        c = _check(real, syn, attribute, direction)
    else:
        res = BiasValidator().validate_samples(real, syn, seed=0)
        c = res.per_class["c"]
        assert not c.passed and any(f.startswith("first_name_gender: 'female' over-represented") for f in c.details["flags"]), c.details
    assert c.details["synthetic_locales"] == ["en_US"]


# --- points ---------------------------------------------------------------------------------------

def _clouds(n, seed, shift=0.0, count=(900, 1100)):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        m = int(rng.integers(count[0], count[1] + 1))
        p = rng.normal(0, 1, (m, 3)) * [2.0, 0.7, 0.5]  # an elongated object, along x
        a = rng.uniform(-0.3, 0.3)
        rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        p = p @ rot.T + rng.normal(0, 0.2, 3) + [shift, 0, 0]
        out.append(Sample(f"p{seed}-{i}", p.astype(np.float32), "c", {}, modality="points"))
    return out


def test_points_real_vs_real_is_not_flagged():
    c = _check(*_halves(_clouds(2 * N, 0)))
    assert {"range", "point_count", "extent", "orientation"} <= set(c.details["attributes"])


def test_points_far_and_sparse_are_flagged():
    _check({"c": _clouds(N, 0)}, {"c": _clouds(N, 1, shift=40.0)}, "range", "higher")
    _check({"c": _clouds(N, 0)}, {"c": _clouds(N, 1, count=(100, 150))}, "point_count", "lower")


def test_too_little_data_is_incomputable_with_a_reason():
    res = BiasValidator().validate_samples({"c": _clouds(3, 0)}, {"c": _clouds(N, 1)}, seed=0)
    c = res.per_class["c"]
    assert c.status == "incomputable" and "3 real" in c.reason and c.score is None


def test_default_gate_warns_and_default_bundles_run_it():
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        for bundle in ("image_stats", "text_stats", "points_stats"):
            cfg = compose(config_name="run", overrides=[f"validation={bundle}"])
            assert cfg.validation.validators.bias._target_ == "synthgen.validators.bias.BiasValidator", bundle
            assert cfg.gate.validators.bias.severity == "warn"
    from synthgen.gate import GatePolicy, class_verdicts

    real, syn = {"c": _clouds(N, 0)}, {"c": _clouds(N, 1, shift=40.0)}
    res = {"bias": BiasValidator().validate_samples(real, syn, seed=0)}
    v = class_verdicts(res, ["c"], GatePolicy(cfg.gate))["c"]
    assert v["verdict"] == "warn" and v["admitted"], v
