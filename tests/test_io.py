"""Round trips for every image format, RLE masks, manifests and the readers' bad-input errors."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.errors import DatasetError
from synthgen.io.coco import read_coco, write_coco
from synthgen.io.common import mask_to_rle, rle_to_mask, sha256_file
from synthgen.io.imagefolder import read_imagefolder, write_imagefolder
from synthgen.io.manifest import read_manifest
from synthgen.sample import Provenance, Sample


def _img(seed, h=24, w=32):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _prov(i):
    return Provenance("synthgen.generators.image.ImageAugment", "1", "d" * 64, 3, "cat", i, ("real-1",),
                      {"angle": 1.5}, {"numpy": "2"})


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_rle_round_trip(h, w, seed):
    m = (np.random.default_rng(seed).random((h, w)) > 0.5).astype(np.uint8)
    rle = mask_to_rle(m)
    assert sum(rle["counts"]) == h * w
    assert np.array_equal(rle_to_mask(rle), m)


def test_imagefolder_round_trip(tmp_path):
    samples = [Sample(f"s{i}", _img(i), "cat" if i % 2 else "dog", provenance=_prov(i) if i > 1 else None) for i in range(5)]
    out = write_imagefolder(samples, ["cat", "dog"], str(tmp_path / "ds"))
    recs = read_manifest(out / "manifest.jsonl")
    assert [r["origin"] for r in recs] == ["real", "real", "synthetic", "synthetic", "synthetic"]
    for r in recs:
        assert r["sha256"] == sha256_file(out / r["file"])
        assert set(r) >= {"id", "file", "sha256", "label", "annotations", "origin", "provenance"}
    back = read_imagefolder(str(out))
    assert [s.id for s in back.samples] == [s.id for s in samples]
    for a, b in zip(samples, back.samples):
        assert np.array_equal(a.data, b.data) and a.label == b.label
        assert (a.provenance.to_dict() if a.provenance else None) == (b.provenance.to_dict() if b.provenance else None)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir()), "no temporary folders left behind"


def test_imagefolder_without_manifest_and_copies_bytes(tmp_path):
    from PIL import Image

    root = tmp_path / "real"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(_img(i)).save(root / c / f"{i}.jpg", quality=90)
    ds = read_imagefolder(str(root))
    assert ds.classes == ["a", "b"] and len(ds) == 4
    out = write_imagefolder(ds.samples, ds.classes, str(tmp_path / "copy"))
    assert (out / "a" / "0.jpg").read_bytes() == (root / "a" / "0.jpg").read_bytes(), "real files are copied, not re-encoded"


def test_coco_round_trip_boxes_masks_keypoints(tmp_path):
    m = np.zeros((24, 32), np.uint8)
    m[4:10, 5:15] = 1
    objs = [{"category": "cat", "bbox": [5.0, 4.0, 10.0, 6.0], "mask": m, "iscrowd": 0,
             "keypoints": [[6.0, 5.0, 2.0], [12.0, 8.0, 1.0]]},
            {"category": "dog", "bbox": [20.0, 12.0, 8.0, 10.0], "iscrowd": 0}]
    samples = [Sample("img-a", _img(1), "cat", {"objects": objs}, provenance=_prov(0)), Sample("img-b", _img(2), "dog", {"objects": objs[1:]})]
    out = write_coco(samples, ["cat", "dog"], str(tmp_path / "coco"))
    back = read_coco(str(out))
    assert back.task == "segmentation" and back.classes == ["cat", "dog"]
    a = back.samples[0]
    assert a.id == "img-a" and a.provenance.to_dict() == _prov(0).to_dict()
    o = a.annotations["objects"][0]
    assert o["bbox"] == [5.0, 4.0, 10.0, 6.0] and np.array_equal(o["mask"], m)
    assert o["keypoints"] == [[6.0, 5.0, 2.0], [12.0, 8.0, 1.0]]
    assert np.array_equal(a.data, samples[0].data)


def _coco(tmp_path, anns, cats=({"id": 1, "name": "cat"},), size=(32, 24)):
    from PIL import Image

    (tmp_path / "images").mkdir(exist_ok=True)
    Image.fromarray(_img(0, size[1], size[0])).save(tmp_path / "images" / "a.png")
    p = tmp_path / "annotations.json"
    p.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": size[0], "height": size[1]}],
                             "annotations": anns, "categories": list(cats)}))
    return p


def test_coco_polygon_segmentation(tmp_path):
    p = _coco(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10],
                          "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]}])
    o = read_coco(str(p)).samples[0].annotations["objects"][0]
    assert o["mask"].sum() > 90 and o["mask"][5, 5] == 1 and o["mask"][20, 20] == 0


@pytest.mark.parametrize("ann,msg", [
    ({"id": 7, "image_id": 1, "category_id": 1, "bbox": [25, 2, 10, 5]}, "annotation 7 box"),
    ({"id": 8, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2]}, "annotation 8 has unknown category_id 9"),
    ({"id": 9, "image_id": 5, "category_id": 1, "bbox": [1, 1, 2, 2]}, "annotation 9 refers to unknown image_id 5"),
])
def test_coco_bad_annotations_name_the_annotation(tmp_path, ann, msg):
    p = _coco(tmp_path, [ann])
    with pytest.raises(DatasetError, match=msg):
        read_coco(str(p))


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_imagefolder(str(tmp_path / "nope"))
    (tmp_path / "ds" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="class 'a' has no images"):
        read_imagefolder(str(tmp_path / "ds"))
    (tmp_path / "ds" / "a" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="x.png: cannot read image"):
        read_imagefolder(str(tmp_path / "ds"))


def test_digits_source():
    from synthgen.io.digits import load_digits_dataset

    ds = load_digits_dataset(32)
    assert len(ds) == 1797 and ds.classes == [str(i) for i in range(10)]
    assert ds.samples[0].data.shape == (32, 32, 3) and ds.samples[0].data.dtype == np.uint8
    # the padding keeps a black frame so shifts do not cut strokes
    assert ds.samples[0].data[:4].max() == 0


def test_lazy_imagefolder_keeps_no_pixels_and_reads_the_same(tmp_path):
    from synthgen.io.imagefolder import LazyImageSample

    samples = [Sample(f"s{i}", _img(i), "cat", {"objects": []}, provenance=_prov(i)) for i in range(4)]
    out = write_imagefolder(samples, ["cat"], str(tmp_path / "ds"))
    eager, lazy = read_imagefolder(str(out)), read_imagefolder(str(out), lazy=True)
    for a, b in zip(eager.samples, lazy.samples):
        assert isinstance(b, LazyImageSample) and "data" not in vars(b) and "provenance" not in vars(b)
        assert a.id == b.id and a.label == b.label and np.array_equal(a.data, b.data)
        assert a.provenance.to_dict() == b.provenance.to_dict() and a.annotations == b.annotations
    # a lazy dataset is written back byte for byte (files are copied, manifest lines rebuilt)
    again = write_imagefolder(lazy.samples, ["cat"], str(tmp_path / "copy"))
    assert (again / "manifest.jsonl").read_bytes() == (out / "manifest.jsonl").read_bytes()
