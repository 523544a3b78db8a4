"""YOLO output against its references: Ultralytics' dataset loading and pycocotools' boxes and masks.

Ultralytics itself is not in the test environment: its wheels pull a CUDA build of torch (2.14) and
``opencv-python`` beside our ``opencv-python-headless``, and with torch pinned to the CPU build the
only torchvision wheel on the index (0.28, built for CUDA torch) fails to import ("operator
torchvision::nms does not exist").  So the two rules of Ultralytics 8.4 that decide whether a folder
loads, and where its boxes come from, are reproduced here from its source, and the real functions are
used instead when ``ultralytics`` can be imported:

* ``ultralytics/data/utils.py``, ``check_det_dataset``: the dataset root is
  ``Path(data.get("path") or Path(yaml_file).parent)``; a root that does not exist and is not absolute
  is taken under ``DATASETS_DIR``; ``train``/``val`` are ``(root / value).resolve()``.
* ``img2label_paths``: a label file is the image path with ``/images/`` replaced by ``/labels/`` and
  the suffix by ``.txt``; ``segments2boxes`` (through ``verify_image_label``): a polygon's box is its
  extent (min and max of x and y).

Checked by hand against the real package (8.4.190, run outside this environment from another working
folder): the folder written here loads, and its boxes are within 1.3e-4 px of ``toBbox``; with the old
``path: .`` it fails ("images not found, missing path '<working folder>/images'").
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest
import yaml
from scipy import ndimage

from synthgen.generators.image import ImageCopyPaste
from synthgen.io.skimage_scenes import load_coins_detection
from synthgen.io.yolo import _fill, mask_to_polygon, read_yolo, write_yolo

try:  # the real package, where it can be installed
    import ultralytics.data.utils as _ultralytics
except Exception:  # noqa: BLE001 - absent, or present without a working torchvision
    _ultralytics = None

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on numpy 2


def _to_bbox(mask: np.ndarray) -> list[float]:
    """pycocotools' box of a mask: toBbox of its RLE."""
    return mask_util.toBbox(mask_util.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))).tolist()


def _dataset_root(yaml_file: str, datasets_dir: Path) -> dict[str, str]:
    """``check_det_dataset``'s path resolution (Ultralytics 8.4, ultralytics/data/utils.py)."""
    data = yaml.safe_load(Path(yaml_file).read_text())
    path = Path(data.get("path") or Path(yaml_file).parent)
    if not path.exists() and not path.is_absolute():
        path = (datasets_dir / path).resolve()
    return {k: str((path / data[k]).resolve()) for k in ("train", "val") if data.get(k)}


def _label_file(image: str) -> Path:
    """``img2label_paths`` (Ultralytics 8.4)."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(image.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def _polygon_box(line: str, w: int, h: int) -> list[float]:
    """``segments2boxes`` of one label line, in pixels: the polygon's extent."""
    xy = np.asarray([float(v) for v in line.split()[1:]]).reshape(-1, 2) * [w, h]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    return [x0, y0, x1 - x0, y1 - y0]


@pytest.fixture(scope="module")
def pasted():
    ds = load_coins_detection()
    g = ImageCopyPaste(objects_per_image=[2, 3], max_overlap=0.5, min_visibility=0.2).fit(ds)
    return ds, list(g.generate("large_coin", 6, 0))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Work from a folder that is neither the dataset nor its parent."""
    d = tmp_path / "somewhere" / "else"
    d.mkdir(parents=True)
    monkeypatch.chdir(d)
    return d


def test_data_yaml_loads_from_any_working_folder(pasted, tmp_path, elsewhere, monkeypatch):
    ds, out = pasted
    root = write_yolo(out, ds.classes, str(tmp_path / "yolo"), categories=ds.info["categories"])
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert "path" not in data and data["names"] == {0: "small_coin", 1: "large_coin"} and data["nc"] == 2
    datasets_dir = tmp_path / "ultralytics-datasets"  # Ultralytics' DATASETS_DIR: must not be used
    for given in (str(root / "data.yaml"), os.path.relpath(root / "data.yaml", elsewhere)):
        if _ultralytics is not None:
            monkeypatch.setattr(_ultralytics, "check_font", lambda *a, **k: None)  # it downloads a font
            got = _ultralytics.check_det_dataset(given, autodownload=False)
            train, val = got["train"], got["val"]
        else:
            train, val = _dataset_root(given, datasets_dir).values()
        assert Path(train) == Path(val) == (root / "images").resolve()
        images = sorted(Path(train).glob("*.png"))
        assert len(images) == len(out)
        assert all(_label_file(str(p)).is_file() for p in images)
    # our own reader, from here too
    back = read_yolo(os.path.relpath(root, elsewhere))
    assert sorted(s.id for s in back.samples) == sorted(s.id for s in out)


def test_the_reproduced_rule_is_the_reported_failure(tmp_path, elsewhere):
    """The rule above reproduces the bug this layout fixes: ``path: .`` resolves against the working
    folder, so the images are looked for there."""
    root = tmp_path / "old"
    (root / "images").mkdir(parents=True)
    (root / "data.yaml").write_text("path: .\ntrain: images\nval: images\nnames: {0: a}\n")
    assert _dataset_root(str(root / "data.yaml"), tmp_path)["train"] == str(elsewhere / "images")


def test_polygon_boxes_equal_pycocotools_tobbox(pasted, tmp_path):
    """The box Ultralytics derives from our polygon (its extent) is pycocotools' toBbox of the mask."""
    ds, out = pasted
    root = write_yolo(out, ds.classes, str(tmp_path / "yolo"), categories=ds.info["categories"])
    n = 0
    for s in out:
        h, w = s.data.shape[:2]
        lines = (root / "labels" / f"{s.id}.txt").read_text().splitlines()
        assert len(lines) == len(s.annotations["objects"])
        for line, o in zip(lines, s.annotations["objects"]):
            assert _polygon_box(line, w, h) == pytest.approx(_to_bbox(o["mask"]), abs=1e-3)  # 6-decimal coordinates
            assert o["bbox"] == pytest.approx(_to_bbox(o["mask"]))
            n += 1
    assert n >= 12
    # and reading back gives the same boxes and masks (holes filled)
    for b in read_yolo(str(root)).samples:
        a = next(s for s in out if s.id == b.id)
        for oa, ob in zip(a.annotations["objects"], b.annotations["objects"]):
            assert ob["bbox"] == _to_bbox(ob["mask"]) == _to_bbox(oa["mask"])


