"""KITTI output against the object devkit's conventions (readme.txt of devkit_object).

* label_2: 15 space-separated columns ``type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry``;
  ``type`` one of Car, Van, Truck, Pedestrian, Person_sitting, Cyclist, Tram, Misc, DontCare (OpenPCDet
  and mmdetection3d select objects by these exact names).
* The 2D box: the devkit's ``computeBox3D`` corners (``x`` along the length, ``y`` from 0 to ``-h``, ``z``
  along the width, rotated by ``ry`` about y, shifted by the bottom centre) projected with ``P2`` from the
  calib file (``projectToImage``: ``P2 @ [X; 1]``, divided by the third row), clipped to the image as
  KITTI's own boxes are (0 .. width - 1, 0 .. height - 1).  A hand computation with a simple camera
  checks the numbers, and an independent implementation reading the files checks KITTI's own calibration.
"""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

# found, not imported: importing it at collection costs every test worker seconds
pytestmark = pytest.mark.skipif(importlib.util.find_spec("open3d") is None, reason="open3d is not installed")

from synthgen.errors import ConfigError  # noqa: E402
from synthgen.generators.points import LidarGenerator  # noqa: E402
from synthgen.io.kitti import KITTI_CAMERA, KITTI_TYPES, read_kitti, write_kitti  # noqa: E402

SENSOR = {"beams": 16, "azimuth_resolution": 1.0, "range_noise": 0.02}
# a camera whose numbers a person can follow: focal 700 px, principal point (600, 180), at the LiDAR
# origin looking along LiDAR +x (R0_rect = I and the axis change are the defaults)
SIMPLE = {"P2": [700, 0, 600, 0, 0, 700, 180, 0, 0, 0, 1, 0], "image_size": [1200, 360]}


@pytest.fixture(scope="module")
def scenes():
    g = LidarGenerator(sensor=SENSOR, n_objects=[3, 6])
    return list(g.generate("cyclist", 3, 0)) + list(g.generate("car", 2, 0)) + list(g.generate("traffic_cone", 1, 0))


def _lines(root, name="000000"):
    return [line.split() for line in (root / "label_2" / f"{name}.txt").read_text().splitlines()]


def _calib(root, name="000000"):
    vals = {}
    for line in (root / "calib" / f"{name}.txt").read_text().splitlines():
        k, v = line.split(":", 1)
        vals[k] = np.array([float(x) for x in v.split()])
    return vals["P2"].reshape(3, 4), vals["R0_rect"].reshape(3, 3), vals["Tr_velo_to_cam"].reshape(3, 4)


def _devkit_box(cols, P2, width, height):
    """computeBox3D + projectToImage (devkit_object/matlab), then clipped to the image."""
    h, w, l, x, y, z, ry = (float(v) for v in cols[8:15])
    R = np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0], [-math.sin(ry), 0, math.cos(ry)]])
    corners = R @ np.array([[l / 2, l / 2, -l / 2, -l / 2, l / 2, l / 2, -l / 2, -l / 2],
                            [0, 0, 0, 0, -h, -h, -h, -h],
                            [w / 2, -w / 2, -w / 2, w / 2, w / 2, -w / 2, -w / 2, w / 2]]) + np.array([[x], [y], [z]])
    if (corners[2] < 0.1).any():  # the devkit draws only boxes wholly in front of the camera
        return None
    p = P2 @ np.vstack([corners, np.ones(8)])
    u, v = p[0] / p[2], p[1] / p[2]
    return [max(u.min(), 0), max(v.min(), 0), min(u.max(), width - 1), min(v.max(), height - 1)]


def _difficulty(cols) -> int:
    """KITTI's difficulty level as OpenPCDet computes it (object3d_kitti.get_kitti_obj_level): 0 easy,
    1 moderate, 2 hard, -1 unknown (kept out of its ground-truth database by filter_by_difficulty)."""
    height, trunc, occ = float(cols[7]) - float(cols[5]) + 1, float(cols[1]), float(cols[2])
    for level, (min_h, max_t, max_o) in enumerate(((40, 0.15, 0), (25, 0.3, 1), (25, 0.5, 2))):
        if height >= min_h and trunc <= max_t and occ <= max_o:
            return level
    return -1


