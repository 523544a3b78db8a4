"""Point-cloud generators: contract suite, geometry properties, the box <-> instance invariant."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

# found, not imported: importing it at collection costs every test worker seconds
pytestmark = pytest.mark.skipif(importlib.util.find_spec("open3d") is None, reason="open3d is not installed")

from synthgen.dataset import Dataset  # noqa: E402
from synthgen.errors import ConfigError, InsufficientDataError  # noqa: E402
from synthgen.generators.points import InsertGenerator, LidarGenerator, MeshGenerator  # noqa: E402
from synthgen.generators.points import geometry as G  # noqa: E402
from synthgen.generators.points.lidar import simulated_scans  # noqa: E402
from synthgen.sample import Sample  # noqa: E402

from .contracts import check_generator  # noqa: E402

SHAPES = {
    "torus": {"primitive": "torus", "tube_radius": [0.2, 0.4]},
    "lamp": {"parts": [{"primitive": "cylinder", "radius": 0.5, "height": 0.1},
                       {"primitive": "cone", "radius": 0.4, "height": 0.4, "offset": [0, 0, 1.0], "rotation": [180, 0, 0]}]},
}
SMALL_SENSOR = {"beams": 16, "azimuth_resolution": 1.0, "range_noise": 0.02, "dropout": 0.05}


def _points_dataset(classes):
    s = [Sample(f"r{i}", np.zeros((4, 3), np.float32), c, modality="points") for i, c in enumerate(classes)]
    return Dataset(s, list(classes), "tiny", "npz", "points", "classification")


@pytest.fixture(scope="module")
def scans():
    return simulated_scans({"car": 6, "cyclist": 3}, seed=3, sensor=SMALL_SENSOR)


def assert_boxes_exact(sample):
    """Every box holds exactly the points labeled with its instance (and no box holds other points)."""
    pts = np.asarray(sample.data)
    inst = np.asarray(sample.annotations["instance_ids"])
    assert len(inst) == len(pts) == len(sample.annotations["point_labels"])
    ids = set()
    for b in sample.annotations["boxes3d"]:
        inside = G.points_in_box(pts, b["center"], b["size"], b["yaw"])
        mine = inst == b["instance_id"]
        assert np.array_equal(inside, mine), (sample.id, b["category"], int(inside.sum()), int(mine.sum()))
        assert b["num_points"] == int(mine.sum())
        ids.add(b["instance_id"])
    assert set(np.unique(inst[inst >= 0]).tolist()) <= ids, "every labeled instance has a box"


# --- contracts ---------------------------------------------------------------------------------

def test_mesh_contract():
    real = _points_dataset(["torus", "lamp"])
    check_generator(lambda: MeshGenerator(SHAPES, n_points=256, stretch=[0.8, 1.2], noise_std=0.01, normals=True, partial=0.5),
                    real, labels=["torus", "lamp"], n=4)


def test_mesh_poisson_and_user_meshes_contract(tmp_path):
    import open3d as o3d

    for ext in ("stl", "obj", "off", "ply"):
        m = o3d.geometry.TriangleMesh.create_cone(0.5, 1.0)
        m.compute_triangle_normals()
        o3d.io.write_triangle_mesh(str(tmp_path / f"cone.{ext}"), m)
    real = _points_dataset(["user"])
    check_generator(lambda: MeshGenerator({"user": {"meshes": str(tmp_path)}}, n_points=200, sampling="poisson"),
                    real, labels=["user"], n=4)


def test_lidar_contract():
    real = _points_dataset(["cyclist"])
    check_generator(lambda: LidarGenerator(sensor=SMALL_SENSOR, n_objects=[2, 4]), real, labels=["cyclist"], n=3)


def test_insert_contract(scans):
    check_generator(lambda: InsertGenerator(), scans, labels=["cyclist", "car"], n=3)


# --- mesh generator properties -----------------------------------------------------------------

def test_mesh_modelnet_normalisation_and_annotations():
    g = MeshGenerator(SHAPES, n_points=512, normals=True).fit(_points_dataset(["lamp", "torus"]))
    for s in g.generate("torus", 3, 0):
        p = s.data.astype(np.float64)
        assert s.data.shape == (512, 3) and s.data.dtype == np.float32
        assert np.allclose(p.mean(axis=0), 0, atol=1e-5)
        assert abs(np.linalg.norm(p, axis=1).max() - 1.0) < 1e-5
        assert (s.annotations["point_labels"] == 1).all()  # index of "torus" in the dataset's classes
        n = s.annotations["normals"]
        assert n.shape == (512, 3) and np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-4)
        assert_boxes_exact(s)


def test_mesh_normals_point_outward_on_a_sphere():
    g = MeshGenerator({"s": {"primitive": "sphere"}}, n_points=400, normals=True, stretch=[1, 1], scale=[1, 1]).fit(None)
    s = next(g.generate("s", 1, 0))
    radial = s.data / np.linalg.norm(s.data, axis=1, keepdims=True)
    assert np.abs(np.einsum("ij,ij->i", radial, s.annotations["normals"])).min() > 0.95


def test_partial_view_hides_the_far_side():
    full = MeshGenerator({"s": {"primitive": "sphere"}}, n_points=1000, normalize=False, scale=[1, 1]).fit(None)
    part = MeshGenerator({"s": {"primitive": "sphere"}}, n_points=1000, normalize=False, scale=[1, 1], partial=1.0).fit(None)
    s = next(part.generate("s", 1, 0))
    d = np.asarray(s.provenance.params["viewpoint"])
    facing = s.data @ d
    assert s.data.shape == (1000, 3) and s.provenance.params["partial"] is True
    assert (facing > -0.05).mean() > 0.95  # only the half facing the viewpoint
    f = next(full.generate("s", 1, 0)).data @ d
    assert (f > -0.05).mean() < 0.6


def test_poisson_spreads_points_more_evenly_than_uniform():
    from scipy.spatial import cKDTree

    mk = lambda m: MeshGenerator({"t": {"primitive": "torus"}}, n_points=800, sampling=m).fit(None)  # noqa: E731
    nn = {}
    for m in ("uniform", "poisson"):
        p = next(mk(m).generate("t", 1, 0)).data
        d, _ = cKDTree(p).query(p, k=2)
        nn[m] = d[:, 1]
    assert nn["poisson"].min() > 5 * nn["uniform"].min()
    assert nn["poisson"].std() / nn["poisson"].mean() < 0.5 * nn["uniform"].std() / nn["uniform"].mean()


def test_mesh_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="generator.shapes: no shape for class 'x'"):
        list(MeshGenerator(SHAPES).fit(None).generate("x", 1, 0))
    with pytest.raises(ConfigError, match=r"generator.shapes.t.primitive: unknown primitive 'pyramid'"):
        list(MeshGenerator({"t": {"primitive": "pyramid"}}).fit(None).generate("t", 1, 0))
    with pytest.raises(ConfigError, match=r"generator.shapes.t.radius: must be > 0"):
        list(MeshGenerator({"t": {"primitive": "sphere", "radius": -1}}).fit(None).generate("t", 1, 0))
    with pytest.raises(ConfigError, match=r"generator.shapes.t.colour: unknown parameter"):
        list(MeshGenerator({"t": {"primitive": "sphere", "colour": 1}}).fit(None).generate("t", 1, 0))
    with pytest.raises(ConfigError, match="generator.rotation"):
        MeshGenerator(SHAPES, rotation="xyz").fit(None)
    with pytest.raises(ConfigError, match="no meshes"):
        list(MeshGenerator({"t": {"meshes": str(tmp_path)}}).fit(None).generate("t", 1, 0))


def test_sample_elimination_is_deterministic_and_exact():
    rng = np.random.default_rng(0)
    v, t, _ = G.primitive_mesh("box", {}, rng, "k")
    p, _ = G.sample_uniform(v, t, 2000, rng)
    a, b = G.sample_elimination(p, 500), G.sample_elimination(p.copy(), 500)
    assert len(a) == 500 and np.array_equal(a, b)


def test_read_off_polygons_are_fan_triangulated():
    v, t = G.read_off(b"OFF\n# a quad\n4 1 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n", "quad.off")
    assert v.shape == (4, 3) and t.tolist() == [[0, 1, 2], [0, 2, 3]]
    from synthgen.errors import DatasetError

    with pytest.raises(DatasetError, match="bad.off: truncated"):
        G.read_off(b"OFF\n3 1 0\n0 0 0\n", "bad.off")


# --- LiDAR --------------------------------------------------------------------------------------

def test_lidar_boxes_contain_exactly_their_points_over_many_scenes():
    g = LidarGenerator(sensor={"beams": 32, "azimuth_resolution": 0.5, "range_noise": 0.03, "dropout": 0.1},
                       n_objects=[4, 9], placement_range=[3.0, 25.0])
    n_boxes = 0
    for label in ("car", "pedestrian", "cyclist", "traffic_cone"):
        for s in g.generate(label, 6, 11):
            assert_boxes_exact(s)
            assert any(b["category"] == label for b in s.annotations["boxes3d"])
            n_boxes += len(s.annotations["boxes3d"])
    assert n_boxes > 100


def test_lidar_scan_geometry():
    sensor = {"beams": 16, "fov_up": 5.0, "fov_down": -25.0, "azimuth_resolution": 1.0, "max_range": 30.0,
              "range_noise": 0.0, "height": 1.7}
    g = LidarGenerator(sensor=sensor, n_objects=[3, 3])
    s = next(g.generate("car", 1, 0))
    p = s.data.astype(np.float64)
    r = np.linalg.norm(p, axis=1)
    assert r.max() <= 30.0 + 1e-4 and r.min() >= 1.0 - 1e-4
    ground = s.annotations["point_labels"] == 0
    assert np.allclose(p[ground, 2], -1.7, atol=1e-4)  # noise-free ground is flat at -height
    assert (s.annotations["instance_ids"][ground] == -1).all()
    el = np.degrees(np.arcsin(p[:, 2] / r))
    assert el.max() <= 5.0 + 1e-3 and el.min() >= -25.0 - 1e-3
    # at most one return per ray
    assert len(p) <= 16 * 360
    inten = s.annotations["intensity"]
    assert inten.min() >= 0 and inten.max() <= 1
    # intensity follows the incidence angle on the ground: cos = height / range
    cos = 1.7 / r[ground]
    assert np.allclose(inten[ground], 0.3 * cos, atol=1e-4)
    # boxes sit on the ground
    for b in s.annotations["boxes3d"]:
        assert abs(b["center"][2] - b["size"][2] / 2 - (-1.7 - 0.05)) < 1e-6


def test_lidar_placement_has_no_collisions():
    g = LidarGenerator(n_objects=[10, 12], placement_range=[4.0, 20.0], clearance=0.5)
    for s in g.generate("pedestrian", 3, 1):
        b = s.annotations["boxes3d"]
        for i in range(len(b)):
            for j in range(i + 1, len(b)):
                assert not G.bev_overlap(b[i], b[j], 0.5)


def test_lidar_errors():
    with pytest.raises(ConfigError, match="generator.sensor.beamz: unknown key"):
        list(LidarGenerator(sensor={"beamz": 3}).generate("car", 1, 0))
    with pytest.raises(ConfigError, match="generator.objects: no object shape for class 'bus'"):
        list(LidarGenerator().generate("bus", 1, 0))
    with pytest.raises(ConfigError, match="fov_down"):
        list(LidarGenerator(sensor={"fov_down": 20.0}).generate("car", 1, 0))


# --- insertion ----------------------------------------------------------------------------------

def test_insert_keeps_boxes_exact_and_adds_the_class(scans):
    g = InsertGenerator(n_insert=[1, 3]).fit(scans)
    n_inserted = 0
    for s in g.generate("cyclist", 12, 5):
        assert_boxes_exact(s)
        ins = s.provenance.params["inserted"]
        n_inserted += len(ins)
        base = next(x for x in scans.samples if x.id == s.provenance.params["base_scene"])
        assert s.provenance.parents[0] == base.id
        names = s.annotations["label_names"]
        for o in ins:
            b = next(b for b in s.annotations["boxes3d"] if b["instance_id"] == o["instance_id"])
            assert b["category"] == "cyclist" and b["num_points"] >= 5
            m = s.annotations["instance_ids"] == o["instance_id"]
            assert (s.annotations["point_labels"][m] == names.index("cyclist")).all()
            # standing on the ground: box bottom within a few cm of nearby ground height
            gpts = np.asarray(base.data)[base.annotations["point_labels"] == 0]
            near = gpts[np.hypot(gpts[:, 0] - b["center"][0], gpts[:, 1] - b["center"][1]) < 3]
            if len(near):
                assert abs((b["center"][2] - b["size"][2] / 2 + 0.05) - np.median(near[:, 2])) < 0.05
        # existing boxes never overlap the inserted ones
        bx = s.annotations["boxes3d"]
        for i in range(len(bx)):
            for j in range(i + 1, len(bx)):
                assert not G.bev_overlap(bx[i], bx[j])
    assert n_inserted >= 12


def test_insert_removes_points_hidden_behind_the_object():
    """A wall of points straight behind an inserted object loses exactly the part in its shadow."""
    # a flat ground disc plus a vertical wall at x = 20, and one object in the pool at x = 10
    gx, gy = np.meshgrid(np.linspace(2, 30, 60), np.linspace(-10, 10, 40))
    ground = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, -1.8)], axis=1)
    wy, wz = np.meshgrid(np.linspace(-4, 4, 161), np.linspace(-1.7, 1.0, 55))
    wall = np.stack([np.full(wy.size, 20.0), wy.ravel(), wz.ravel()], axis=1)
    pts = np.concatenate([ground, wall]).astype(np.float32)
    labels = np.concatenate([np.zeros(len(ground)), np.full(len(wall), 2)]).astype(np.int32)
    inst = np.concatenate([np.full(len(ground), -1), np.zeros(len(wall))]).astype(np.int32)
    wall_box = {"category": "wall", "center": [20.0, 0.0, -0.35], "size": [0.2, 8.2, 2.8], "yaw": 0.0, "instance_id": 0,
                "num_points": len(wall)}
    scene = Sample("scene", pts, "wall", {"point_labels": labels, "instance_ids": inst, "boxes3d": [wall_box],
                                           "label_names": ["ground", "thing", "wall"]}, modality="points")
    oy, oz = np.meshgrid(np.linspace(-0.5, 0.5, 21), np.linspace(-1.75, -0.3, 30))
    obj = np.stack([np.full(oy.size, 10.0), oy.ravel(), oz.ravel()], axis=1).astype(np.float32)
    donor = Sample("donor", obj, "thing", {"point_labels": np.ones(len(obj), np.int32), "instance_ids": np.zeros(len(obj), np.int32),
                                           "boxes3d": [{"category": "thing", "center": [10.0, 0.0, -1.05], "size": [0.2, 1.1, 1.5],
                                                        "yaw": 0.0, "instance_id": 0, "num_points": len(obj)}],
                                           "label_names": ["ground", "thing"]}, modality="points")
    ds = Dataset([scene, donor], ["wall", "thing"], "hand-made", "kitti", "points", "detection")
    g = InsertGenerator(n_insert=1, rotate=False, clearance=0.1, angular_resolution=[0.5, 0.5]).fit(ds)
    # find a sample whose base scene is the wall scene
    s = next(x for x in g.generate("thing", 8, 0) if x.provenance.params["base_scene"] == "scene")
    assert_boxes_exact(s)
    p = s.data
    wall_left = p[s.annotations["point_labels"] == 2]
    assert 0 < len(wall_left) < len(wall)
    # the shadow of a 1.0 m wide object at 10 m on a wall at 20 m is about 2 m wide: the wall keeps
    # nothing directly behind the object's middle, and everything well outside the shadow
    behind = (np.abs(wall_left[:, 1]) < 0.6) & (wall_left[:, 2] < -0.7)
    assert not behind.any()
    assert (np.abs(wall_left[:, 1]) > 1.5).sum() == (np.abs(wall[:, 1]) > 1.5).sum()
    assert s.annotations["boxes3d"][0]["num_points"] == len(wall_left)


def test_insert_errors(scans):
    from synthgen.errors import DatasetError

    g = InsertGenerator(pool_min_points=10_000).fit(scans)
    with pytest.raises(InsufficientDataError, match="class 'cyclist'"):
        list(g.generate("cyclist", 1, 0))
    flat = Dataset([Sample("a", np.zeros((3, 3), np.float32), "x", modality="points")], ["x"], "flat", "npz", "points")
    with pytest.raises(DatasetError, match="sample a has no instance_ids"):
        InsertGenerator().fit(flat)


def test_insert_from_meshes(scans):
    g = InsertGenerator(meshes={"traffic_cone": {"primitive": "cone", "radius": 0.3, "height": 0.8}},
                        sensor=SMALL_SENSOR).fit(scans)
    out = list(g.generate("traffic_cone", 4, 0))
    assert sum(len(s.provenance.params["inserted"]) for s in out) >= 3
    for s in out:
        assert_boxes_exact(s)
        for o in s.provenance.params["inserted"]:
            assert o["mesh"]["primitive"] == "cone"


def test_box_helpers():
    box = {"center": [1.0, 2.0, 0.5], "size": [4.0, 2.0, 1.0], "yaw": math.pi / 2}
    pts = np.array([[1.0, 3.9, 0.5], [2.9, 2.0, 0.5], [1.0, 2.0, 1.1]])
    assert G.points_in_box(pts, box["center"], box["size"], box["yaw"]).tolist() == [True, False, False]
    assert G.bev_overlap(box, {"center": [1.0, 4.5, 0], "size": [1.0, 1.0, 1.0], "yaw": 0.0})
    assert not G.bev_overlap(box, {"center": [2.6, 2.0, 0], "size": [1.0, 1.0, 1.0], "yaw": 0.0})
    d = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    t = G.ray_box_entry(d, [0, 0, 0.5], [5.0, 0.0, 0.5], [2.0, 2.0, 2.0], 0.0)
    assert t[0] == pytest.approx(4.0) and np.isinf(t[1])


# --- geometry fitted to the real class (issue 12.1) ----------------------------------------------

def test_surface_covariance_is_exact_for_a_cube():
    from synthgen.generators.points import geometry as G

    v, t, _ = G.primitive_mesh("box", {"width": 1.0, "height": 1.0, "depth": 1.0}, np.random.default_rng(0), "k")
    mean, cov = G.surface_covariance(v, t)
    # two faces at +-1/2 (x^2 = 1/4), four faces with x uniform on [-1/2, 1/2] (1/12), area-weighted
    assert np.allclose(cov, np.eye(3) * (2 * 0.25 + 4 / 12) / 6, atol=1e-12)
    pts, _ = G.sample_uniform(v, t, 200_000, np.random.default_rng(1))
    assert np.allclose(np.cov(pts.T), cov, atol=2e-3) and np.allclose(pts.mean(0), mean, atol=3e-3)


def _boxes(ratios, n_each=2, seed=0):
    """Real box clouds with given proportions (longest side 1), from the generator itself with ranges."""
    samples = []
    for k, (h, d) in enumerate(ratios):
        g = MeshGenerator({"box": {"primitive": "box", "width": 1.0, "height": h, "depth": d}}, n_points=2048,
                          rotation="so3", scale=[1.0, 1.0], geometry="ranges").fit(_points_dataset(["box"]))
        for s in g.generate("box", n_each, seed + k):
            samples.append(Sample(f"real-{k}-{s.provenance.index}", s.data, "box", modality="points"))
    return Dataset(samples, ["box"], "boxes", "npz", "points", "classification")


def test_fitted_geometry_takes_each_samples_proportions_from_a_real_parent():
    from synthgen.generators.points.mesh import principal_spreads

    real = _boxes([(0.9, 0.3), (0.5, 0.45), (0.95, 0.9)])
    by_id = {s.id: s for s in real.samples}
    g = MeshGenerator({"box": {"primitive": "box", "width": [0.6, 1.4], "height": [0.6, 1.4], "depth": [0.6, 1.4]}},
                      n_points=2048, rotation="so3", geometry="auto", geometry_jitter=0.0).fit(real)
    made = list(g.generate("box", 12, 0))
    errs = []
    for s in made:
        (pid,) = s.provenance.parents  # each sample names the real cloud it took its proportions from
        sp_p, _ = principal_spreads(np.asarray(by_id[pid].data, np.float64))
        sp_s, _ = principal_spreads(np.asarray(s.data, np.float64))
        errs.append(np.abs(sp_s / sp_s[0] - sp_p / sp_p[0]))
        assert s.provenance.params["geometry"]["parent_ratios"] == pytest.approx((sp_p / sp_p[0]).tolist(), abs=1e-4)
    assert np.mean(errs) < 0.02 and np.max(errs) < 0.06  # sampling noise of two 2,048-point clouds
    again = list(MeshGenerator(g.shapes, n_points=2048, rotation="so3", geometry="auto", geometry_jitter=0.0).fit(real).generate("box", 12, 0))
    assert all(np.array_equal(a.data, b.data) and a.provenance.parents == b.provenance.parents for a, b in zip(made, again))
    ranges = list(MeshGenerator(g.shapes, n_points=2048, rotation="so3", geometry="ranges").fit(real).generate("box", 3, 0))
    assert all(s.provenance.parents == () and "geometry" not in s.provenance.params for s in ranges)


def test_fitted_geometry_without_usable_real_clouds():
    placeholders = _points_dataset(["torus"])  # one cloud of 4 identical points: no shape to fit
    auto = list(MeshGenerator(SHAPES, n_points=64, geometry="auto").fit(placeholders).generate("torus", 2, 0))
    assert all(s.provenance.parents == () for s in auto)  # auto falls back to the ranges
    with pytest.raises(InsufficientDataError, match="class 'torus': geometry: fitted needs real clouds"):
        list(MeshGenerator(SHAPES, n_points=64, geometry="fitted").fit(placeholders).generate("torus", 1, 0))
    with pytest.raises(ConfigError, match="generator.geometry: must be one of auto, ranges, fitted"):
        MeshGenerator(SHAPES, geometry="guess").fit(placeholders)