def test_polygons_match_pycocotools_on_random_masks():
    """Random masks (pieces, diagonal contacts, holes, image borders): the polygon's extent is toBbox,
    and both pycocotools' rasteriser (frPyObjects) and ours give the mask back, holes filled."""
    rng = np.random.default_rng(7)
    for t in range(400):
        h, w = int(rng.integers(4, 40)), int(rng.integers(4, 40))
        m = (rng.random((h, w)) < rng.uniform(0.05, 0.8)).astype(np.uint8)
        if t % 2:
            m = ndimage.binary_opening(m).astype(np.uint8)
        if not m.any():
            assert len(mask_to_polygon(m)) == 0
            continue
        p = mask_to_polygon(m)
        filled = ndimage.binary_fill_holes(m).astype(np.uint8)
        (x0, y0), (x1, y1) = p.min(axis=0), p.max(axis=0)
        assert [x0, y0, x1 - x0, y1 - y0] == _to_bbox(m)
        coco = mask_util.decode(mask_util.merge(mask_util.frPyObjects([p.reshape(-1).tolist()], h, w)))
        assert np.array_equal(coco, filled), t
        assert np.array_equal(_fill(p.reshape(-1).tolist(), h, w), filled), t
        q = np.round(p / [w, h], 6) * [w, h]  # as written: normalised, 6 decimals
        assert np.array_equal(_fill(q.reshape(-1).tolist(), h, w), filled), t


def test_merge_follows_the_run_output_format(pasted, tmp_path):
    """``output.format=yolo`` with ``merge.format=auto``: the training set is YOLO too (it was COCO, the
    real dataset's format), with the real dataset's class ids; an explicit ``merge.format`` wins."""
    from omegaconf import OmegaConf

    from synthgen.merge import merge, read_training_set
    from synthgen.pipeline import merge_format

    ds, out = pasted
    cfg = OmegaConf.create({"output": {"format": "yolo"}, "merge": {"format": "auto"}})
    assert merge_format(cfg) == "yolo"
    assert merge_format(OmegaConf.create({"output": {"format": "yolo"}, "merge": {"format": "coco"}})) == "coco"
    assert merge_format(OmegaConf.create({"output": {"format": "auto"}, "merge": {"format": "auto"}})) == "auto"
    assert merge_format(OmegaConf.create({"merge": {"format": "auto"}}), run_cfg=cfg) == "yolo"  # synthgen merge run_dir=...
    report = {"classes": {"large_coin": {"verdict": "pass", "admitted": True}}}
    res = merge(tmp_path / "train", ds, out, report, fmt=merge_format(cfg))
    version = tmp_path / "train" / "versions" / res["version"]
    assert (version / "data.yaml").exists() and not (version / "annotations.json").exists()
    back = read_training_set(tmp_path / "train")
    assert back.format == "yolo" and len(back) == len(ds) + len(out)
    assert yaml.safe_load((version / "data.yaml").read_text())["names"] == {
        i: c["name"] for i, c in enumerate(sorted(ds.info["categories"], key=lambda c: c["id"]))}
