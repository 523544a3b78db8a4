"""image_copy_paste, image_procedural, image_ddpm, image_diffusion: contracts, label checks, behaviour.

Real data: scikit-learn's digits and the skimage coins detection set.  The diffusion model and the
DDPM are tiny and built here (no downloads).
"""
import json

import numpy as np
import pytest

from synthgen.errors import ConfigError, InsufficientDataError
from synthgen.generators.image import ImageCopyPaste, ImageDDPM, ImageDiffusion, ImageProcedural
from synthgen.generators.image.copy_paste import occlude
from synthgen.generators.image.procedural import SHAPES
from synthgen.io.skimage_scenes import load_coins_detection
from synthgen.validators.labels import image_problems

from .contracts import check_generator, data_bytes


@pytest.fixture(scope="module")
def coins():
    return load_coins_detection()


def _assert_labels(samples, classes):
    problems = [f"{s.id}: {p}" for s in samples for p in image_problems(s, classes)]
    assert not problems, problems[:5]


# --- the real detection set ------------------------------------------------------------------------

def test_coins_dataset_is_real_and_consistent(coins):
    from skimage import data

    from synthgen.io.skimage_scenes import segment_coins

    full = np.bincount(segment_coins().ravel())[1:]
    large_areas = set(full[full >= 1900].tolist())
    assert coins.info["coins"] == 24 and coins.info["large_coins"] == 6
    assert len(coins) == 48 and coins.counts() == {"small_coin": 32, "large_coin": 16}
    photo = data.coins()
    for s in coins.samples:
        assert s.data.shape == (128, 128, 3) and s.provenance is None
        y, x = int(s.id.split("-y")[1][:3]), int(s.id.split("-x")[1][:3])
        assert np.array_equal(s.data[:, :, 0], photo[y:y + 128, x:x + 128])  # untouched real pixels
        # a large_coin window holds a whole large coin (all of its pixels)
        whole_large = [o for o in s.annotations["objects"] if o["category"] == "large_coin" and int(o["mask"].sum()) in large_areas]
        assert (s.label == "large_coin") == bool(whole_large)
        for o in s.annotations["objects"]:  # coins are bright on a dark background
            assert s.data[o["mask"] > 0, 0].mean() > s.data[o["mask"] == 0, 0].mean()
    _assert_labels(coins.samples, coins.classes)


# --- copy-paste ---------------------------------------------------------------------------------------

def test_copy_paste_contract(coins):
    check_generator(lambda: ImageCopyPaste(scale=[0.9, 1.1], max_overlap=0.4), coins, labels=["large_coin", "small_coin"], n=5)