def test_label_2_has_kitti_types_and_15_columns(scenes, tmp_path, capsys):
    out = write_kitti(scenes, ["car", "cyclist", "traffic_cone"], str(tmp_path / "k"))
    seen = set()
    for f in sorted((out / "label_2").iterdir()):
        for cols in (line.split() for line in f.read_text().splitlines()):
            assert len(cols) == 15 and cols[0] in KITTI_TYPES
            assert 0 <= float(cols[1]) <= 1 and cols[2] == "0" and all(math.isfinite(float(v)) for v in cols[3:])
            seen.add(cols[0])
    assert {"Car", "Cyclist"} <= seen and "Misc" in seen  # traffic_cone has no KITTI type
    cats = {b["category"] for s in scenes for b in s.annotations["boxes3d"]}
    for s, k in zip(scenes, sorted((out / "label_2").iterdir())):
        types = [line.split()[0] for line in k.read_text().splitlines()]
        assert types == [{"car": "Car", "cyclist": "Cyclist", "pedestrian": "Pedestrian"}.get(b["category"], "Misc")
                         for b in s.annotations["boxes3d"]]
    # no camera: KITTI's unknown 2D box, said in the log; unmapped classes: one warning naming them
    for f in (out / "label_2").iterdir():
        assert all(line.split()[4:8] == ["-1.00"] * 4 for line in f.read_text().splitlines())
        assert all(_difficulty(line.split()) == -1 for line in f.read_text().splitlines())  # as documented
    unmapped = sorted(cats - {"car", "cyclist", "pedestrian"})
    camera, types = capsys.readouterr().err.splitlines()  # two warnings, one line each
    assert camera.startswith("synthgen: warning: KITTI: ") and types.startswith("synthgen: warning: KITTI: ")
    assert "no camera" in camera and "2D evaluation and KITTI's difficulty levels are off" in camera
    assert f"no KITTI type for {', '.join(unmapped)}: written as Misc" in types


def test_class_map_from_config(scenes, tmp_path, capsys):
    out = write_kitti(scenes, [], str(tmp_path / "k"), camera=SIMPLE, types={
        "cyclist": "Person_sitting", "traffic_cone": "DontCare", "car": "Van", "pedestrian": "Pedestrian"})
    assert capsys.readouterr().err == ""  # every class mapped, and a camera
    types = {line.split()[0] for f in (out / "label_2").iterdir() for line in f.read_text().splitlines()}
    assert types <= {"Person_sitting", "DontCare", "Van", "Pedestrian"} and "Person_sitting" in types
    back = read_kitti(str(out))  # DontCare lines with a 3D box (ours) are objects, and the manifest's names come back
    for s, r in zip(scenes, back.samples):
        assert [b["category"] for b in r.annotations["boxes3d"]] == [b["category"] for b in s.annotations["boxes3d"]]
    with pytest.raises(ConfigError, match=r"output.kitti.types.bus: must be one of Car, .*DontCare, got 'truck'"):
        write_kitti(scenes, [], str(tmp_path / "bad"), types={"bus": "truck"})
    assert not (tmp_path / "bad").exists()


def test_projection_by_hand(tmp_path):
    """A 4 x 2 x 2 m box 20 m ahead: corners at x in [-1, 1], y in [-2, 0], z in [18, 22] (camera frame);
    u = 600 + 700 x / z and v = 180 + 700 y / z, extremes at z = 18."""
    from synthgen.sample import Sample

    pts = np.array([[20.0, 0.0, 1.0], [19.0, 0.5, 0.5]], np.float32)
    box = {"category": "car", "center": [20.0, 0.0, 1.0], "size": [4.0, 2.0, 2.0], "yaw": 0.0, "instance_id": 0, "num_points": 2}
    s = Sample("s", pts, "car", {"boxes3d": [box], "instance_ids": np.array([0, 0]), "point_labels": np.array([1, 1]),
                                 "label_names": ["unlabeled", "car"]}, modality="points")
    out = write_kitti([s], ["car"], str(tmp_path / "k"), camera=SIMPLE)
    (cols,) = _lines(out)
    assert cols[0] == "Car" and cols[1:3] == ["0.00", "0"]
    x1, y1, x2, y2 = (float(v) for v in cols[4:8])
    assert (x1, y1, x2, y2) == pytest.approx((600 - 700 / 18, 180 - 1400 / 18, 600 + 700 / 18, 180.0), abs=0.005)
    assert [float(v) for v in cols[8:15]] == pytest.approx([2, 2, 4, 0, 0, 20, -math.pi / 2], abs=1e-6)
    assert float(cols[3]) == pytest.approx(-math.pi / 2)  # alpha = ry - atan2(x, z), x = 0
    # 16.43 m to the left (x in [-17.43, -15.43]): u from 600 - 700 * 17.43 / 18 (< 0) to
    # 600 - 700 * 15.43 / 22; clipped at 0, and truncated is the share of the width cut off
    c = 600 / 700 * 18 + 1.0
    s.annotations["boxes3d"][0] = {**box, "center": [20.0, c, 1.0]}
    (cols,) = _lines(write_kitti([s], ["car"], str(tmp_path / "left"), camera=SIMPLE))
    u0, u1 = 600 - 700 * (c + 1) / 18, 600 - 700 * (c - 1) / 22
    assert [float(v) for v in cols[4:8]] == pytest.approx([0.0, 180 - 1400 / 18, u1, 180.0], abs=0.005)
    assert float(cols[1]) == pytest.approx(1 - u1 / (u1 - u0), abs=0.005)
    # behind the camera: not in the image, unknown box, truncated 1
    s.annotations["boxes3d"][0] = {**box, "center": [-10.0, 0.0, 1.0]}
    (cols,) = _lines(write_kitti([s], ["car"], str(tmp_path / "behind"), camera=SIMPLE))
    assert cols[1] == "1.00" and cols[4:8] == ["-1.00"] * 4


