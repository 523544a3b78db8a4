"""synthgen's ModelNet40-C corruptions against the reference code (tests/reference_modelnet_c.py).

Both sides get the same random numbers: the reference draws from NumPy's global legacy generator
seeded with ``s``; synthgen's corruption is handed ``np.random.RandomState(s)``, which has the same
``uniform`` / ``choice`` methods synthgen calls on its ``Generator``, called in the same order with the
same arguments.  Inputs are 1,024-point clouds already in ModelNet's frame (centroid at the origin,
unit sphere), so synthgen's map back to the input frame is the identity.
"""
from __future__ import annotations

import functools
import os

import numpy as np
import pytest

from synthgen.stress import points as P

from . import reference_modelnet_c as R

ARCHIVE = "/usr/share/doc/libcgal-dev/data.tar.gz"
NAMES = ("background_noise", "impulse_noise", "upsampling", "shear")
SEVERITIES = (1, 2, 3, 4, 5)


def _unit_sphere(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    p = p - p.mean(axis=0)
    return (p / np.sqrt((p ** 2).sum(axis=1)).max()).astype(np.float32)


def _sampled_cloud() -> np.ndarray:
    """A fixed, anisotropic 1,024-point cloud: points on an ellipsoid plus a rod."""
    rng = np.random.default_rng(7)
    v = rng.standard_normal((900, 3))
    v = v / np.linalg.norm(v, axis=1, keepdims=True) * np.array([1.0, 0.6, 0.35])
    rod = np.c_[rng.uniform(-1.4, 1.4, 124), rng.normal(0, 0.02, 124), rng.normal(0, 0.02, 124)]
    return _unit_sphere(np.concatenate([v, rod]))


CGAL_MESHES = {"bunny00": "data/meshes/bunny00.off", "fandisk": "data/meshes/fandisk.off"}
CLOUD_IDS = ["sampled"] + (list(CGAL_MESHES) if os.path.exists(ARCHIVE) else [])  # read when a test runs, not at collection


@functools.lru_cache(maxsize=1)
def _clouds() -> dict[str, np.ndarray]:
    out = {"sampled": _sampled_cloud()}
    if os.path.exists(ARCHIVE):
        from synthgen.io.cgal import read_cgal

        ds = read_cgal(classes={"animal": [CGAL_MESHES["bunny00"]], "mechanical": [CGAL_MESHES["fandisk"]]},
                       n_points=R.ORIG_NUM, seed=3)
        mesh = {"animal": "bunny00", "mechanical": "fandisk"}
        for s in ds.samples:
            out[mesh[s.label]] = _unit_sphere(s.data)
    return out


@pytest.fixture(autouse=True)
def _keep_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def _both(name: str, cloud: np.ndarray, severity: int, seed: int):
    np.random.seed(seed)
    ref = getattr(R, name)(cloud.copy(), severity)
    ours, _, params = getattr(P, name)(cloud.copy(), {}, severity, np.random.RandomState(seed))
    return ref, ours, params


def test_cgal_archive_used_when_present():
    if not os.path.exists(ARCHIVE):
        pytest.skip(f"{ARCHIVE} absent (Debian's libcgal-dev)")
    assert len(_clouds()) == 3


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cloud_id", CLOUD_IDS)
def test_matches_reference(name, severity, cloud_id):
    cloud = _clouds()[cloud_id]
    for seed in (0, 2021):
        ref, ours, _ = _both(name, cloud, severity, seed)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
        # the reference's frame: bounding box centred, longest side 2
        lo, hi = ours.min(axis=0), ours.max(axis=0)
        np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-6)
        assert abs(float((hi - lo).max()) - 2.0) < 1e-6


def test_box_normalise_is_the_reference_normalize():
    rng = np.random.default_rng(1)
    for _ in range(5):
        p = (rng.standard_normal((300, 3)) * rng.uniform(0.1, 3, 3) + rng.uniform(-5, 5, 3)).astype(np.float32)
        np.testing.assert_allclose(P._box(p), R.normalize(p.copy()), rtol=0, atol=1e-6)


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("cloud_id", CLOUD_IDS)
def test_background_noise_keeps_object_size(severity, cloud_id):
    """The object points are only moved by the reference's normalisation (one shift, one scale), and
    that scale stays near 1: the noise fills the [-1, 1]^3 cube the object already spans, instead of
    shrinking the object to fit a unit sphere around the cube's corners (0.62-0.73 before)."""
    cloud = _clouds()[cloud_id].astype(np.float64)
    ref, ours, params = _both("background_noise", _clouds()[cloud_id], severity, 11)
    obj = ours[: len(cloud)].astype(np.float64)
    assert params["added"] == len(cloud) // P.M40_BACKGROUND[severity - 1]
    # one uniform scale + shift maps the input object onto the output object
    span_in, span_out = np.ptp(cloud, axis=0), np.ptp(obj, axis=0)
    ratio = span_out / span_in
    assert np.ptp(ratio) < 1e-5
    shift = obj - cloud * ratio.mean()
    assert np.ptp(shift, axis=0).max() < 1e-5
    # that scale is the reference's (longest side of the object + noise box -> 2), and close to 1
    assert abs(float(np.ptp(ours.astype(np.float64), axis=0).max()) - 2.0) < 1e-6
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    assert 0.9 < ratio.mean() < 1.15, ratio.mean()
