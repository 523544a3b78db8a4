"""The gate: rules -> verdicts (PASS/WARN/FAIL/INCOMPUTABLE), config errors, exit codes, the filter."""
import numpy as np
import pytest

from synthgen.errors import ConfigError
from synthgen.gate import GatePolicy, class_verdicts, exit_code, filter_samples
from synthgen.sample import Sample
from synthgen.validators.result import ClassResult, ValidationResult


def _res(name, **per):
    out = {}
    for label, (status, score) in per.items():
        out[label] = ClassResult(label, status, statistic=0.1, score=score, threshold=0.2,
                                 reason="too few" if status == "incomputable" else None)
    return ValidationResult(name, "s", out)


RESULTS = {"ks": _res("ks", a=("pass", 0.9), b=("fail", 0.2), c=("pass", 0.55), d=("incomputable", None)),
           "c2st": _res("c2st", a=("pass", 0.8), b=("pass", 0.9), c=("fail", 0.3), d=("pass", 0.9))}


def test_default_verdicts_keep_the_foundation_shape():
    v = class_verdicts(RESULTS, ["a", "b", "c", "d"])
    assert {k: x["verdict"] for k, x in v.items()} == {"a": "pass", "b": "fail", "c": "fail", "d": "incomputable"}
    assert v["b"]["failed_by"] == ["ks"] and v["d"]["reasons"] == ["ks: too few"]
    assert set(v["a"]) >= {"verdict", "validators", "failed_by", "reasons", "warned_by"}


def test_rules_per_validator_and_class():
    gate = {"default": {"warn_below": 0.6}, "validators": {"c2st": {"severity": "warn"}},
            "classes": {"b": {"ks": {"severity": "off"}}}, "incomputable": "warn"}
    v = class_verdicts(RESULTS, ["a", "b", "c", "d"], gate)
    assert v["a"]["verdict"] == "pass"
    assert v["b"]["verdict"] == "pass" and v["b"]["validators"]["ks"] == "ignored"
    assert v["c"]["verdict"] == "warn" and v["c"]["warned_by"] == ["ks", "c2st"]  # 0.55 < warn_below; c2st demoted
    assert v["d"]["verdict"] == "warn"
    strict = class_verdicts(RESULTS, ["a"], {"validators": {"c2st": {"fail_below": 0.85}}})
    assert strict["a"]["verdict"] == "fail" and strict["a"]["failed_by"] == ["c2st"]


@pytest.mark.parametrize("bad,key", [({"nope": 1}, "gate.nope"), ({"default": {"severity": "loud"}}, "gate.default.severity"),
                                     ({"validators": {"ks": {"fail_below": 2}}}, "gate.validators.ks.fail_below"),
                                     ({"classes": {"a": {"ks": {"colour": 1}}}}, "gate.classes.a.ks.colour"),
                                     ({"incomputable": "maybe"}, "gate.incomputable"), ({"filter": {"kk": 3}}, "gate.filter.kk")])
def test_config_errors_name_the_key(bad, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        GatePolicy(bad)


def test_exit_codes():
    mk = lambda *vs: {str(i): {"verdict": v} for i, v in enumerate(vs)}  # noqa: E731
    assert exit_code(mk("pass", "warn")) == 0
    assert exit_code(mk("pass", "warn"), GatePolicy({"warn_is_failure": True})) == 5
    assert exit_code(mk("incomputable", "warn")) == 4
    assert exit_code({"classes": mk("fail", "incomputable")}) == 3


def test_filter_drops_samples_outside_support_with_reasons():
    r = np.random.default_rng(0)
    real = r.normal(size=(200, 4))
    syn = np.vstack([r.normal(size=(30, 4)), np.full((2, 4), 9.0)])
    samples = [Sample(f"s{i}", np.zeros((2, 2, 3), np.uint8), "a") for i in range(32)]
    keep, dropped = filter_samples({"a": real}, {"a": syn}, {"a": samples}, {"a": [f"r{i}" for i in range(200)]},
                                   GatePolicy({"filter": {"enabled": True, "drop_copies": False}}).filter)
    assert keep["a"][:30].sum() >= 28 and not keep["a"][30:].any()
    far = [d for d in dropped if d["id"] in ("s30", "s31")]
    assert len(far) == 2 and all("far from every real neighbour" in " ".join(d["reasons"]) for d in far)
    assert all("low density" in " ".join(d["reasons"]) and d["nearest_real"].startswith("r") for d in far)
