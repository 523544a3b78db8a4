"""Point-cloud formats: round trips, open3d compatibility, KITTI conventions, determinism, bad input."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

# found, not imported: importing it at collection costs every test worker seconds
pytestmark = pytest.mark.skipif(importlib.util.find_spec("open3d") is None, reason="open3d is not installed")

from synthgen.errors import DatasetError  # noqa: E402
from synthgen.generators.points import LidarGenerator, MeshGenerator  # noqa: E402
from synthgen.generators.points import geometry as G  # noqa: E402
from synthgen.io import formats  # noqa: E402
from synthgen.io.kitti import box_from_kitti, box_to_kitti, read_kitti, write_kitti  # noqa: E402
from synthgen.io.npz import read_npz, write_npz  # noqa: E402
from synthgen.io.ply import read_pcd, read_ply, write_pcd, write_ply  # noqa: E402

SENSOR = {"beams": 16, "azimuth_resolution": 1.0, "range_noise": 0.02}


@pytest.fixture(scope="module")
def scenes():
    g = LidarGenerator(sensor=SENSOR, n_objects=[2, 5])
    return list(g.generate("cyclist", 3, 0)) + list(g.generate("car", 2, 0))


@pytest.fixture(scope="module")
def clouds():
    g = MeshGenerator({"torus": {"primitive": "torus"}, "cone": {"primitive": "cone"}}, n_points=300, normals=True).fit(None)
    return list(g.generate("torus", 3, 0)) + list(g.generate("cone", 2, 0))


def _tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _same_annotations(a, b, keys=("point_labels", "instance_ids")):
    for k in keys:
        assert np.array_equal(np.asarray(a.annotations[k]), np.asarray(b.annotations[k])), k
    ba, bb = a.annotations["boxes3d"], b.annotations["boxes3d"]
    assert len(ba) == len(bb)
    for x, y in zip(ba, bb):
        assert x["category"] == y["category"] and x["instance_id"] == y["instance_id"] and x["num_points"] == y["num_points"]
        assert np.allclose(x["center"], y["center"], atol=1e-5) and np.allclose(x["size"], y["size"], atol=1e-5)
        assert math.isclose(math.cos(x["yaw"] - y["yaw"]), 1.0, abs_tol=1e-9)


@pytest.mark.parametrize("fmt", ["ply", "pcd"])
def test_ply_pcd_round_trip_and_open3d(tmp_path, scenes, fmt):
    import open3d as o3d

    write, read = (write_ply, read_ply) if fmt == "ply" else (write_pcd, read_pcd)
    out = write(scenes, ["car", "cyclist"], str(tmp_path / "ds"))
    ds = read(str(out))
    assert formats.detect(out).name == fmt
    assert ds.modality == "points" and len(ds) == len(scenes)
    by_id = {s.id: s for s in ds.samples}
    for s in scenes:
        r = by_id[s.id]
        assert r.label == s.label and r.provenance.to_dict() == s.provenance.to_dict()
        assert np.array_equal(r.data, s.data)
        assert np.array_equal(r.annotations["intensity"], s.annotations["intensity"])
        _same_annotations(s, r)
        assert r.annotations["label_names"] == s.annotations["label_names"]
    # the files open in open3d with their label fields
    f = sorted(out.glob(f"cyclist/*.{fmt}"))[0]
    pc = o3d.t.io.read_point_cloud(str(f))
    s = by_id[json.loads((out / "manifest.jsonl").read_text().splitlines()[0])["id"]]
    assert pc.point.label.dtype == o3d.core.int32 and pc.point.instance.dtype == o3d.core.int32
    raw = next(x for x in scenes if x.id == s.id)
    assert np.array_equal(pc.point.label.numpy().ravel(), raw.annotations["point_labels"])
    assert np.array_equal(pc.point.instance.numpy().ravel(), raw.annotations["instance_ids"])
    # the manifest carries a summary, not the per-point arrays
    rec = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert "point_labels" not in rec["annotations"] and rec["annotations"]["num_points"] == len(raw.data)
    assert rec["annotations"]["point_fields"] == ["point_labels", "instance_ids", "intensity"]
    assert sum(rec["annotations"]["point_label_counts"].values()) == len(raw.data)


def test_ply_keeps_normals_and_reads_foreign_files(tmp_path, clouds):
    import open3d as o3d

    out = write_ply(clouds, ["torus", "cone"], str(tmp_path / "c"))
    ds = read_ply(str(out))
    for a, b in zip(clouds, sorted(ds.samples, key=lambda s: [c.id for c in clouds].index(s.id))):
        assert np.array_equal(a.annotations["normals"], b.annotations["normals"])
    # a PLY written by open3d alone (no manifest): class from the folder, labels kept
    foreign = tmp_path / "foreign" / "thing"
    foreign.mkdir(parents=True)
    pc = o3d.t.geometry.PointCloud()
    pc.point.positions = o3d.core.Tensor(np.random.default_rng(0).random((10, 3), dtype=np.float32))
    pc.point.label = o3d.core.Tensor(np.arange(10, dtype=np.int32).reshape(-1, 1))
    o3d.t.io.write_point_cloud(str(foreign / "a.ply"), pc)
    ds = read_ply(str(tmp_path / "foreign"))
    assert ds.samples[0].label == "thing" and ds.samples[0].annotations["point_labels"].tolist() == list(range(10))


def test_kitti_round_trip_and_layout(tmp_path, scenes):
    import open3d as o3d

    out = write_kitti(scenes, ["car", "cyclist"], str(tmp_path / "k"))
    assert formats.detect(out).name == "kitti"
    for d in ("velodyne", "label_2", "calib", "labels"):
        assert len(list((out / d).iterdir())) == len(scenes)
    ds = read_kitti(str(out))
    assert ds.task == "detection"
    for s, r in zip(scenes, ds.samples):
        assert r.id == s.id and r.label == s.label
        assert np.array_equal(r.data, s.data) and np.array_equal(r.annotations["intensity"], s.annotations["intensity"])
        _same_annotations(s, r)
        for b in r.annotations["boxes3d"]:  # boxes read back from label_2 still hold exactly their points
            inside = G.points_in_box(r.data, b["center"], b["size"], b["yaw"])
            assert np.array_equal(inside, r.annotations["instance_ids"] == b["instance_id"])
    # velodyne .bin opens in open3d with labels from labels/*.label (SemanticKITTI encoding)
    a = np.fromfile(out / "velodyne" / "000000.bin", dtype=np.float32).reshape(-1, 4)
    enc = np.fromfile(out / "labels" / "000000.label", dtype=np.uint32)
    pc = o3d.t.geometry.PointCloud(o3d.core.Tensor(a[:, :3]))
    pc.point.label = o3d.core.Tensor((enc & 0xFFFF).astype(np.int32).reshape(-1, 1))
    assert pc.point.positions.shape[0] == len(scenes[0].data)
    assert np.array_equal(pc.point.label.numpy().ravel(), scenes[0].annotations["point_labels"])
    assert np.array_equal((enc >> 16).astype(np.int64) - 1, scenes[0].annotations["instance_ids"])


def test_kitti_box_conventions():
    # a car 10 m ahead (lidar x), 2 m to the left (lidar y), heading along lidar +x, standing on z = -1.7
    box = {"center": [10.0, 2.0, -1.7 + 0.75], "size": [4.0, 1.8, 1.5], "yaw": 0.0, "category": "Car"}
    h, w, l, x, y, z, ry = box_to_kitti(box)
    assert (h, w, l) == (1.5, 1.8, 4.0)
    assert (x, y, z) == pytest.approx((-2.0, 1.7, 10.0))  # bottom centre in camera frame (x right, y down, z forward)
    assert ry == pytest.approx(-math.pi / 2)  # heading along camera z
    back = box_from_kitti(h, w, l, x, y, z, ry)
    assert np.allclose(back["center"], box["center"]) and back["yaw"] == pytest.approx(0.0)
    for yaw in np.linspace(-3, 3, 7):
        b = box_from_kitti(*box_to_kitti({**box, "yaw": float(yaw)}))
        assert math.cos(b["yaw"] - yaw) == pytest.approx(1.0)


def test_kitti_reads_real_style_folders_without_manifest(tmp_path):
    root = tmp_path / "kitti"
    (root / "velodyne").mkdir(parents=True)
    (root / "label_2").mkdir()
    pts = np.array([[10, 2, -1.0, 0.5], [10.5, 2.2, -0.5, 0.1], [30, 0, -1.7, 0.2]], dtype=np.float32)
    pts.tofile(root / "velodyne" / "000007.bin")
    (root / "label_2" / "000007.txt").write_text(
        "Car 0.00 0 -1.57 0 0 0 0 1.50 1.80 4.00 -2.00 1.70 10.00 -1.5708\nDontCare -1 -1 -10 0 0 0 0 -1 -1 -1 -1000 -1000 -1000 -10\n")
    ds = read_kitti(str(root))
    s = ds.samples[0]
    assert s.id == "000007" and s.label == "Car"
    assert s.annotations["instance_ids"].tolist() == [0, 0, -1]
    assert s.annotations["boxes3d"][0]["num_points"] == 2


def test_npz_round_trip_fixed_counts_and_determinism(tmp_path, clouds):
    a = write_npz(clouds, ["torus", "cone"], str(tmp_path / "a"))
    b = write_npz(clouds, ["torus", "cone"], str(tmp_path / "b"))
    assert _tree_digest(a) == _tree_digest(b)
    z = np.load(a / "points.npz")
    assert z["points"].shape == (5, 300, 3) and z["points"].dtype == np.float32
    assert [str(c) for c in z["classes"]] == ["torus", "cone"] and z["labels"].tolist() == [0, 0, 0, 1, 1]
    ds = read_npz(str(a))
    assert formats.detect(a).name == "npz" and ds.task == "classification"
    for s, r in zip(clouds, ds.samples):
        assert r.id == s.id and r.label == s.label and np.array_equal(r.data, s.data)
        assert np.array_equal(r.annotations["normals"], s.annotations["normals"])
        assert r.provenance.to_dict() == s.provenance.to_dict()
    # different point counts: an error naming the sample, or resampling when asked
    odd = clouds[:2] + [type(clouds[2])(clouds[2].id, clouds[2].data[:100], clouds[2].label, {}, clouds[2].provenance, "points")]
    with pytest.raises(DatasetError, match=f"sample {clouds[2].id}: 100 points"):
        write_npz(odd, ["torus"], str(tmp_path / "odd"))
    assert not (tmp_path / "odd").exists()
    out = write_npz(odd, ["torus"], str(tmp_path / "fixed"), n_points=128)
    assert np.load(out / "points.npz")["points"].shape == (3, 128, 3)


def test_same_seed_gives_byte_identical_files(tmp_path):
    g = LidarGenerator(sensor=SENSOR, n_objects=[2, 3])
    for fmt, write in (("ply", write_ply), ("pcd", write_pcd), ("kitti", write_kitti)):
        d1 = write(list(g.generate("car", 2, 4)), ["car"], str(tmp_path / f"{fmt}1"))
        d2 = write(list(LidarGenerator(sensor=SENSOR, n_objects=[2, 3]).generate("car", 2, 4)), ["car"], str(tmp_path / f"{fmt}2"))
        assert _tree_digest(d1) == _tree_digest(d2), fmt


def test_bad_input_is_one_error_naming_the_file(tmp_path):
    root = tmp_path / "k"
    (root / "velodyne").mkdir(parents=True)
    (root / "velodyne" / "000000.bin").write_bytes(b"\0" * 10)
    with pytest.raises(DatasetError, match="000000.bin: size 10 is not a multiple of 16"):
        read_kitti(str(root))
    (root / "velodyne" / "000000.bin").write_bytes(b"\0" * 16)
    (root / "label_2").mkdir()
    (root / "label_2" / "000000.txt").write_text("Car 0 0 0\n")
    with pytest.raises(DatasetError, match=r"000000.txt:1: expected 15 columns"):
        read_kitti(str(root))
    with pytest.raises(DatasetError, match="no .ply files"):
        read_ply(str(tmp_path))
    bad = tmp_path / "npz"
    bad.mkdir()
    (bad / "points.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="points.npz: not a readable npz"):
        read_npz(str(bad))


def test_cgal_reader_reads_the_debian_archive():
    from synthgen.io.cgal import ARCHIVE, read_cgal

    if not Path(ARCHIVE).exists():
        pytest.skip("Debian package libcgal-demo is not installed")
    ds = read_cgal(classes={"sphere": ["data/meshes/sphere.off", "data/points_3/sphere_20k.xyz"],
                            "box": ["data/meshes/cube.off"]}, n_points=512, samples_per_shape=2)
    assert ds.counts() == {"sphere": 4, "box": 2} and ds.modality == "points"
    for s in ds.samples:
        assert s.data.shape == (512, 3) and abs(np.linalg.norm(s.data, axis=1).max() - 1) < 1e-5
    # a cube's points lie on its faces; the reader turns clouds about z only, so the top and bottom
    # faces stay horizontal and hold about 2/6 of the points
    cube = next(s for s in ds.samples if s.label == "box").data.astype(np.float64)
    z = cube[:, 2]
    on_top_or_bottom = np.isclose(z, z.max(), atol=1e-4) | np.isclose(z, z.min(), atol=1e-4)
    assert 0.25 < on_top_or_bottom.mean() < 0.42
    again = read_cgal(classes={"box": ["data/meshes/cube.off"]}, n_points=512, samples_per_shape=2)
    assert np.array_equal(again.samples[0].data, cube.astype(np.float32))
    with pytest.raises(DatasetError, match="has no member 'data/meshes/nope.off'"):
        read_cgal(classes={"x": ["data/meshes/nope.off"]})
