"""Hostile inputs that readers once mishandled: each is now one DatasetError line naming the file
(and the line, annotation or sample where it helps), with nothing printed besides.

Every case starts from a small valid dataset written by synthgen's own writers (tests/reader_datasets.py)
and breaks one thing.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from synthgen.errors import DatasetError
from synthgen.io import formats
from synthgen.io.common import encode_png
from synthgen.io.ply import read_ply

from .reader_datasets import build, point_samples, read

COMPRESSED_RLE = "W15700000000000U2"  # pycocotools' encoding of the 12x16 mask with rows 3:8, columns 3:10 set
CASES = {}


def case(fn):
    """Register ``fn(tmp_path, monkeypatch) -> (read, file named, phrase)`` as a hostile case."""
    CASES[fn.__name__] = fn
    return fn


def _edit_json(path: Path, change) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def _edit_lines(path: Path, n: int, change) -> None:
    """Apply ``change`` to the object on line ``n`` (1-based) of a JSONL file."""
    lines = path.read_text().splitlines()
    obj = json.loads(lines[n - 1])
    change(obj)
    lines[n - 1] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")


def _ply_folder(tmp: Path, header: str, body: str) -> tuple[Path, Path]:
    f = tmp / "plys" / "a" / "x.ply"
    f.parent.mkdir(parents=True)
    f.write_text("ply\nformat ascii 1.0\n" + header + "end_header\n" + body)
    return tmp / "plys", f


def _written_with(tmp: Path, fmt: str, value: float) -> tuple[Path, Path]:
    """A ``fmt`` point dataset written by synthgen whose first cloud has ``value`` as one coordinate."""
    samples = point_samples()
    samples[0].data[5, 1] = value
    root = formats.get(fmt).write(samples, ["car", "cyclist"], str(tmp / "ds"))
    return root, root / "car" / f"p0.{fmt}"


# --- PLY / PCD ------------------------------------------------------------------------------------

@case
def ply_truncated(tmp, mp):
    root = build("ply", tmp / "ds")
    f = root / "car" / "p0.ply"
    f.write_bytes(f.read_bytes()[:-100])
    return lambda: read_ply(str(root)), f, "bytes of data follow (truncated or corrupt)"


@case
def ply_claims_20_million_vertices(tmp, mp):
    root = build("ply", tmp / "ds")
    f = root / "car" / "p0.ply"
    f.write_bytes(f.read_bytes().replace(b"element vertex 40\n", b"element vertex 20000000\n"))
    return lambda: read_ply(str(root)), f, "header declares 20000000 vertices"


@case
def ply_only_an_x_property(tmp, mp):
    root, f = _ply_folder(tmp, "element vertex 3\nproperty float x\n", "1\n2\n3\n")
    return lambda: read_ply(str(root)), f, "vertex element has no y, z property"


@case
def ply_nan_coordinate(tmp, mp):
    root, f = _written_with(tmp, "ply", np.nan)
    return lambda: read_ply(str(root)), f, "1 of 40 points have NaN or infinite coordinates"


@case
def ply_inf_coordinate(tmp, mp):
    root, f = _ply_folder(tmp, "", "")
    header = b"ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    f.write_bytes(header + np.array([[1, 2, 3], [4, np.inf, 6]], "<f4").tobytes())
    return lambda: read_ply(str(root)), f, "1 of 2 points have NaN or infinite coordinates"


@case
def ply_ascii_nan_coordinate(tmp, mp):
    root, f = _ply_folder(tmp, "element vertex 2\nproperty float x\nproperty float y\nproperty float z\n", "1 2 3\n1 nan 2\n")
    return lambda: read_ply(str(root)), f, "1 of 2 points have NaN or infinite coordinates"


@case
def ply_ascii_fewer_lines_than_vertices(tmp, mp):
    root, f = _ply_folder(tmp, "element vertex 5\nproperty float x\nproperty float y\nproperty float z\n", "1 2 3\n4 5 6\n7 8 9\n")
    return lambda: read_ply(str(root)), f, "header declares 5 vertices (5 lines) but only 3 data lines follow"


@case
def ply_rply_read_error(tmp, mp):
    root, f = _ply_folder(tmp, "element vertex 2\nproperty float x\nproperty float y\nproperty float z\n", "1 2 3\nabc 5 6\n")
    return lambda: read_ply(str(root)), f, "open3d could not read it (RPly: Error reading 'x' of 'vertex' number 1)"


@case
def ply_binary_garbage(tmp, mp):
    root, f = _ply_folder(tmp, "", "")
    f.write_bytes(bytes(range(256)) * 4)
    return lambda: read_ply(str(root)), f, "header line 3 is not ASCII text"


@case
def ply_header_cut_short(tmp, mp):
    root, f = _ply_folder(tmp, "", "")
    f.write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n")
    return lambda: read_ply(str(root)), f, "no 'end_header' line"


@case
def pcd_truncated(tmp, mp):
    root = build("pcd", tmp / "ds")
    f = root / "car" / "p0.pcd"
    f.write_bytes(f.read_bytes()[:-100])
    return lambda: read("pcd", root), f, "bytes of data follow (truncated or corrupt)"


@case
def pcd_claims_20_million_points(tmp, mp):
    root = build("pcd", tmp / "ds")
    f = root / "car" / "p0.pcd"
    f.write_bytes(f.read_bytes().replace(b"WIDTH 40\n", b"WIDTH 20000000\n").replace(b"POINTS 40\n", b"POINTS 20000000\n"))
    return lambda: read("pcd", root), f, "header declares 20000000 points"


@case
def pcd_without_z(tmp, mp):
    f = tmp / "pcds" / "a" / "x.pcd"
    f.parent.mkdir(parents=True)
    f.write_text("VERSION 0.7\nFIELDS x y\nSIZE 4 4\nTYPE F F\nCOUNT 1 1\nWIDTH 2\nHEIGHT 1\nPOINTS 2\nDATA ascii\n1 2\n3 4\n")
    return lambda: read("pcd", tmp / "pcds"), f, "PCD FIELDS has no z"


@case
def pcd_nan_coordinate(tmp, mp):
    root, f = _written_with(tmp, "pcd", np.nan)
    return lambda: read("pcd", root), f, "1 of 40 points have NaN or infinite coordinates"


# --- KITTI ----------------------------------------------------------------------------------------

@case
def kitti_nan_in_scan(tmp, mp):
    root = build("kitti", tmp / "ds")
    f = root / "velodyne" / "000001.bin"
    raw = bytearray(f.read_bytes())
    raw[16 * 3 + 4:16 * 3 + 8] = struct.pack("<f", float("nan"))
    f.write_bytes(bytes(raw))
    return lambda: read("kitti", root), f, "1 of 40 points have NaN or infinite coordinates (first: point 3)"


@case
def kitti_scan_without_points(tmp, mp):
    root = build("kitti", tmp / "ds")
    f = root / "velodyne" / "000000.bin"
    f.write_bytes(b"")
    return lambda: read("kitti", root), f, "empty scan (0 points)"


@case
def kitti_singular_calibration(tmp, mp):
    root = build("kitti", tmp / "ds")
    f = root / "calib" / "000002.txt"
    f.write_text("\n".join(line if not line.startswith("Tr_velo_to_cam") else "Tr_velo_to_cam: " + " ".join(["0"] * 12)
                           for line in f.read_text().splitlines()) + "\n")
    return lambda: read("kitti", root), f, "is singular"


@case
def kitti_nan_in_box(tmp, mp):
    root = build("kitti", tmp / "ds")
    f = root / "label_2" / "000000.txt"
    cols = f.read_text().split()
    cols[11] = "nan"
    f.write_text(" ".join(cols) + "\n")
    return lambda: read("kitti", root), f"{f}:1", "NaN or inf in the 3D box columns"


# --- JSONL and COCO ---------------------------------------------------------------------------------

@case
def jsonl_lone_surrogate(tmp, mp):
    f = tmp / "s.jsonl"
    f.write_text('{"text": "fine", "label": "a"}\n{"text": "caf\\ud800", "label": "a"}\n')
    return lambda: read("jsonl", f), f"{f}:2", "lone UTF-16 surrogate"


@case
def coco_duplicate_annotation_ids(tmp, mp):
    root = build("coco", tmp / "ds")
    f = root / "annotations.json"
    _edit_json(f, lambda c: c["annotations"][2].update(id=1))
    return lambda: read("coco", root), f, "annotation id 1 is used twice: annotations[0] (image 1) and annotations[2] (image 3)"


@case
def coco_compressed_rle_overrunning_the_image(tmp, mp):
    """pycocotools' C decoder would write past its buffer on this string; ours refuses it first."""
    from pycocotools import mask as coco_mask

    big = np.ones((40, 40), np.uint8)
    counts = coco_mask.encode(np.asfortranarray(big))["counts"].decode()  # 1,600 pixels, the image has 192
    root = build("coco", tmp / "ds")
    f = root / "annotations.json"
    _edit_json(f, lambda c: c["annotations"][1].update(segmentation={"size": [12, 16], "counts": counts}))
    return lambda: read("coco", root), f, "annotation 2: RLE counts must be non-negative and sum to 12x16 = 192 pixels, got 1600"