@pytest.mark.parametrize("blend", ["hard", "gaussian", "poisson"])
def test_copy_paste_labels_exact(coins, blend):
    g = ImageCopyPaste(blend=blend, objects_per_image=[2, 3], max_overlap=0.5, min_visibility=0.3).fit(coins)
    out = list(g.generate("large_coin", 8, 3))
    _assert_labels(out, coins.classes)
    for s in out:
        p = s.provenance.params
        pasted = [o for o in s.annotations["objects"] if o["category"] == "large_coin"]
        assert p["objects"] and len(pasted) >= 1 and p["blend"] == blend
        assert p["background"] in s.provenance.parents and all(o["parent"] in s.provenance.parents for o in p["objects"])
        bg = next(b for b in coins.samples if b.id == p["background"])
        assert bg.label == "small_coin"  # backgrounds are other classes' images
        union = np.zeros(s.data.shape[:2], bool)
        for o in pasted:
            union |= o["mask"] > 0
        outside = ~union
        if blend != "poisson":  # feathering only touches a few pixels around each paste
            import cv2

            far = cv2.erode(outside.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
            assert np.array_equal(s.data[far], bg.data[far])
        # the last pasted object is never occluded: its mask is exactly its warped source
        last = p["objects"][-1]
        assert pasted[-1]["mask"].sum() > 0
        assert last["x"] <= pasted[-1]["bbox"][0] and last["y"] <= pasted[-1]["bbox"][1]


def test_copy_paste_occlusion_cuts_and_drops():
    a = np.zeros((20, 20), np.uint8)
    a[2:10, 2:10] = 1
    b = np.zeros((20, 20), np.uint8)
    b[12:18, 12:18] = 1
    objs = [{"category": "a", "mask": a, "bbox": [2, 2, 8, 8], "_area0": 64, "keypoints": [[3.0, 3.0, 2.0], [8.0, 8.0, 2.0]]},
            {"category": "b", "mask": b, "bbox": [12, 12, 6, 6], "_area0": 36}]
    cover = np.zeros((20, 20), bool)
    cover[6:20, 6:20] = True  # covers a's lower-right corner and all of b
    kept, dropped = occlude(objs, cover, min_visibility=0.3, min_area=4)
    assert dropped == ["b"] and len(kept) == 1
    k = kept[0]
    assert k["mask"].sum() == 64 - 16 and k["bbox"] == [2.0, 2.0, 8.0, 8.0]
    assert k["keypoints"] == [[3.0, 3.0, 2.0], [8.0, 8.0, 1.0]]  # covered keypoint: labelled, not visible
    cover2 = np.zeros((20, 20), bool)
    cover2[2:10, 2:9] = True
    kept, dropped = occlude(kept, cover2, min_visibility=0.3, min_area=4)
    assert dropped == ["a"] and kept == []


def test_copy_paste_box_only_and_keypoints(coins):
    """Instances without masks paste as boxes; keypoints move with the object."""
    ds = coins.subset([])
    for s in coins.samples:
        objs = []
        for o in s.annotations["objects"]:
            o = {k: v for k, v in o.items() if k != "mask"}
            x, y, w, h = o["bbox"]
            o["keypoints"] = [[x + w / 2, y + h / 2, 2.0]]
            objs.append(o)
        ds.samples.append(type(s)(id=s.id, data=s.data, label=s.label, annotations={"objects": objs}))
    g = ImageCopyPaste(rotate=[0, 0], hflip=0.0, scale=[1.0, 1.0], max_overlap=0.2).fit(ds)
    out = list(g.generate("large_coin", 6, 0))
    _assert_labels(out, ds.classes)
    for s in out:
        assert all("mask" not in o for o in s.annotations["objects"])
        for o, p in zip([o for o in s.annotations["objects"] if o["category"] == "large_coin"][-1:], s.provenance.params["objects"][-1:]):
            x, y, w, h = o["bbox"]
            kx, ky, v = o["keypoints"][0]
            assert v == 2.0 and abs(kx - (x + w / 2)) <= 2.5 and abs(ky - (y + h / 2)) <= 2.5


def test_copy_paste_background_folder(coins, tmp_path):
    from PIL import Image
    from sklearn.datasets import load_sample_images

    for name, im in zip(["china", "flower"], load_sample_images().images):
        Image.fromarray(im[:160, :200]).save(tmp_path / f"{name}.png")
    g = ImageCopyPaste(background="folder", background_path=str(tmp_path)).fit(coins)
    out = list(g.generate("large_coin", 4, 0))
    _assert_labels(out, coins.classes)
    assert {s.data.shape for s in out} == {(160, 200, 3)}
    assert all(s.provenance.params["background"].startswith("background:") for s in out)
    assert all({o["category"] for o in s.annotations["objects"]} == {"large_coin"} for s in out)


def test_copy_paste_errors(coins, small_digits, tmp_path):
    with pytest.raises(ConfigError, match="generator.blend"):
        ImageCopyPaste(blend="alpha").fit(coins)
    with pytest.raises(ConfigError, match="generator.background_path"):
        ImageCopyPaste(background="folder").fit(coins)
    with pytest.raises(ConfigError, match="objects_per_image"):
        ImageCopyPaste(objects_per_image=[3, 1]).fit(coins)
    g = ImageCopyPaste().fit(small_digits)  # classification data: nothing annotated to paste
    with pytest.raises(InsufficientDataError, match="class '3': no annotated instances"):
        list(g.generate("3", 1, 0))


# --- procedural ---------------------------------------------------------------------------------------

def test_procedural_contract_digits(small_digits):
    check_generator(lambda: ImageProcedural(blur=[0.3, 1.0]), small_digits, labels=["3", "0"], n=6)


def test_procedural_digits_follow_real_format(small_digits):
    g = ImageProcedural().fit(small_digits)
    out = list(g.generate("3", 5, 0))
    for s in out:
        assert s.data.shape == (32, 32, 3) and s.annotations == {}
        assert np.array_equal(s.data[..., 0], s.data[..., 1]) and np.array_equal(s.data[..., 0], s.data[..., 2])
        assert s.provenance.params["objects"][0]["text"] == "3" and s.provenance.parents == ()


def test_procedural_detection_without_real_data():
    from synthgen.dataset import Dataset

    schema = Dataset([], list(SHAPES), "shapes", task="detection")
    g = ImageProcedural(size=[72, 96], classes={}, distractors=[1, 2]).fit(None)
    g.classes_, g.task_ = list(SHAPES), "detection"  # no real data at all: the schema alone
    out = [s for c in SHAPES for s in g.generate(c, 3, 0)]
    _assert_labels(out, schema.classes)
    for s in out:
        assert s.data.shape == (72, 96, 3)
        cats = [o["category"] for o in s.annotations["objects"]]
        assert s.label in cats
        for o in s.annotations["objects"]:
            n = {"triangle": 3, "square": 4, "rectangle": 4, "hexagon": 6, "star": 10, "cross": 12}.get(o["category"])
            assert (o.get("keypoints") is not None) == (n is not None)
            if n:
                assert len(o["keypoints"]) == n
                # visible vertices lie on (or next to) the painted object
                for x, y, v in o["keypoints"]:
                    if v == 2:
                        xi, yi = int(np.clip(x, 0, 95)), int(np.clip(y, 0, 71))
                        assert o["mask"][max(0, yi - 2):yi + 3, max(0, xi - 2):xi + 3].any()
    # masks of one image never overlap: each pixel belongs to at most one object
    for s in out:
        stack = np.stack([o["mask"] for o in s.annotations["objects"]])
        assert stack.sum(0).max() <= 1


def test_procedural_class_specs(coins):
    spec = {"large_coin": {"shape": "circle", "size": [0.5, 0.55]}, "small_coin": {"shape": "circle", "size": [0.3, 0.35]}}
    g = ImageProcedural(classes=spec, distractors=[1, 1], objects_per_image=[1, 1], max_overlap=0.0).fit(coins)
    out = list(g.generate("large_coin", 6, 0))
    _assert_labels(out, coins.classes)
    for s in out:
        areas = {o["category"]: o["mask"].sum() for o in s.annotations["objects"]}
        if len(areas) == 2:
            assert areas["large_coin"] > areas["small_coin"]
    with pytest.raises(ConfigError, match="generator.classes.x.shape"):
        ImageProcedural(classes={"x": {"shape": "blob"}}).fit(None)
    with pytest.raises(ConfigError, match="generator.backgrounds"):
        ImageProcedural(backgrounds=["plasma"]).fit(None)


# --- DDPM ---------------------------------------------------------------------------------------------

def tiny_ddpm(cache, **kw):
    args = dict(resolution=8, block_out_channels=[8, 16], train_steps=3, batch_size=8, inference_steps=2,
                sample_batch=4, num_train_timesteps=50, cache_dir=str(cache))
    args.update(kw)
    return ImageDDPM(**args)


def test_ddpm_contract(small_digits, tmp_path):
    check_generator(lambda: tiny_ddpm(tmp_path), small_digits, labels=["3"], n=6)


def test_ddpm_checkpoint_saved_and_reused(small_digits, tmp_path):
    g = tiny_ddpm(tmp_path).fit(small_digits)
    assert g.train_info_["reused"] is False and g.train_info_["steps_trained"] == 3
    ck = g.checkpoint_
    assert (ck / "diffusion_pytorch_model.safetensors").exists() and json.loads((ck / "synthgen.json").read_text())["steps_trained"] == 3
    first = list(g.generate("1", 5, 0))
    assert first[0].data.shape == (32, 32, 3) and first[0].provenance.params["weights_sha256"] == g.weights_sha256_
    g2 = tiny_ddpm(tmp_path).fit(small_digits)
    assert g2.train_info_["reused"] is True and g2.checkpoint_ == ck and g2.weights_sha256_ == g.weights_sha256_
    assert [data_bytes(a) for a in first] == [data_bytes(b) for b in g2.generate("1", 5, 0)]
    # sampling settings reuse the checkpoint; training settings train a new one
    assert tiny_ddpm(tmp_path, guidance=3.0).fit(small_digits).checkpoint_ == ck
    assert tiny_ddpm(tmp_path, train_steps=4).fit(small_digits).checkpoint_ != ck
    assert tiny_ddpm(tmp_path).fit(small_digits.subset(small_digits.samples[:60])).checkpoint_ != ck


def test_ddpm_errors(small_digits, tmp_path):
    with pytest.raises(ConfigError, match="generator.resolution"):
        tiny_ddpm(tmp_path, resolution=10, block_out_channels=[8, 16, 16]).fit(small_digits)
    with pytest.raises(ConfigError, match="generator.block_out_channels"):
        tiny_ddpm(tmp_path, block_out_channels=[12, 16]).fit(small_digits)
    g = tiny_ddpm(tmp_path).fit(small_digits)
    with pytest.raises(InsufficientDataError, match="class '7'"):
        list(g.generate("7", 1, 0))


def test_ddpm_img2img(small_digits, tmp_path):
    """img2img: a real parent of the class, noised to `strength`, denoised under the class condition."""
    check_generator(lambda: tiny_ddpm(tmp_path, mode="img2img", strength=0.5), small_digits, labels=["3"], n=6)
    g = tiny_ddpm(tmp_path, mode="img2img", strength=0.1, inference_steps=10, resolution=32).fit(small_digits)
    import torch

    class NoNoise(torch.nn.Module):  # a model that predicts no noise: denoising returns what it starts from
        def forward(self, x, t, class_labels=None):
            from types import SimpleNamespace

            return SimpleNamespace(sample=torch.zeros_like(x))

    g.model_ = NoNoise()  # 3 training steps teach nothing: check the plumbing (parent, start step, noise)
    real = {s.id: s for s in small_digits.samples}
    out = list(g.generate("0", 4, 1))
    for s in out:
        assert len(s.provenance.parents) == 1 and real[s.provenance.parents[0]].label == "0"
        p = s.provenance.params
        assert p["mode"] == "img2img" and p["strength"] == 0.1 and p["parent"] == s.provenance.parents[0]
        # a light strength keeps the parent: nearer its parent than any other real zero, and close
        d = {i: float(np.abs(s.data.astype(float) - r.data.astype(float)).mean()) for i, r in real.items() if r.label == "0"}
        assert min(d, key=d.get) == s.provenance.parents[0] and d[s.provenance.parents[0]] < 8, d[s.provenance.parents[0]]
    # same checkpoint as plain sampling (a sampling setting); sampling from noise records no parent
    plain = tiny_ddpm(tmp_path, resolution=32).fit(small_digits)
    assert plain.checkpoint_ == g.checkpoint_ and not next(plain.generate("0", 1, 1)).provenance.parents
    with pytest.raises(ConfigError, match="generator.strength"):
        tiny_ddpm(tmp_path, mode="img2img", strength=0).fit(small_digits)
    with pytest.raises(ConfigError, match="generator.mode"):
        tiny_ddpm(tmp_path, mode="sdedit").fit(small_digits)


# --- diffusers pipeline -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from synthgen.generators.image.diffusion import build_random_pipeline

    return str(build_random_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd", "tiny", 32))


def test_diffusion_txt2img_contract(small_digits, tiny_sd):
    check_generator(lambda: ImageDiffusion(pipeline={"path": tiny_sd}, steps=2, batch_size=4,
                                           prompts={"3": ["a handwritten {label}", "the digit {label}"]}),
                    small_digits, labels=["3"], n=5)


def test_diffusion_img2img(small_digits, tiny_sd):
    g = ImageDiffusion(pipeline={"path": tiny_sd}, mode="img2img", strength=0.6, steps=3, batch_size=2).fit(small_digits)
    out = list(g.generate("0", 3, 1))
    real0 = {s.id for s in small_digits.samples if s.label == "0"}
    for s in out:
        assert s.data.shape == (32, 32, 3) and s.data.dtype == np.uint8
        assert len(s.provenance.parents) == 1 and s.provenance.parents[0] in real0
        p = s.provenance.params
        assert p["mode"] == "img2img" and p["strength"] == 0.6 and p["pipeline"] == "StableDiffusionImg2ImgPipeline"
        assert len(p["weights_sha256"]) == 64 and p["prompt"] == "a photo of a 0"
    check_generator(lambda: ImageDiffusion(pipeline={"path": tiny_sd}, mode="img2img", steps=2, batch_size=3),
                    small_digits, labels=["1"], n=4)


def test_diffusion_weights_hash_tracks_the_weights(small_digits, tiny_sd, tmp_path):
    from synthgen.generators.image.diffusion import build_random_pipeline

    other = build_random_pipeline(tmp_path / "other", "tiny", 32, seed=1)
    a = ImageDiffusion(pipeline={"path": tiny_sd}, steps=1).fit(small_digits)
    b = ImageDiffusion(pipeline={"path": str(other)}, steps=1).fit(small_digits)
    assert a.weights_sha256_ != b.weights_sha256_
    assert not np.array_equal(next(a.generate("3", 1, 0)).data, next(b.generate("3", 1, 0)).data)


def test_diffusion_errors(small_digits, coins, tiny_sd, tmp_path):
    with pytest.raises(ConfigError, match="generator.pipeline.path: missing"):
        ImageDiffusion().fit(small_digits)
    with pytest.raises(ConfigError, match="no model_index.json"):
        ImageDiffusion(pipeline={"path": str(tmp_path)}).fit(small_digits)
    with pytest.raises(ConfigError, match="generator.mode"):
        ImageDiffusion(pipeline={"path": tiny_sd}, mode="inpaint").fit(small_digits)
    with pytest.raises(ConfigError, match="image-level labels only"):
        ImageDiffusion(pipeline={"path": tiny_sd}).fit(coins)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}')
    with pytest.raises(ConfigError, match="cannot load"):
        ImageDiffusion(pipeline={"path": str(tmp_path / "broken")}).fit(small_digits)
