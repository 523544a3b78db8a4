"""Cross-fitted validators on real data: scikit-learn's digits with a rare class cut to 15 samples.

Folds come from ``make_folds``; the synthetic batch of fold k is built by hand from data the fold may
use: (a) held-out real samples of the rare class (in neither train nor test), (b) real samples of
another digit relabeled as the rare class, (c) exact copies of the fold's train parents, (d) train
parents under heavy Gaussian noise.  Run with ``-s`` to see the measured numbers.
"""
from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

from synthgen.errors import ConfigError
from synthgen.io.common import dumps
from synthgen.validators.crossfit import (CrossFitLabelValidator, Fold, UtilityValidator, effective_k, make_folds)

RARE, OTHER = "8", "1"  # 8 is the digit a logistic probe finds hardest; 1 is what it confuses it with
N_RARE, N_OTHERS, N_SYN, K, R, NB = 15, 100, 60, 5, 2, 300
CASES = ("heldout", "relabeled", "copies", "noise")


@pytest.fixture(scope="module")
def split():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = {str(c): rng.permutation(np.flatnonzero(y == c)) for c in range(10)}
    keep = {c: N_RARE if c == RARE else N_OTHERS for c in idx}
    real = {c: X[v[:keep[c]]] for c, v in idx.items()}
    spare = {c: X[v[keep[c]:]] for c, v in idx.items()}  # never in any fold: held out of the whole experiment
    return real, spare


def build(split, case: str, seed: int = 0, repeats: int = R) -> list[Fold]:
    real, spare = split
    folds = []
    for r, f, tr, te in make_folds(real, K, repeats, seed):
        g = np.random.default_rng([seed, r, f])
        parents = real[RARE][tr[RARE]]  # the only rare samples fold f's generator may see
        if case == "heldout":
            S = spare[RARE][g.choice(len(spare[RARE]), N_SYN, replace=False)]
        elif case == "relabeled":
            S = spare[OTHER][g.choice(len(spare[OTHER]), N_SYN, replace=False)]
        elif case == "copies":
            S = parents[g.integers(len(parents), size=N_SYN)]
        elif case == "noise":
            S = np.clip(parents[g.integers(len(parents), size=N_SYN)] + g.normal(0.0, 8.0, (N_SYN, 64)), 0, 16)
        else:
            raise ValueError(case)
        folds.append(Fold.from_indices(real, r, f, tr, te, {RARE: S}))
    return folds


@pytest.fixture(scope="module")
def results(split):
    out = {}
    for case in CASES:
        folds = build(split, case)
        u = UtilityValidator(n_bootstrap=NB).validate_folds(folds, seed=0)
        lab = CrossFitLabelValidator(n_bootstrap=NB).validate_folds(folds, seed=0)
        out[case] = (u, lab)
        cu, cl = u.per_class[RARE], lab.per_class[RARE]
        d = cu.details
        print(f"\n[{case}] utility {cu.status}: score {cu.score:.3f} recall A/B/O {d['recall_real_only']:.3f}/"
              f"{d['recall_with_synthetic']:.3f}/{d['recall_oversampled']:.3f} gain {d['gain']:+.3f} CI "
              f"[{d['gain_ci'][0]:+.3f}, {d['gain_ci'][1]:+.3f}] p {cu.p_value:.3f} vs-oversampling "
              f"{d['gain_vs_oversampling']:+.3f} CI {np.round(d['gain_vs_oversampling_ci'], 3).tolist()} f1 gain "
              f"{d['f1_gain']:+.3f} worst harm {d['worst_harm_class']} {d['worst_harm']:+.3f} stability {d['stability']:.2f}")
        print(f"[{case}] label_agreement_cf {cl.status}: score {cl.score:.3f} agreement {cl.statistic:.3f} CI "
              f"{np.round(cl.details['agreement_ci'], 3).tolist()} real {cl.details['real_accuracy']:.3f} threshold "
              f"{cl.threshold:.3f} predicted_as {cl.details['predicted_as']}")
    return out


