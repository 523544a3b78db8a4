"""Size and power of the C2ST p-value (issue 16 item 5): the out-of-fold AUC's null variance is larger
than Mann-Whitney's, so the test is a refitting permutation test (see ``validators.stats.c2st``)."""
import numpy as np
import pytest

from synthgen.validators import stats as S


def _rates(reps: int, shift: float, seed0: int = 0) -> tuple[float, float]:
    rej = rej_perm = 0
    for s in range(seed0, seed0 + reps):
        r = np.random.default_rng(s)
        x, y = r.normal(size=(60, 4)), r.normal(size=(60, 4))
        y[:, 0] += shift
        res = S.c2st(x, y, seed=s)
        rej += res["p_value"] < 0.05
        rej_perm += res["p_value_perm"] < 0.05
    return rej / reps, rej_perm / reps


def test_c2st_null_size_fast():
    # 40 repetitions: Binomial(40, 0.05) exceeds 6 rejections with probability ~1.4 %
    size, size_perm = _rates(40, 0.0, seed0=1000)
    assert size <= 6 / 40 and size_perm <= 6 / 40


@pytest.mark.slow
def test_c2st_null_size():
    size, size_perm = _rates(200, 0.0)
    assert size <= 0.075 and size_perm <= 0.075


def test_c2st_power_under_shift():
    power, power_perm = _rates(30, 1.0, seed0=500)
    assert power >= 0.9 and power_perm >= 0.9


def test_c2st_permutation_pvalue_counts_observed_and_ci_widened():
    r = np.random.default_rng(7)
    x, y = r.normal(size=(60, 4)), r.normal(size=(60, 4)) + 3.0
    res = S.c2st(x, y, seed=0, n_permutations=19)
    assert res["p_value_perm"] == pytest.approx(1 / 20) and res["p_value"] < 1e-6
    assert res["variance_inflation"] >= 1.0 and res["ci_low"] <= res["auc"] <= res["ci_high"]
    quick = S.c2st(x, y, seed=0, n_permutations=0)
    assert quick["auc"] == res["auc"] and np.isnan(quick["p_value"])
    assert quick["ci_high"] - quick["ci_low"] <= res["ci_high"] - res["ci_low"] + 1e-12
