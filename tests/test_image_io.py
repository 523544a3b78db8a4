"""YOLO export (boxes and polygons), format registry, COCO round trip of copy-paste output."""
import numpy as np
import pytest
from scipy import ndimage

from synthgen.errors import DatasetError
from synthgen.generators.image import ImageCopyPaste, ImageProcedural
from synthgen.io import formats
from synthgen.io.coco import read_coco, write_coco
from synthgen.io.skimage_scenes import load_coins_detection
from synthgen.io.yolo import _fill, mask_to_polygon, read_yolo, write_yolo
from synthgen.validators.labels import image_problems


@pytest.fixture(scope="module")
def pasted():
    ds = load_coins_detection()
    g = ImageCopyPaste(objects_per_image=[2, 3], max_overlap=0.5, min_visibility=0.2).fit(ds)
    return ds, list(g.generate("large_coin", 6, 0))


def _parts(m):
    from scipy import ndimage

    return ndimage.label(np.asarray(m) > 0, structure=np.ones((3, 3)))[1]


def test_yolo_segments_round_trip_exactly(pasted, tmp_path):
    ds, out = pasted
    write_yolo(out, ds.classes, str(tmp_path / "y"), categories=ds.info["categories"])
    assert (tmp_path / "y" / "data.yaml").read_text().splitlines()[2:] == [  # no 'path': tests/test_yolo_reference.py
        "train: images", "val: images", "task: segment", "nc: 2", "names:", "  0: 'small_coin'", "  1: 'large_coin'"]
    back = read_yolo(str(tmp_path / "y"))
    assert back.task == "segmentation" and [s.id for s in back.samples] == sorted(s.id for s in out)
    by_id = {s.id: s for s in out}
    for b in back.samples:
        a = by_id[b.id]
        assert b.label == a.label and b.provenance == a.provenance and np.array_equal(a.data, b.data)
        assert [o["category"] for o in a.annotations["objects"]] == [o["category"] for o in b.annotations["objects"]]
        for oa, ob in zip(a.annotations["objects"], b.annotations["objects"]):
            # exact, pieces of an occluded object too (their zero-width bridges cover no pixel centre);
            # a hole in a mask is filled, as in any one-ring polygon
            assert np.array_equal(ndimage.binary_fill_holes(oa["mask"]), ob["mask"] > 0) and oa["bbox"] == ob["bbox"]
    assert formats.detect(tmp_path / "y").name == "yolo"


def test_yolo_boxes_are_normalised_cxcywh(pasted, tmp_path):
    ds, out = pasted
    write_yolo(out, ds.classes, str(tmp_path / "b"), segments=False)
    s = out[0]
    h, w = s.data.shape[:2]
    lines = (tmp_path / "b" / "labels" / f"{s.id}.txt").read_text().splitlines()
    assert len(lines) == len(s.annotations["objects"])
    for line, o in zip(lines, s.annotations["objects"]):
        c, cx, cy, bw, bh = line.split()
        x, y, ow, oh = o["bbox"]
        assert int(c) == ds.classes.index(o["category"])
        assert abs(float(cx) - (x + ow / 2) / w) < 1e-6 and abs(float(cy) - (y + oh / 2) / h) < 1e-6
        assert abs(float(bw) - ow / w) < 1e-6 and abs(float(bh) - oh / h) < 1e-6
        assert all(0 <= float(v) <= 1 for v in (cx, cy, bw, bh))
    back = read_yolo(str(tmp_path / "b"))
    assert back.task == "detection"
    for o, ob in zip(s.annotations["objects"], next(b for b in back.samples if b.id == s.id).annotations["objects"]):
        assert np.allclose(o["bbox"], ob["bbox"], atol=1e-3)