# --- folds -----------------------------------------------------------------------------------------

def test_make_folds_partition_stratified(split):
    real, _ = split
    folds = make_folds(real, K, 3, seed=5)
    assert [(r, f) for r, f, _, _ in folds] == [(r, f) for r in range(3) for f in range(K)]
    for r in range(3):
        rep = [x for x in folds if x[0] == r]
        for c, v in real.items():
            tests = [t[c] for _, _, _, t in rep]
            assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(len(v)))  # each sample tested once
            assert max(map(len, tests)) - min(map(len, tests)) <= 1  # stratified: sizes differ by at most one
            for _, _, tr, te in rep:
                assert not set(tr[c]) & set(te[c]) and len(tr[c]) + len(te[c]) == len(v)
    # repeats reshuffle
    assert any(not np.array_equal(folds[f][3][RARE], folds[K + f][3][RARE]) for f in range(K))


def test_make_folds_deterministic_and_per_class_streams(split):
    real, _ = split
    sizes = {c: len(v) for c, v in real.items()}
    a, b = make_folds(real, K, 2, seed=1), make_folds(sizes, K, 2, seed=1)  # counts work as well as arrays
    c = make_folds(real, K, 2, seed=2)
    same = lambda x, y: all(np.array_equal(x[i][j][k], y[i][j][k]) for i in range(len(x)) for j in (2, 3) for k in x[i][j])  # noqa: E731
    assert same(a, b) and not same(a, c)
    more = make_folds({**sizes, "extra": 40}, K, 2, seed=1)  # adding a class does not reshuffle the others
    assert all(np.array_equal(a[i][3][k], more[i][3][k]) for i in range(len(a)) for k in sizes)


def test_make_folds_clips_k_and_deals_singletons():
    assert effective_k({"a": 50, "b": 3}, 5) == 3
    assert effective_k({"a": 50, "b": 1}, 5) == 5  # a single sample does not clip k
    folds = make_folds({"a": 50, "b": 3, "c": 1}, 5, 2, seed=0)
    assert len(folds) == 2 * 3
    for r in range(2):
        rep = [x for x in folds if x[0] == r]
        assert all(len(te["b"]) == 1 for _, _, _, te in rep)  # every class with 2+ samples is tested in every fold
        assert sorted(len(te["c"]) for _, _, _, te in rep) == [0, 0, 1]  # the singleton: one fold, a parent elsewhere
    with pytest.raises(ConfigError):
        make_folds({"a": 10}, 1, 1, 0)
    with pytest.raises(ConfigError):
        make_folds({"a": 10}, 5, 0, 0)


# --- the four cases ----------------------------------------------------------------------------------

def test_heldout_real_is_useful_and_agrees(results):
    u, lab = (x.per_class[RARE] for x in results["heldout"])
    d = u.details
    assert u.passed and d["gain"] > 0.15 and d["gain_ci"][0] > 0.0
    assert d["worst_harm"] <= 0.05 and d["stability"] >= 0.5
    assert d["recall_with_synthetic"] > d["recall_oversampled"]  # new real data beats duplicated rows here
    assert lab.passed and lab.statistic >= lab.threshold


def test_relabeled_other_digit_fails(results):
    u, lab = (x.per_class[RARE] for x in results["relabeled"])
    assert not lab.passed and lab.statistic < 0.05
    assert max(lab.details["predicted_as"], key=lab.details["predicted_as"].get) == OTHER
    assert not u.passed and u.details["worst_harm_class"] == OTHER and u.details["worst_harm"] > 0.2
    assert u.details["harm"][OTHER] < -0.2 and u.details["f1_gain"] < 0
    assert "harm" in u.details["why"]


