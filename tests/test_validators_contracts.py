"""Every validator passes the shared conformance suite; sample-level validators get their own anchors."""
import numpy as np
import pytest

from synthgen.sample import Sample
from synthgen.validators.distribution import (AlphaPrecisionValidator, C2STValidator, CategoricalValidator, EnergyValidator,
                                              FrechetValidator, PRDCValidator, WassersteinValidator)
from synthgen.validators.labels import ClassSeparationValidator, LabelAgreementValidator, SchemaValidator, schema_problems
from synthgen.validators.memorisation import DCRValidator, DiversityValidator, DuplicateValidator, minhash, phash

from .contracts import check_validator

FEATURE_VALIDATORS = [
    lambda: EnergyValidator(n_permutations=200, n_bootstrap=30),
    lambda: WassersteinValidator(n_bootstrap=30),
    lambda: CategoricalValidator(n_bootstrap=30),
    lambda: FrechetValidator(n_bootstrap=30),
    lambda: C2STValidator(n_bootstrap=6),
    lambda: PRDCValidator(n_bootstrap=15),
    lambda: AlphaPrecisionValidator(n_bootstrap=15),
    lambda: DCRValidator(n_bootstrap=30),
    lambda: DiversityValidator(n_bootstrap=15),
]


@pytest.mark.parametrize("make", FEATURE_VALIDATORS, ids=lambda f: type(f()).__name__)
def test_feature_validator_contract(make):
    check_validator(make())


def test_frechet_reduce_raise_is_incomputable():
    r = np.random.default_rng(0)
    v = FrechetValidator(reduce="raise", max_dim=None, n_bootstrap=5)
    res = v.validate({"a": r.normal(size=(40, 30))}, {"a": r.normal(size=(40, 30))}, [f"f{j}" for j in range(30)])
    assert res.per_class["a"].status == "incomputable" and "Fréchet" in res.per_class["a"].reason


def _blobs(seed=0, n=60):
    r = np.random.default_rng(seed)
    centres = {"a": np.zeros(5), "b": np.full(5, 4.0), "c": np.r_[4.0, -4.0, 0, 0, 0]}
    return {k: r.normal(size=(n, 5)) + c for k, c in centres.items()}, centres


@pytest.mark.parametrize("cls", [LabelAgreementValidator, ClassSeparationValidator])
def test_label_validators_anchor(cls):
    real, centres = _blobs(0)
    fresh, _ = _blobs(1, 40)
    syn = {"a": fresh["a"], "b": fresh["c"]}  # class b's synthetic samples look like class c
    res = cls().validate(real, syn, [f"f{j}" for j in range(5)], seed=0)
    assert res.per_class["a"].passed and not res.per_class["b"].passed
    assert 0 <= res.per_class["b"].score < 0.5
    again = cls().validate(real, syn, [f"f{j}" for j in range(5)], seed=0)
    assert again.to_dict() == res.to_dict()
    one = cls().validate({"a": real["a"]}, {"a": fresh["a"]}, ["f"] * 5)
    assert one.per_class["a"].status == "incomputable"
    if cls is LabelAgreementValidator:
        assert res.per_class["b"].details["predicted_as"] == {"c": 40}
        assert res.per_class["a"].details["kappa"] > 0.9


def _img(v=0, h=20, w=30):
    return np.full((h, w, 3), v, np.uint8)


def test_schema_problems_per_modality():
    ok = Sample("i", _img(), "a", {"objects": [{"bbox": [1, 1, 10, 5], "category": "a"}]})
    outside = Sample("j", _img(), "a", {"objects": [{"bbox": [25, 1, 10, 5]}, {"bbox": [1, 1, 0, 5]}]})
    assert schema_problems(ok) == []
    assert [p.split(":")[1].split()[0] for p in schema_problems(outside)] == ["box", "degenerate"]
    t = "Alice met Bob in Paris."
    good = Sample("t", t, "x", {"spans": [{"start": 0, "end": 5, "label": "PER", "text": "Alice"}, {"start": 17, "end": 22}]}, modality="text")
    bad = Sample("u", t, "x", {"spans": [{"start": 0, "end": 3}, {"start": 2, "end": 9}, {"start": 10, "end": 40}]}, modality="text")
    assert schema_problems(good) == []
    msgs = " ".join(schema_problems(bad))
    assert "cuts a word" in msgs and "overlaps" in msgs and "outside the text" in msgs
    pts = np.zeros((10, 3), np.float32)
    assert schema_problems(Sample("p", pts, "x", {"point_labels": [0] * 10}, modality="points")) == []
    assert "9 per-point labels for 10 points" in schema_problems(Sample("q", pts, "x", {"point_labels": [0] * 9}, modality="points"))[0]


