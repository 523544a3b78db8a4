"""Every corruption x severity keeps labels valid, is deterministic per sample, and grows with severity."""
from __future__ import annotations

import numpy as np
import pytest

from synthgen.errors import ConfigError
from synthgen.stress import corruptions as reg
from synthgen.textedit import apply_edits

ALL = [(c.modality, c.name) for c in reg.all_corruptions()]
SEV = [1, 2, 3, 4, 5]


def _image_sample():
    """A 32x32 image with one object: a box, its mask and two keypoints."""
    img = np.zeros((32, 32, 3), dtype=np.uint8)
    img[8:20, 10:22] = (200, 120, 40)
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[8:20, 10:22] = 1
    obj = {"category": "thing", "bbox": [10.0, 8.0, 12.0, 12.0], "mask": mask, "keypoints": [[16.0, 14.0, 2], [11.0, 9.0, 2]]}
    box_only = {"category": "thing", "bbox": [2.0, 24.0, 6.0, 5.0]}
    return img, {"objects": [obj, box_only]}


TEXT = "Mr Smith isn't happy: Mary Jones flew from Paris to Texas on 12 May, paying 340.50 dollars. It is great!"


def _span(t, label):
    i = TEXT.index(t)
    return {"start": i, "end": i + len(t), "label": label, "text": t}


def _text_sample():
    return TEXT, {"spans": [_span("Mary Jones", "PER"), _span("Paris", "LOC"), _span("Texas", "LOC"), _span("12 May", "DATE")]}


def _points_sample():
    rng = np.random.default_rng(0)
    p = rng.standard_normal((256, 3))
    p = (p / np.linalg.norm(p, axis=1, keepdims=True) * [2.0, 1.0, 0.5] + [3.0, 0.0, 0.0]).astype(np.float32)
    labels = (p[:, 0] > 3).astype(np.int64) + 2 * (p[:, 1] > 0)
    return p, {"point_labels": labels, "instance_ids": labels * 10 + 1}


def _sample(modality):
    return {"image": _image_sample, "text": _text_sample, "points": _points_sample}[modality]()


def _same(a, b):
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("severity", SEV)
@pytest.mark.parametrize("modality,name", ALL)
def test_labels_stay_valid(modality, name, severity):
    c = reg.get(modality, name)
    data, ann = _sample(modality)
    out, new, params = c(data, ann, severity, np.random.default_rng(severity))
    assert isinstance(params, dict)
    if modality == "image":
        assert out.shape == data.shape and out.dtype == np.uint8
        h, w = out.shape[:2]
        for o in new["objects"]:
            x, y, bw, bh = o["bbox"]
            assert bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w and y + bh <= h, (name, o["bbox"])
            if o.get("mask") is not None:
                m = np.asarray(o["mask"])
                assert m.shape == (h, w)
                ys, xs = np.nonzero(m)
                assert [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()] == [x, y, bw, bh]
            for kx, ky, v in o.get("keypoints", []):
                assert v == 0 or (0 <= kx < w and 0 <= ky < h)
        if not c.geometric:
            assert new["objects"][0]["bbox"] == ann["objects"][0]["bbox"]
    elif modality == "text":
        assert isinstance(out, str)
        assert [s["label"] for s in new["spans"]] == [s["label"] for s in ann["spans"]]
        prev = -1
        for s in new["spans"]:
            assert 0 <= s["start"] < s["end"] <= len(out)
            assert out[s["start"]:s["end"]] == s["text"]
            assert s["start"] >= prev  # order and non-overlap kept
            prev = s["end"]
            assert not out[s["start"]].isspace() and not out[s["end"] - 1].isspace()
        if name in ("casing", "whitespace", "punctuation", "contractions", "change_numbers", "negation"):
            # these never touch text inside an entity span except through whole-token edits
            assert len(new["spans"]) == 4
        assert params["touched"] <= max(1, params["eligible"])
    else:
        assert out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == 3 and np.isfinite(out).all()
        for k in ("point_labels", "instance_ids"):
            lab = np.asarray(new[k])
            assert lab.shape == (len(out),)
            assert set(np.unique(lab)) <= set(np.unique(ann[k])) | {-1}


@pytest.mark.parametrize("modality,name", ALL)
def test_deterministic_per_sample_rng(modality, name):
    c = reg.get(modality, name)
    data, ann = _sample(modality)
    a = c(data, ann, 3, np.random.default_rng(7))
    b = c(data, ann, 3, np.random.default_rng(7))
    assert _same(a[0], b[0])
    if modality == "points":
        assert np.array_equal(a[1]["point_labels"], b[1]["point_labels"])