def test_copies_are_no_better_than_oversampling(results, split):
    u = results["copies"][0].per_class[RARE]
    d = u.details
    assert abs(d["gain_vs_oversampling"]) <= 0.05
    assert d["gain_vs_oversampling_ci"][0] <= 0.0 <= d["gain_vs_oversampling_ci"][1]
    assert abs(d["gain"] - d["oversampling_gain"]) <= 0.05
    # judged against oversampling, copies cannot pass
    strict = UtilityValidator(n_bootstrap=NB, reference="oversampling").validate_folds(build(split, "copies"), seed=0)
    assert not strict.per_class[RARE].passed and strict.per_class[RARE].details["judged_against"] == "oversampling"


def test_heavy_noise_fails(results):
    u, lab = (x.per_class[RARE] for x in results["noise"])
    assert not u.passed and u.details["gain_ci"][0] <= 0.0 and u.details["gain_vs_oversampling"] < 0
    assert not lab.passed and lab.statistic < 0.1


def test_typed_results(results):
    for case, pair in results.items():
        for res in pair:
            r = res.per_class[RARE]
            assert r.status in ("pass", "fail"), (case, r.reason)
            assert 0.0 <= r.score <= 1.0 and (r.score >= 0.5) == r.passed, (case, res.validator, r.score)
            assert np.isfinite(r.statistic) and np.isfinite(r.threshold)
            assert r.p_value is None or 0.0 < r.p_value <= 1.0
            assert r.n_real == N_RARE and r.n_synthetic == N_SYN * K * R
            json.loads(dumps(res.to_dict()))
        d = pair[0].per_class[RARE].details
        assert {"recall_real_only", "recall_with_synthetic", "recall_oversampled", "gain", "gain_ci", "gain_vs_oversampling",
                "f1_gain", "harm", "worst_harm_class", "repeats", "k", "n_test", "stability"} <= set(d)
        assert (d["repeats"], d["k"], d["n_test"]) == (R, K, N_RARE) and set(d["harm"]) == {str(c) for c in range(10)} - {RARE}


def test_label_agreement_heldout_passes_nearly_always(split):
    """Real-vs-real: held-out real samples as the 'synthetic' batch, over 10 fold seeds."""
    v = CrossFitLabelValidator(n_bootstrap=NB)
    rs = [v.validate_folds(build(split, "heldout", seed=s), seed=s).per_class[RARE] for s in range(10)]
    print("\nheld-out agreement / real baseline / threshold per seed:",
          [(round(r.statistic, 3), round(r.details["real_accuracy"], 3), round(r.threshold, 3)) for r in rs])
    assert sum(r.passed for r in rs) >= 9


# --- determinism, probes, incomputable --------------------------------------------------------------

def test_deterministic_for_a_seed(split):
    folds = build(split, "heldout", seed=3)
    for v in (UtilityValidator(n_bootstrap=100), CrossFitLabelValidator(n_bootstrap=100)):
        a, b = v.validate_folds(folds, seed=11), v.validate_folds(folds, seed=11)
        assert dumps(a.to_dict()) == dumps(b.to_dict())
        assert dumps(v.validate_folds(folds, seed=12).to_dict()) != dumps(a.to_dict())  # the seed matters


def test_user_probe_factory_and_hydra(split):
    from hydra.utils import instantiate
    from sklearn.neighbors import KNeighborsClassifier

    folds = build(split, "relabeled", repeats=1)
    v = instantiate({"_target_": "synthgen.validators.crossfit.UtilityValidator", "n_bootstrap": 50,
                     "probe": {"_target_": "sklearn.neighbors.KNeighborsClassifier", "n_neighbors": 3, "_partial_": True}})
    r = v.validate_folds(folds).per_class[RARE]
    assert r.status == "fail" and r.details["worst_harm_class"] == OTHER
    c = CrossFitLabelValidator(partial(KNeighborsClassifier, n_neighbors=1), n_bootstrap=50).validate_folds(folds)
    assert c.per_class[RARE].status == "fail"
    t = UtilityValidator(KNeighborsClassifier(n_neighbors=3), n_bootstrap=50).validate_folds(folds).per_class[RARE]
    assert (t.statistic, t.details["gain_ci"], t.details["harm"]) == (r.statistic, r.details["gain_ci"], r.details["harm"])  # cloned
    with pytest.raises(ConfigError):
        UtilityValidator(probe=3)
    with pytest.raises(ConfigError):
        CrossFitLabelValidator(classifier="forest")
    with pytest.raises(ConfigError):
        UtilityValidator(reference="nothing")