def test_kitti_camera_matches_the_devkit_projection(scenes, tmp_path):
    """With KITTI's own calibration, every 2D box equals the devkit's projection of the written label
    through the written calib file; objects outside the image get the unknown box and truncated 1."""
    out = write_kitti(scenes, ["car", "cyclist"], str(tmp_path / "k"), camera="kitti")
    W, H = KITTI_CAMERA["image_size"]
    n_in = n_out = 0
    for f in sorted((out / "label_2").iterdir()):
        P2, R0, Tr = _calib(out, f.stem)
        assert np.allclose(P2.ravel(), KITTI_CAMERA["P2"]) and np.allclose(R0.ravel(), KITTI_CAMERA["R0_rect"])
        assert np.allclose(Tr.ravel(), KITTI_CAMERA["Tr_velo_to_cam"])
        for cols in _lines(out, f.stem):
            got = [float(v) for v in cols[4:8]]
            ref = _devkit_box(cols, P2, W, H)
            if ref is not None and ref[2] > ref[0] and ref[3] > ref[1]:
                assert got == pytest.approx(ref, abs=0.006), cols
                assert 0 <= float(cols[1]) < 1
                n_in += 1
            elif got == [-1.0] * 4:
                assert cols[1] == "1.00"
                n_out += 1
            else:  # partly behind the camera: cut at the near plane, still a box inside the image
                assert 0 <= got[0] < got[2] <= W - 1 and 0 <= got[1] < got[3] <= H - 1
    assert n_in >= 3 and n_out >= 3
    # with the camera, objects in view get KITTI's difficulty levels again
    levels = [_difficulty(c) for f in (out / "label_2").iterdir() for c in _lines(out, f.stem)]
    assert sum(v >= 0 for v in levels) >= 2 and -1 in levels


def test_round_trip_through_our_reader(scenes, tmp_path):
    for camera in (None, "kitti", SIMPLE):
        out = write_kitti(scenes, ["car", "cyclist"], str(tmp_path / f"k-{camera if isinstance(camera, str) else id(camera)}"),
                          camera=camera)
        back = read_kitti(str(out))
        assert [s.id for s in back.samples] == [s.id for s in scenes] and [s.label for s in back.samples] == [s.label for s in scenes]
        for s, r in zip(scenes, back.samples):
            assert np.array_equal(s.data, r.data)
            for a, b in zip(s.annotations["boxes3d"], r.annotations["boxes3d"]):
                assert a["category"] == b["category"] and a["instance_id"] == b["instance_id"]
                assert np.allclose(a["center"], b["center"], atol=2e-5) and np.allclose(a["size"], b["size"], atol=2e-6)
                assert math.cos(a["yaw"] - b["yaw"]) == pytest.approx(1.0, abs=1e-10)
        # without the manifest (as another tool's folder): the KITTI types are the classes
        (out / "manifest.jsonl").unlink()
        bare = read_kitti(str(out))
        types = {b["category"] for s in bare.samples for b in s.annotations["boxes3d"]}
        assert types <= set(KITTI_TYPES) and {"Car", "Cyclist"} <= types


def test_bad_cameras_are_one_line_errors(scenes, tmp_path):
    from synthgen.generate import writer_options

    for camera, message in ((("kity"), "must be null, kitti or a mapping"),
                            ({"P2": [1.0] * 11, "image_size": [10, 10]}, "output.kitti.camera.P2: must be 12 finite numbers"),
                            ({"P2": [1.0] * 12}, "output.kitti.camera.image_size: missing"),
                            ({"P2": [1.0] * 12, "image_size": [10, 0]}, "image_size: must be .width, height."),
                            ({"P2": [1.0] * 12, "image_size": [10, 10], "K": 1}, "camera.K: unknown key")):
        with pytest.raises(ConfigError, match=message):
            write_kitti(scenes[:1], ["car"], str(tmp_path / "x"), camera=camera)
    with pytest.raises(ConfigError, match=r"output.kitti.cam: unknown key \(allowed: types, camera\)"):
        writer_options("kitti", {"kitti": {"cam": "kitti"}})
    assert writer_options("coco", {"kitti": {"camera": "kitti"}}) == {}
    assert writer_options("kitti", {"kitti": {"types": {}, "camera": None}}) == {"types": {}}
