"""Anchor tests of CE / mCE / relative mCE against the published baselines."""
from __future__ import annotations

import pytest

from synthgen.stress.baselines import ALEXNET_IMAGENET_C, DGCNN_MODELNET_C, DGCNN_OA
from synthgen.stress.metrics import corruption_error, mce, relative_mce

IMAGENET_C_15 = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
                 "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"]


def test_alexnet_errors_give_mce_exactly_100():
    table = ALEXNET_IMAGENET_C["corruptions"]
    r = mce({c: table[c]["mean"] for c in IMAGENET_C_15}, ALEXNET_IMAGENET_C)
    assert r["mce"] == 100.0
    assert all(v == 100.0 for v in r["ce"].values()) and len(r["ce"]) == 15
    # the same with the per-severity table, and with the held-out four included
    r = mce({c: table[c]["errors"] for c in table}, ALEXNET_IMAGENET_C)
    assert r["mce"] == 100.0 and len(r["ce"]) == 19


def test_alexnet_published_means_match_its_per_severity_errors():
    for c, e in ALEXNET_IMAGENET_C["corruptions"].items():
        assert sum(e["errors"].values()) / 5 == pytest.approx(e["mean"], abs=1e-6), c


def test_dgcnn_row_gives_mce_1():
    r = mce({c: 1 - DGCNN_OA[c] for c in DGCNN_MODELNET_C["corruptions"]}, DGCNN_MODELNET_C)
    assert round(r["mce"], 3) == 1.000 and len(r["ce"]) == 7
    rel = relative_mce({c: 1 - DGCNN_OA[c] for c in DGCNN_MODELNET_C["corruptions"]}, 1 - DGCNN_OA["clean"], DGCNN_MODELNET_C)
    assert round(rel["relative_mce"], 3) == 1.000


def test_ce_is_ratio_of_summed_errors():
    entry = {"errors": {1: 0.2, 2: 0.4}, "mean": 0.5}
    assert corruption_error({1: 0.1, 2: 0.2}, entry) == pytest.approx(0.5)
    assert corruption_error(0.25, entry) == pytest.approx(0.5)
    # a better model (half the errors) has CE 50 on the ImageNet-C scale
    half = {c: {s: e / 2 for s, e in v["errors"].items()} for c, v in ALEXNET_IMAGENET_C["corruptions"].items()}
    assert mce(half, ALEXNET_IMAGENET_C)["mce"] == pytest.approx(50.0)