def test_incomputable_with_one_real_sample(split):
    real, spare = split
    real = {**real, RARE: real[RARE][:1]}
    folds = [Fold.from_indices(real, r, f, tr, te, {RARE: spare[RARE][:20]}) for r, f, tr, te in make_folds(real, K, 1, 0)]
    for v in (UtilityValidator(n_bootstrap=50), CrossFitLabelValidator(n_bootstrap=50)):
        r = v.validate_folds(folds).per_class[RARE]
        assert r.status == "incomputable" and r.reason and RARE in r.reason and r.score is None and r.statistic is None
        assert not r.passed and r.n_real == 1


def test_incomputable_when_folds_are_missing(split):
    folds = build(split, "heldout", repeats=1)
    for v in (UtilityValidator(n_bootstrap=50), CrossFitLabelValidator(n_bootstrap=50)):
        r = v.validate_folds(folds[:-1]).per_class[RARE]  # one fold lost: the rest do not partition the classes
        assert r.status == "incomputable" and "partition" in r.reason
        r = v.validate_folds([], labels=[RARE]).per_class[RARE]
        assert r.status == "incomputable" and "no folds" in r.reason
        # the plain feature-matrix API has no honest reference: refuse, never compare with the parents
        real, spare = split
        r = v.validate(real, {RARE: spare[RARE][:30]}, [f"p{j}" for j in range(64)]).per_class[RARE]
        assert r.status == "incomputable" and "circular" in r.reason
    empty = [Fold(f.repeat, f.fold, f.train, f.test, {RARE: f.synthetic[RARE][:0]} if f.fold == 0 else f.synthetic) for f in folds]
    r = UtilityValidator(n_bootstrap=50).validate_folds(empty).per_class[RARE]
    assert r.status == "incomputable" and "folds are missing" in r.reason


# --- no room to show a gain ----------------------------------------------------------------------------

def _separable(shift_harm: bool):
    """Class 'easy' sits far from 'a' and 'b': the real-only probe already recalls all of it."""
    rng = np.random.default_rng(4)
    real = {"a": rng.normal(0, 1, (40, 4)), "b": rng.normal(0, 1, (40, 4)) + [3, 0, 0, 0],
            "easy": rng.normal(0, 0.3, (15, 4)) + [0, 20, 0, 0]}
    folds = []
    for r, f, tr, te in make_folds(real, 3, 2, seed=0):
        g = np.random.default_rng([r, f])
        S = real["easy"][tr["easy"]][g.integers(len(tr["easy"]), size=30)] + g.normal(0, 0.1, (30, 4))
        if shift_harm:  # 'b'-like rows labeled easy: b's own test rows now go to easy
            S = real["b"][g.integers(40, size=30)] + g.normal(0, 0.05, (30, 4))
        folds.append(Fold.from_indices(real, r, f, tr, te, {"easy": S}))
    return folds


def test_a_class_the_probe_already_recognises_is_incomputable_not_failed():
    u = UtilityValidator(n_bootstrap=200).validate_folds(_separable(False), seed=0).per_class["easy"]
    assert u.status == "incomputable" and u.details["recall_real_only"] == 1.0
    assert u.details["best_possible_gain_ci_lower"] <= 0.0
    assert "no room to show a gain" in u.reason and "no other class harmed" in u.reason
    harmful = UtilityValidator(n_bootstrap=200).validate_folds(_separable(True), seed=0).per_class["easy"]
    assert harmful.status == "fail" and harmful.details["worst_harm_class"] == "b"  # harm still fails it


def test_a_class_with_room_keeps_its_verdict(results):
    for case in CASES:
        u = results[case][0].per_class[RARE]
        assert u.status != "incomputable" and u.details["best_possible_gain_ci_lower"] > 0.0