@case
def coco_rle_counts_do_not_fill_the_image(tmp, mp):
    root = build("coco", tmp / "ds")
    f = root / "annotations.json"
    _edit_json(f, lambda c: c["annotations"][1].update(segmentation={"size": [12, 16], "counts": [5, 3]}))
    return lambda: read("coco", root), f, "annotation 2: RLE counts must be non-negative and sum to 12x16 = 192 pixels, got 8"


@case
def coco_rle_larger_than_the_image(tmp, mp):
    root = build("coco", tmp / "ds")
    f = root / "annotations.json"
    _edit_json(f, lambda c: c["annotations"][0].update(segmentation={"size": [100000, 100000], "counts": [10 ** 10]}))
    return lambda: read("coco", root), f, "annotation 1: RLE size [100000, 100000] but image img0.png is 12x16"


@case
def coco_file_name_leaves_the_folder(tmp, mp):
    root = build("coco", tmp / "ds")
    (tmp / "secret.png").write_bytes(encode_png(np.zeros((12, 16, 3), np.uint8)))
    _edit_json(root / "annotations.json", lambda c: c["images"][0].update(file_name="../../secret.png"))
    return lambda: read("coco", root), root / "images" / "../../secret.png", "lies outside the dataset folder"


# --- empty labels, one per reader -----------------------------------------------------------------