def test_points_labels_follow_points():
    """Labels are those of the source point: a rotation keeps every label with its (rotated) point."""
    p, ann = _points_sample()
    out, new, params = reg.get("points", "rotate")(p, ann, 5, np.random.default_rng(0))
    assert np.array_equal(new["point_labels"], ann["point_labels"])
    out, new, _ = reg.get("points", "dropout_global")(p, ann, 2, np.random.default_rng(0))
    # each kept point is an input point (no moving), so its label must be the label of that input point
    idx = [int(np.argmin(((p - q) ** 2).sum(axis=1))) for q in out]
    assert np.array_equal(new["point_labels"], ann["point_labels"][idx])
    out, new, _ = reg.get("points", "add_global")(p, ann, 5, np.random.default_rng(0))
    assert (np.asarray(new["point_labels"])[len(p):] == -1).all() and len(out) == len(p) + 50


def test_elastic_moves_keypoints_with_the_object():
    img, ann = _image_sample()
    out, new, _ = reg.get("image", "elastic_transform")(img, ann, 1, np.random.default_rng(3), reference_size=32)
    o = new["objects"][0]
    kx, ky, v = o["keypoints"][0]
    assert v > 0
    m = o["mask"]
    ys, xs = np.nonzero(m)
    assert xs.min() - 1 <= kx <= xs.max() + 1 and ys.min() - 1 <= ky <= ys.max() + 1
    # the moved mask lies on the moved (orange) pixels
    assert out[m.astype(bool)][:, 0].mean() > 100 and out[~m.astype(bool)][:, 0].mean() < 40


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "contrast", "gaussian_blur"])
def test_image_corruption_grows_with_severity(name, digits):
    img = digits.samples[0].data
    c = reg.get("image", name)
    d = [float(np.abs(c(img, {}, s, np.random.default_rng(0), reference_size=32)[0].astype(float) - img).mean()) for s in SEV]
    assert d == sorted(d) and d[-1] > d[0]


def test_point_corruptions_follow_the_published_tables():
    p, ann = _points_sample()  # 256 points: ModelNet counts scale by 256 / 1024
    n = [len(reg.get("points", "dropout_global")(p, ann, s, np.random.default_rng(0))[0]) for s in SEV]
    assert n == [int(256 * (1 - r)) for r in (0.25, 0.375, 0.5, 0.625, 0.75)]
    n = [len(reg.get("points", "add_local")(p, ann, s, np.random.default_rng(0))[0]) for s in SEV]
    assert n == [256 + 25 * s for s in SEV]
    n = [len(reg.get("points", "upsampling")(p, ann, s, np.random.default_rng(0))[0]) for s in SEV]
    assert n == [256 + 256 // c for c in (5, 4, 3, 2, 1)]


def test_text_severity_is_share_of_tokens():
    text = " ".join(["alpha", "beta", "gamma", "delta", "epsilon"] * 4)
    shares = [reg.get("text", "typo_swap")(text, {}, s, np.random.default_rng(0))[2]["share"] for s in SEV]
    assert shares == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_faker_changes_names_in_spans():
    text, ann = _text_sample()
    out, new, params = reg.get("text", "change_names")(text, ann, 5, np.random.default_rng(1))
    assert new["spans"][0]["text"] != "Mary Jones" and " " in new["spans"][0]["text"]
    assert out.endswith("It is great!") and "Paris" in out


def test_apply_edits_realigns_spans():
    text = "aa bb cc"
    ann = {"spans": [{"start": 3, "end": 5, "label": "X", "text": "bb"}]}
    new, spans = apply_edits(text, ann["spans"], [(0, 2, "aaaa"), (3, 5, "B"), (5, 5, "!")])
    assert new == "aaaa B! cc" and spans[0] == {"start": 5, "end": 6, "label": "X", "text": "B"}


def test_registry_lists_the_benchmarks():
    assert len(reg.names("image", "imagenet-c")) == 15
    assert reg.names("image", "imagenet-c-holdout") == ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
    assert set(reg.names("image", "edge-case")) == {"rain", "sun_flare", "shadow", "occlusion"}
    assert len(reg.names("points", "modelnet-c")) == 7
    assert reg.get("text", "negation").expect == "directional"
    with pytest.raises(ConfigError, match="unknown image corruption 'fooo'"):
        reg.get("image", "fooo")
    with pytest.raises(ConfigError, match="severity"):
        reg.get("image", "fog")(np.zeros((8, 8, 3), np.uint8), {}, 6, np.random.default_rng(0))