def test_schema_validator_fails_invalid_class():
    real = {"a": [Sample(f"r{i}", _img(), "a") for i in range(5)]}
    syn = {"a": [Sample("s0", _img(), "a", {"objects": [{"bbox": [25, 1, 10, 5]}]})] + [Sample(f"s{i}", _img(), "a") for i in range(1, 4)]}
    res = SchemaValidator().validate_samples(real, syn).per_class["a"]
    assert not res.passed and res.statistic == 0.25 and res.score < 0.5 and res.details["problems"][0].startswith("s0:")


def test_one_image_label_check():
    """The schema validator and the generator tests share one check: masks agree with boxes, visible
    keypoints lie inside, boxes cover min_area, categories belong to the real classes."""
    from synthgen.validators.labels import image_problems

    mask = np.zeros((20, 30), np.uint8)
    mask[2:6, 3:9] = 1
    good = {"category": "a", "bbox": [3, 2, 6, 4], "mask": mask, "keypoints": [[4, 3, 2], [40, 3, 0]]}
    assert image_problems(Sample("i", _img(), "a", {"objects": [good]}), ["a"]) == []
    bad = [{**good, "bbox": [3, 2, 7, 4]}, {**good, "keypoints": [[30, 3, 2]]}, {**good, "category": "zebra"},
           {"category": "a", "bbox": [1, 1, 0.5, 0.5]}, {"category": "a", "bbox": [1, 1, 2, 2], "mask": np.zeros((20, 30), np.uint8)}]
    msgs = image_problems(Sample("j", _img(), "b", {"objects": bad}), ["a"])
    assert [m.split(":")[0] for m in msgs] == ["label 'b' not in classes", "object 0", "object 1", "object 2", "object 3", "object 4"]
    assert "mask box" in msgs[1] and "keypoint" in msgs[2] and "zebra" in msgs[3] and "degenerate" in msgs[4] and "empty mask" in msgs[5]
    real = {"a": [Sample(f"r{i}", _img(), "a", {"objects": [good]}) for i in range(3)]}
    res = SchemaValidator().validate_samples(real, {"a": [Sample("s", _img(), "a", {"objects": [{**good, "category": "zebra"}]})]})
    assert not res.per_class["a"].passed and "zebra" in res.per_class["a"].details["problems"][0]


def test_fingerprints():
    from skimage import data

    cat = data.chelsea()
    assert (phash(cat) == phash(np.clip(cat.astype(int) + 3, 0, 255).astype(np.uint8))).mean() > 0.95
    assert (phash(cat) != phash(data.coffee())).sum() > 10
    a, b = minhash("the quick brown fox jumps over the lazy dog"), minhash("the quick brown fox jumped over the lazy dog")
    assert 0.5 < (a == b).mean() < 1.0 and (a == minhash("The quick  brown fox jumps over the lazy dog")).all()


def test_duplicate_validator_catches_copies(digits):
    threes = [s for s in digits.samples if s.label == "3"]
    real, fresh = threes[:90], threes[90:]
    copies = [Sample(f"c{i}", real[i % 30].data.copy(), "3") for i in range(60)]
    v = DuplicateValidator(n_bootstrap=20)
    res = v.validate_samples({"3": real}, {"3": fresh, "4": copies[:2]}, seed=0)
    assert res.per_class["3"].passed and res.per_class["4"].status == "incomputable"
    bad = v.validate_samples({"3": real}, {"3": copies}, seed=0).per_class["3"]
    assert not bad.passed and bad.details["exact_copies_of_real"] == 60 and bad.details["exact_duplicates_inside"] == 30