@case
def jsonl_empty_label(tmp, mp):
    f = tmp / "e.jsonl"
    f.write_text('{"text": "fine", "label": "a"}\n{"id": "x2", "text": "b", "label": ""}\n')
    return lambda: read("jsonl", f), f"{f}:2: sample x2", "empty label"


@case
def jsonl_whitespace_label(tmp, mp):
    root = build("jsonl", tmp / "ds")
    _edit_lines(root / "data.jsonl", 3, lambda o: o.update(label="  \t"))
    return lambda: read("jsonl", root), f"{root / 'data.jsonl'}:3: sample t2", "empty label"


@case
def imagefolder_manifest_empty_label(tmp, mp):
    root = build("imagefolder", tmp / "ds")
    _edit_lines(root / "manifest.jsonl", 2, lambda o: o.update(label=""))
    return lambda: read("imagefolder", root), f"{root / 'manifest.jsonl'}:2: sample img1", "empty label"


@case
def imagefolder_blank_class_folder(tmp, mp):
    f = tmp / "if" / " " / "a.png"
    f.parent.mkdir(parents=True)
    f.write_bytes(encode_png(np.zeros((4, 4, 3), np.uint8)))
    return lambda: read("imagefolder", tmp / "if"), f, "empty label"


@case
def coco_blank_image_label(tmp, mp):
    root = build("coco", tmp / "ds")
    f = root / "annotations.json"
    _edit_json(f, lambda c: c["images"][1].update(label=" "))
    return lambda: read("coco", root), f"{f}: image 2 (img1.png)", "empty label"


@case
def coco_empty_category_name(tmp, mp):
    root = build("coco", tmp / "ds")
    f = root / "annotations.json"
    _edit_json(f, lambda c: c["categories"][0].update(name=""))
    return lambda: read("coco", root), f"{f}: category 1", "empty label"


@case
def yolo_empty_class_name(tmp, mp):
    root = build("yolo", tmp / "ds")
    f = root / "data.yaml"
    f.write_text(f.read_text().replace("  0: 'cat'", "  0: ''"))
    return lambda: read("yolo", root), f"{f}: names[0]", "empty label"


@case
def npz_empty_class_name(tmp, mp):
    f = tmp / "n" / "points.npz"
    f.parent.mkdir()
    np.savez(f, points=np.zeros((2, 5, 3), np.float32), labels=np.array([0, 1]), classes=np.array(["", "b"]))
    return lambda: read("npz", f.parent), f"{f}: classes[0]", "empty label"


@case
def ply_manifest_empty_label(tmp, mp):
    root = build("ply", tmp / "ds")
    _edit_lines(root / "manifest.jsonl", 1, lambda o: o.update(label=""))
    return lambda: read("ply", root), f"{root / 'manifest.jsonl'}:1: sample p0", "empty label"


@case
def kitti_manifest_blank_label(tmp, mp):
    root = build("kitti", tmp / "ds")
    _edit_lines(root / "manifest.jsonl", 3, lambda o: o.update(label=" "))
    return lambda: read("kitti", root), f"{root / 'manifest.jsonl'}:3: sample p2", "empty label"


