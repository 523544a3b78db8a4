"""Point-cloud features and Chamfer set metrics: exactness, invariances, and anchors on real CGAL shapes."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

# found, not imported: importing it at collection costs every test worker seconds
pytestmark = pytest.mark.skipif(importlib.util.find_spec("open3d") is None, reason="open3d is not installed")

from synthgen.errors import DatasetError  # noqa: E402
from synthgen.generators.points import LidarGenerator, MeshGenerator  # noqa: E402
from synthgen.sample import Sample  # noqa: E402
from synthgen.validators.distribution import KSValidator, MMDValidator  # noqa: E402
from synthgen.validators.points_features import (  # noqa: E402
    POINT_FEATURES, ChamferSetValidator, PointsFeaturizer, canonical, chamfer, chamfer_brute, chamfer_set_metrics)

from .contracts import check_validator  # noqa: E402

ARCHIVE = "/usr/share/doc/libcgal-dev/data.tar.gz"
needs_cgal = pytest.mark.skipif(not Path(ARCHIVE).exists(), reason="Debian package libcgal-demo is not installed")


@pytest.fixture(scope="module")
def cgal():
    from synthgen.io.cgal import read_cgal

    return read_cgal(samples_per_shape=3, n_points=2048, seed=0)


@pytest.fixture(scope="module")
def anchor_features(cgal):
    """Features of a random half of the real animals (the reference), the other half, mechanical
    parts (a wrong class) and uniform noise clouds, computed once."""
    f = PointsFeaturizer()
    a, b = _split(cgal.by_class("animal"), seed=0)
    mech = cgal.by_class("mechanical")[: len(b)]
    rng = np.random.default_rng(0)
    noise = [Sample(f"n{i}", rng.uniform(-1, 1, size=(2048, 3)).astype(np.float32), "animal", modality="points") for i in range(len(b))]
    fa = f.transform(a)
    return {"half": fa, "wrong": fa, "noise": fa}, {"half": f.transform(b), "wrong": f.transform(mech), "noise": f.transform(noise)}


def _split(samples, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.permutation(len(samples))
    h = len(samples) // 2
    return [samples[i] for i in p[:h]], [samples[i] for i in p[h:]]


def test_chamfer_kdtree_equals_brute_force():
    rng = np.random.default_rng(0)
    for n, m in ((50, 80), (300, 200)):
        a, b = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
        assert chamfer(a, b) == pytest.approx(chamfer_brute(a, b), rel=1e-12)
    a = rng.normal(size=(100, 3))
    assert chamfer(a, a) == 0.0
    assert chamfer(a, a + [0.1, 0, 0]) == pytest.approx(chamfer_brute(a, a + [0.1, 0, 0]))


def test_canonical_convention():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(5000, 3)) * [3, 1, 1] + 10
    q, idx = canonical(pts)
    assert q.shape == (2048, 3) and len(np.unique(idx)) == 2048
    assert np.linalg.norm(q, axis=1).max() == pytest.approx(1.0)
    small, idx = canonical(pts[:100])
    assert small.shape == (2048, 3) and set(idx[:100]) == set(range(100))


def test_featurizer_invariances_and_meaning():
    f = PointsFeaturizer()
    assert f.modality == "points" and f.feature_names == POINT_FEATURES
    g = MeshGenerator({"s": {"primitive": "sphere"}, "b": {"primitive": "box", "width": 3, "height": 1, "depth": 0.2}},
                      n_points=2048, rotation="none", scale=[1, 1]).fit(None)
    sphere, slab = next(g.generate("s", 1, 0)), next(g.generate("b", 1, 0))
    X = f.transform([sphere, slab])
    assert X.shape == (2, len(POINT_FEATURES)) and np.isfinite(X).all()
    col = {n: i for i, n in enumerate(POINT_FEATURES)}
    # a sphere is round with spread normals; a thin slab is flat with aligned normals
    assert X[0, col["extent_3"]] / X[0, col["extent_1"]] > 0.95
    assert X[1, col["extent_3"]] / X[1, col["extent_1"]] < 0.15
    assert X[0, col["normal_spread"]] > 0.6 and X[1, col["normal_spread"]] < 0.25
    assert X[:, [col[f"d2_{i:02d}"] for i in range(16)]].sum(axis=1) == pytest.approx([1.0, 1.0])
    # rotation, translation and scale do not change the shape features
    R = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    moved = Sample("m", (sphere.data.astype(np.float64) @ R.T * 7 + 3).astype(np.float32), "s", modality="points")
    Y = f.transform([moved])[0]
    shape_cols = [col[n] for n in ("extent_1", "extent_2", "extent_3", "nn_spacing", "normal_spread")]
    assert np.allclose(Y[shape_cols], X[0, shape_cols], atol=2e-3)
    assert np.array_equal(f.transform([sphere]), f.transform([sphere]))  # deterministic


def test_featurizer_uses_the_labeled_object_of_a_scene():
    s = next(LidarGenerator(sensor={"beams": 32, "azimuth_resolution": 0.5}, n_objects=[3, 3]).generate("car", 1, 0))
    X = PointsFeaturizer().transform([s])[0]
    car = max((b for b in s.annotations["boxes3d"] if b["category"] == "car"), key=lambda b: b["num_points"])
    assert X[0] == pytest.approx(np.log10(1 + car["num_points"]))
    s.label = "bus"
    with pytest.raises(DatasetError, match="has no object of its class 'bus'"):
        PointsFeaturizer().transform([s])


def test_set_metrics_anchors():
    g = MeshGenerator({"t": {"primitive": "torus"}, "c": {"primitive": "cone"}}, n_points=512).fit(None)
    t1, t2 = [s.data for s in g.generate("t", 8, 0)], [s.data for s in g.generate("t", 8, 1)]
    cones = [s.data for s in g.generate("c", 8, 0)]
    same, other = chamfer_set_metrics(t1, t2), chamfer_set_metrics(t1, cones)
    assert same["one_nn_accuracy"] <= 0.75 and other["one_nn_accuracy"] == 1.0
    assert other["mmd_chamfer_minmatch"] > 3 * same["mmd_chamfer_minmatch"]
    assert same["cov_chamfer"] > other["cov_chamfer"]


def test_chamfer_validator_passes_same_shapes_and_fails_others():
    g = MeshGenerator({"t": {"primitive": "torus", "tube_radius": [0.2, 0.4]}, "c": {"primitive": "cone"}}, n_points=256).fit(None)
    real = {"t": list(g.generate("t", 16, 0))}
    v = ChamferSetValidator(max_clouds=16, n_points=256, n_bootstrap=30)
    same = v.validate_samples(real, {"t": list(g.generate("t", 12, 1))}, seed=0).per_class["t"]
    wrong = v.validate_samples(real, {"t": [Sample(s.id, s.data, "t", modality="points") for s in g.generate("c", 12, 0)]},
                               seed=0).per_class["t"]
    few = v.validate_samples({"t": real["t"][:4]}, {"t": list(g.generate("t", 6, 1))}, seed=0).per_class["t"]
    assert same.passed and same.score >= 0.5, same
    assert not wrong.passed and wrong.details["one_nn_accuracy"] == 1.0
    assert few.status == "incomputable" and few.reason
    for r in (same, wrong):
        assert {"cov_chamfer", "mmd_chamfer_minmatch", "one_nn_accuracy", "real_vs_real"} <= set(r.details)
    again = v.validate_samples(real, {"t": list(g.generate("t", 12, 1))}, seed=0).per_class["t"]
    assert again.to_dict() == same.to_dict()


def test_existing_validators_still_meet_their_contract():
    check_validator(KSValidator(n_bootstrap=30), dim=len(POINT_FEATURES))


@needs_cgal
@pytest.mark.parametrize("name", ["ks", "mmd"])
def test_anchor_real_half_passes_wrong_class_and_noise_fail(anchor_features, name):
    """A held-apart half of a real CGAL class passes; another class and noise clouds fail."""
    v = KSValidator(n_bootstrap=40) if name == "ks" else MMDValidator(n_bootstrap=40, n_permutations=300)
    real, syn = anchor_features
    res = v.validate(real, syn, list(POINT_FEATURES), seed=0).per_class
    assert res["half"].passed, res["half"]
    assert not res["wrong"].passed and not res["noise"].passed


@needs_cgal
def test_anchor_chamfer_on_real_shapes(cgal):
    v = ChamferSetValidator(max_clouds=20, n_points=512, n_bootstrap=30)
    spheres, boxes = cgal.by_class("sphere"), cgal.by_class("box")
    a, b = _split(spheres, seed=1)
    half = v.validate_samples({"sphere": a}, {"sphere": b}, seed=0).per_class["sphere"]
    wrong = v.validate_samples({"sphere": a}, {"sphere": [Sample(s.id, s.data, "sphere", modality="points") for s in boxes]},
                               seed=0).per_class["sphere"]
    assert half.passed, half
    assert not wrong.passed


@needs_cgal
@pytest.mark.slow
def test_copies_of_real_clouds_fail_on_duplicates(cgal, tmp_path):
    """The memorisation half of the done-when: copies of real shapes fail, named by `duplicates`."""
    import json

    from synthgen.io.npz import write_npz

    from .test_cli import synthgen

    animals = cgal.by_class("animal")
    copies = [Sample(f"copy-{i:03d}", s.data.copy(), "animal", modality="points") for i, s in enumerate(animals)]
    write_npz(copies, cgal.classes, str(tmp_path / "copies"))
    run = tmp_path / "run"
    synthgen("validate", "dataset=cgal", f"synthetic.path={tmp_path / 'copies'}", "validation=points_evidence",
             f"hydra.run.dir={run}", cwd=tmp_path)
    c = json.loads((run / "report.json").read_text())["classes"]["animal"]
    failed = {k for k, v in c["validators"].items() if v.get("status") == "fail"}
    assert c["verdict"] == "fail" and "duplicates" in failed, failed
