"""Every calibrated verdict reports its uncertainty from the repeated splits it is computed from (issue 17.2).

``details.stability`` is the share of splits (held-out mode), folds x repeats (cross-fit mode) or
repeats (utility) that agree with the verdict; the report shows it beside each score.
"""
import numpy as np
import pytest

from synthgen.validators.distribution import (EnergyValidator, KSValidator, MMDValidator, PRDCValidator, calibrate)
from synthgen.validators.result import FAIL, PASS, ClassResult, ValidationResult, combine_folds


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(3)
    real = r.normal(size=(60, 5))
    same = r.normal(size=(60, 5))
    shifted = r.normal(size=(60, 5)) + 2.0
    edge = r.normal(size=(60, 5)) + 0.35
    return {"c": real}, same, shifted, edge


def test_calibrate_stability_is_the_share_of_splits_agreeing_with_the_verdict():
    base = np.linspace(0.0, 1.0, 101)  # median 0.5, q95 0.95: threshold 0.95
    obs = np.r_[np.full(30, 0.5), np.full(10, 2.0)]  # 30 of 40 splits under the threshold; median 0.5: pass
    c = calibrate(obs, base)
    assert c["passed"] and c["threshold"] == pytest.approx(0.95)
    assert c["pass_share"] == 0.75 and c["stability"] == 0.75
    c = calibrate(np.r_[np.full(10, 0.5), np.full(30, 2.0)], base)  # fail, 30 of 40 agree
    assert not c["passed"] and c["pass_share"] == 0.25 and c["stability"] == 0.75
    hib = calibrate(-np.r_[np.full(30, 0.5), np.full(10, 2.0)], -base, higher_is_better=True)
    assert hib["passed"] and hib["stability"] == 0.75  # the same for a higher-is-better metric
    lo, hi = hib["statistic_interval"]
    assert lo <= hib["statistic"] <= hi


@pytest.mark.parametrize("cls", [KSValidator, MMDValidator, EnergyValidator, PRDCValidator])
def test_held_out_verdicts_carry_their_stability(cls, data):
    real, same, shifted, _ = data
    kw = {"n_permutations": 50} if cls in (MMDValidator, EnergyValidator) else {}
    v = cls(n_bootstrap=40, **kw)
    far = v.validate(real, {"c": shifted}, [f"f{i}" for i in range(5)], seed=0).per_class["c"]
    assert far.status == FAIL and far.details["stability"] == 1.0  # every split sees the shift
    near = v.validate(real, {"c": same}, [f"f{i}" for i in range(5)], seed=0).per_class["c"]
    assert near.status == PASS and 0.5 <= near.details["stability"] <= 1.0
    lo, hi = near.details["statistic_interval"]
    assert lo <= near.statistic <= hi


def test_a_marginal_shift_is_reported_as_less_stable_than_a_clear_one(data):
    real, same, shifted, edge = data
    names = [f"f{i}" for i in range(5)]
    v = MMDValidator(n_bootstrap=60, n_permutations=50)
    stab = {k: v.validate(real, {"c": y}, names, seed=0).per_class["c"].details["stability"]
            for k, y in (("same", same), ("edge", edge), ("far", shifted))}
    assert stab["far"] == 1.0 and stab["edge"] < 1.0 and stab["edge"] < stab["far"]


def test_combined_folds_report_agreement_with_the_verdict():
    def res(status, score):
        return ValidationResult("ks", "d", {"c": ClassResult("c", status, statistic=0.1, score=score, threshold=0.2)})

    out = combine_folds([res(PASS, 0.8), res(PASS, 0.7), res(FAIL, 0.4), res(PASS, 0.6)], ["c"]).per_class["c"]
    assert out.status == PASS and out.details["pass_share"] == 0.75 and out.details["stability"] == 0.75
    out = combine_folds([res(FAIL, 0.2), res(FAIL, 0.3), res(PASS, 0.6), res(FAIL, 0.1)], ["c"]).per_class["c"]
    assert out.status == FAIL and out.details["pass_share"] == 0.25 and out.details["stability"] == 0.75


def test_cross_fitted_label_agreement_reports_its_stability():
    from synthgen.validators.crossfit import CrossFitLabelValidator, Fold, make_folds

    rng = np.random.default_rng(0)
    real = {"a": rng.normal(0, 1, (30, 4)), "b": rng.normal(0, 1, (30, 4)) + 2.5}
    good, bad = [], []
    for r, f, tr, te in make_folds(real, 3, 2, seed=0):
        g = np.random.default_rng([r, f])
        good.append(Fold.from_indices(real, r, f, tr, te, {"a": g.normal(0, 1, (20, 4))}))
        bad.append(Fold.from_indices(real, r, f, tr, te, {"a": g.normal(0, 1, (20, 4)) + 2.5}))  # b's, labeled a
    ok = CrossFitLabelValidator(n_bootstrap=300).validate_folds(good, seed=0).per_class["a"]
    no = CrossFitLabelValidator(n_bootstrap=300).validate_folds(bad, seed=0).per_class["a"]
    assert ok.status == PASS and 0.5 <= ok.details["stability"] <= 1.0
    assert no.status == FAIL and no.details["stability"] == 1.0
    lo, hi = ok.details["statistic_interval"]
    assert lo <= ok.statistic <= hi