def test_polygon_joins_split_masks():
    """An object split in parts by occlusion stays one YOLO instance and fills back exactly (the bridges
    between the parts are zero-width and cover no pixel centre)."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = np.zeros((30, 40), np.uint8)
        for _k in range(int(rng.integers(1, 4))):
            y, x = rng.integers(0, 24), rng.integers(0, 34)
            m[y:y + int(rng.integers(2, 7)), x:x + int(rng.integers(2, 7))] = 1
        p = mask_to_polygon(m)
        back = _fill(p.reshape(-1).tolist(), 30, 40)
        assert _parts(m) >= 1 and np.array_equal(back, m)


def test_yolo_procedural_and_errors(tmp_path):
    g = ImageProcedural(size=48, task="detection").fit(None)
    g.classes_ = ["circle", "star"]
    out = list(g.generate("star", 3, 0))
    for s in out:
        for o in s.annotations["objects"]:
            o.pop("mask")
    with pytest.raises(DatasetError, match="has no mask"):
        write_yolo(out, ["circle", "star"], str(tmp_path / "x"), segments=True)
    assert not (tmp_path / "x").exists()  # nothing half-written
    write_yolo(out, ["circle", "star"], str(tmp_path / "x"))  # auto: boxes
    assert (tmp_path / "x" / "data.yaml").read_text().count("task: detect") == 1
    (tmp_path / "x" / "labels" / f"{out[0].id}.txt").write_text("7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match="class id 7"):
        read_yolo(str(tmp_path / "x"))
    with pytest.raises(DatasetError, match="data.yaml not found"):
        read_yolo(str(tmp_path))


def test_coco_round_trip_of_pasted_masks(pasted, tmp_path):
    ds, out = pasted
    write_coco(out, ds.classes, str(tmp_path / "c"), categories=ds.info["categories"])
    back = read_coco(str(tmp_path / "c"))
    assert back.task == "segmentation"
    for a, b in zip(out, back.samples):
        assert a.id == b.id and not image_problems(b, ds.classes)
        for oa, ob in zip(a.annotations["objects"], b.annotations["objects"]):
            assert np.array_equal(oa["mask"], ob["mask"]) and oa["bbox"] == ob["bbox"] and oa["category"] == ob["category"]


def test_labelstudio_review_queue_for_images(pasted, tmp_path):
    """Synthetic COCO output -> Label Studio tasks with class, boxes and polygons as pre-annotations."""
    import json

    from synthgen.io.image_review import main as review_main
    from synthgen.io.labelstudio import read_labelstudio

    ds, out = pasted
    write_coco(out, ds.classes, str(tmp_path / "c"), categories=ds.info["categories"])
    assert review_main([str(tmp_path / "c"), str(tmp_path / "review" / "tasks.json"), "http://localhost:8081/c"]) == 0
    tasks = json.loads((tmp_path / "review" / "tasks.json").read_text())
    assert len(tasks) == len(out)
    xml = (tmp_path / "review" / "tasks.label_config.xml").read_text()
    assert "<PolygonLabels" in xml and '<Label value="large_coin"/>' in xml and '<Choice value="small_coin"/>' in xml
    by_id = {s.id: s for s in out}
    for t in tasks:
        s = by_id[t["data"]["synthgen_id"]]
        assert t["data"]["image"] == f"http://localhost:8081/c/images/{s.id}.png"
        assert (tmp_path / "c" / t["data"]["image"].split("/c/", 1)[1]).exists()
        res = t["predictions"][0]["result"]
        polys = [r for r in res if r["type"] == "polygonlabels"]
        rects = [r for r in res if r["type"] == "rectanglelabels"]
        # one region per object (a masked object is its polygon only: a reviewed export counts it once)
        assert len(polys) == len(s.annotations["objects"]) and not rects
        assert t["data"]["origin"] == "synthetic" and t["data"]["provenance"]["parents"]
        for p, o in zip(polys, s.annotations["objects"]):
            pts = np.asarray(p["value"]["points"])
            assert p["value"]["polygonlabels"] == [o["category"]] and (pts >= 0).all() and (pts <= 100).all()
    back = read_labelstudio(str(tmp_path / "review" / "tasks.json"))
    for b in back:
        s = by_id[b.id]
        assert b.label == s.label
        assert len(b.annotations["objects"]) == len(s.annotations["objects"])
        for ob, o in zip(b.annotations["objects"], s.annotations["objects"]):
            # the polygon fills back to the mask (a hole is filled, as in any one-ring polygon)
            assert np.array_equal(ob["mask"], ndimage.binary_fill_holes(o["mask"])) and ob["category"] == o["category"]
            assert np.allclose(ob["bbox"], o["bbox"], atol=0.01)
    assert review_main([str(tmp_path / "missing"), str(tmp_path / "t.json")]) == 2
