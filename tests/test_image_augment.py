"""image_augment on COCO-style inputs: boxes, masks and keypoints move with the pixels; a dropped
object takes its label, mask and keypoints with it; parents and sampled parameters are recorded."""
import numpy as np
import pytest

from synthgen.dataset import Dataset
from synthgen.errors import ConfigError
from synthgen.generators.image import ImageAugment
from synthgen.io.common import mask_to_bbox
from synthgen.sample import Sample
from synthgen.validators.labels import image_problems


def scene(i: int) -> Sample:
    rng = np.random.default_rng(i)
    img = rng.integers(0, 60, (64, 80, 3), dtype=np.uint8)
    objs = []
    for k, (x, y, w, h, cat) in enumerate([(6, 8, 20, 14, "cat"), (44, 30, 24, 22, "dog"), (70, 2, 9, 9, "cat")]):
        m = np.zeros((64, 80), np.uint8)
        m[y:y + h, x:x + w] = 1
        img[m > 0] = 200 + 20 * k
        objs.append({"category": cat, "bbox": [float(x), float(y), float(w), float(h)], "mask": m, "iscrowd": 0,
                     "keypoints": [[x + 2.0, y + 2.0, 2.0], [x + w - 3.0, y + h - 3.0, 1.0]]})
    return Sample(f"scene-{i}", img, "cat", {"objects": objs})


@pytest.fixture(scope="module")
def coco_like():
    return Dataset([scene(i) for i in range(6)], ["cat", "dog"], "memory", "coco", "image", "segmentation")


GEOMETRIC = [{"name": "Affine", "rotate": [-30, 30], "translate_percent": [-0.15, 0.15], "scale": [0.8, 1.2], "p": 1.0},
             {"name": "HorizontalFlip", "p": 0.5},
             {"name": "RandomCrop", "height": 48, "width": 60, "p": 1.0}]


def test_labels_follow_the_pixels(coco_like):
    g = ImageAugment(GEOMETRIC, min_visibility=0.3).fit(coco_like)
    dropped = kept = 0
    for s in g.generate("cat", 60, seed=3):
        assert image_problems(s, ["cat", "dog"]) == [], (s.id, image_problems(s, ["cat", "dog"]))
        parent = next(p for p in coco_like.samples if p.id == s.provenance.parents[0])
        kept += len(s.annotations["objects"])
        dropped += len(parent.annotations["objects"]) - len(s.annotations["objects"])
        h, w = s.data.shape[:2]
        assert (h, w) == (48, 60)
        for o in s.annotations["objects"]:
            m = o["mask"]
            assert m.shape == (h, w) and o["bbox"] == mask_to_bbox(m)
            # the object's pixels moved with its mask: the masked pixels are the bright ones
            inside = s.data[m > 0].mean()
            assert inside > 120, inside
            for x, y, v in o["keypoints"]:
                if v > 0:
                    assert 0 <= x < w and 0 <= y < h
        assert s.provenance.params["parent"] == parent.id
        assert [t["transform"] for t in s.provenance.params["applied"]][0] == "Affine"
    assert kept > 0 and dropped > 0, "the crop must drop some objects (with their labels) and keep others"


def test_boxes_without_masks_are_clipped_and_dropped(coco_like):
    no_masks = coco_like.subset([Sample(s.id, s.data, s.label, {"objects": [{k: v for k, v in o.items() if k != "mask"}
                                                                         for o in s.annotations["objects"]]})
                                 for s in coco_like.samples])
    g = ImageAugment(GEOMETRIC).fit(no_masks)
    for s in g.generate("dog", 30, seed=1):
        assert image_problems(s, ["cat", "dog"]) == []


def test_bad_transform_names_the_key(coco_like):
    with pytest.raises(ConfigError, match=r"generator.transforms\[1\].name: albumentations has no transform 'Flipp'"):
        list(ImageAugment([{"name": "HorizontalFlip"}, {"name": "Flipp"}]).fit(coco_like).generate("cat", 1, 0))
    with pytest.raises(ConfigError, match=r"generator.transforms\[0\]: .*var_limit"):
        list(ImageAugment([{"name": "GaussNoise", "var_limit": [10, 50]}]).fit(coco_like).generate("cat", 1, 0))