@case
def labelstudio_empty_class(tmp, mp):
    f = build("labelstudio", tmp / "ds")
    _edit_json(f, lambda t: t[0]["predictions"][0]["result"][-1]["value"].update(choices=[""]))
    return lambda: read("labelstudio", f), f"{f}: task 0 (sample t0)", "empty label"


@case
def conll_tag_without_entity_type(tmp, mp):
    f = build("conll", tmp / "ds")
    f.write_text(f.read_text().replace("B-PERSON", "B-", 1))
    return lambda: read("conll", f), f"{f}:3: tag 'B-'", "empty label"


# --- symbolic links out of the dataset --------------------------------------------------------------

LINKED = {"imagefolder": "cat/img0.png", "coco": "images/img0.png", "yolo": "images/img0.png", "jsonl": "data.jsonl",
          "npz": "points.npz", "ply": "car/p0.ply", "pcd": "car/p0.pcd", "kitti": "velodyne/000000.bin"}


def _link_out(tmp: Path, fmt: str) -> tuple[Path, Path]:
    """A valid ``fmt`` dataset whose file ``LINKED[fmt]`` is a symbolic link to the same bytes outside it."""
    root = build(fmt, tmp / "ds")
    link = root / LINKED[fmt]
    outside = tmp / "elsewhere" / link.name
    outside.parent.mkdir()
    os.replace(link, outside)
    link.symlink_to(outside)
    return root, link


for _fmt in LINKED:
    def _case(tmp, mp, fmt=_fmt):
        root, link = _link_out(tmp, fmt)
        return lambda: read(fmt, root), link, f"symbolic link to {tmp / 'elsewhere'}"
    _case.__name__ = f"{_fmt}_symlink_out_of_the_dataset"
    case(_case)


@case
def imagefolder_class_folder_linked_out(tmp, mp):
    (tmp / "elsewhere").mkdir()
    (tmp / "elsewhere" / "a.png").write_bytes(encode_png(np.zeros((4, 4, 3), np.uint8)))
    (tmp / "if" / "cat").mkdir(parents=True)
    (tmp / "if" / "cat" / "b.png").write_bytes(encode_png(np.ones((4, 4, 3), np.uint8)))
    (tmp / "if" / "dog").symlink_to(tmp / "elsewhere")
    return lambda: read("imagefolder", tmp / "if"), tmp / "if" / "dog", "leads outside the dataset folder"


@case
def imagefolder_manifest_path_leaves_the_folder(tmp, mp):
    root = build("imagefolder", tmp / "ds")
    (tmp / "secret.png").write_bytes(encode_png(np.zeros((4, 4, 3), np.uint8)))
    _edit_lines(root / "manifest.jsonl", 1, lambda o: o.update(file="../secret.png"))
    return lambda: read("imagefolder", root), root / "../secret.png", "lies outside the dataset folder"


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_one_error_line_naming_the_file(tmp_path, monkeypatch, capfd, name):
    read_it, named, phrase = CASES[name](tmp_path, monkeypatch)
    with pytest.raises(DatasetError) as e:
        read_it()
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{named}:") and phrase in msg, msg
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""


@pytest.mark.parametrize("fmt", sorted(LINKED))
def test_follow_symlinks_reads_links_out_of_the_dataset(tmp_path, fmt):
    root, _ = _link_out(tmp_path, fmt)
    assert len(read(fmt, root, follow_symlinks=True)) == len(read(fmt, build(fmt, tmp_path / "plain")))


def test_symlinks_inside_the_dataset_are_read(tmp_path):
    root = build("ply", tmp_path / "ds")
    (root / "car" / "p0.ply").rename(root / "p0.ply")
    (root / "car" / "p0.ply").symlink_to(root / "p0.ply")
    assert len(read_ply(str(root))) == 3


def test_compressed_rle_decodes_as_pycocotools_encodes(tmp_path):
    """The reference: pycocotools' own encoder; our decoder gives back its masks exactly."""
    from pycocotools import mask as coco_mask

    from synthgen.io.common import rle_to_mask

    rng = np.random.default_rng(0)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        m = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        enc = coco_mask.encode(np.asfortranarray(m))
        assert np.array_equal(rle_to_mask({"size": enc["size"], "counts": enc["counts"].decode()}), m)
    root = build("coco", tmp_path / "ds")
    _edit_json(root / "annotations.json",
               lambda c: c["annotations"][1].update(segmentation={"size": [12, 16], "counts": COMPRESSED_RLE}))
    mask = read("coco", root).samples[1].annotations["objects"][0]["mask"]
    expected = np.zeros((12, 16), np.uint8)
    expected[3:8, 3:10] = 1
    assert mask.dtype == np.uint8 and np.array_equal(mask, expected)
