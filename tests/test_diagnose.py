"""Error taxonomy (:mod:`synthgen.diagnose`): each cause is named from its evidence, ranked, with a fix.

Unit cases feed one validator's typical failure and check the top cause; the end-to-end case runs the
real validation on digits with two broken generators (a constant image for one class, real samples of
another class relabelled for the other, as in benchmarks/evidence_cases.py) and checks that
report.json, the terminal summary and report.html carry the right top diagnosis.
"""
import json

import numpy as np
import pytest

from synthgen.diagnose import diagnose_class, diagnose_evaluation, feature_shift


def _v(status="pass", score=0.9, gate=None, **details):
    return {"status": status, "score": score, "gate": gate or status, "details": details, "reason": None, "statistic": None}


def _cls(verdict="fail", **validators):
    return {"verdict": verdict, "validators": validators, "reasons": []}


def test_pass_has_no_diagnosis():
    assert diagnose_class(_cls("pass", ks=_v())) == []


@pytest.mark.parametrize("validators,cause", [
    ({"schema": _v("fail", 0.0, invalid=3, problems=["s1: box outside the image"]), "ks": _v("fail", 0.3, worst_feature="brightness")},
     "annotation_errors"),
    ({"duplicates": _v("fail", 0.1, metric="near_copy", metrics={"near_copy": {"passed": False}, "internal": {"passed": True}},
                       exact_copies_of_real=4, near_copy_share_full=0.6), "ks": _v("fail", 0.2, worst_feature="contrast")},
     "memorisation"),
    ({"diversity": _v("fail", 0.05, metrics={"nn_spread": {"passed": False}, "cluster_reach": {"passed": False}}),
      "mmd": _v("fail", 0.0)}, "mode_collapse"),
    ({"label_agreement": _v("fail", 0.0, accuracy=0.1, predicted_as={"8": 40, "1": 3}), "ks": _v("fail", 0.1, worst_feature="x")},
     "label_disagreement"),
    ({"filter": _v("fail", 0.2, dropped=30), "ks": _v("pass")}, "off_support"),
    ({"ks": _v("fail", 0.2, worst_feature="brightness"), "mmd": _v("fail", 0.1)}, "distribution_shift"),
    ({"utility": _v("fail", 0.3, why="recall gain CI lower bound -0.01 <= min_gain 0"), "ks": _v("pass")}, "no_utility"),
])
def test_top_cause_from_the_evidence(validators, cause):
    d = diagnose_class(_cls(**validators))
    assert d[0]["cause"] == cause, d
    assert d[0]["fix"] and d[0]["evidence"] and d[0]["validators"]


def test_label_disagreement_names_the_class_it_is_confused_with():
    d = diagnose_class(_cls(label_agreement_cf=_v("fail", 0.0, agreement=0.05, predicted_as={"1": 2, "8": 38})),
                       kinds={"label_agreement_cf": "label_agreement_cf"})
    assert d[0]["cause"] == "label_disagreement" and d[0]["confused_with"] == "8" and "'8'" in d[0]["fix"]


def test_a_failing_check_outranks_a_warning():
    d = diagnose_class(_cls(bias=_v("warn", 0.1, worst_feature="orientation", flags=["orientation skewed"]),
                            utility=_v("fail", 0.45, why="no gain")))
    assert [x["cause"] for x in d] == ["no_utility", "attribute_bias"] and d[0]["decides"] and not d[1]["decides"]


def test_incomputable_class_is_too_little_data():
    c = _cls("incomputable", ks={"status": "incomputable", "score": None, "gate": "incomputable", "details": {},
                                 "reason": "class 'x': 3 real samples, need at least 10"})
    d = diagnose_class(c)
    assert d[0]["cause"] == "too_little_real_data" and "3 real samples" in d[0]["evidence"][0]


def test_no_room_for_utility_is_already_recognised_not_too_little_data():
    why = ("class '5': no room to show a gain: the real-only probe's recall on the class's held-out real samples is "
           "already 0.98, so even data fixing every miss would have a gain interval starting at +0.000 <= min_gain +0.000")
    c = _cls("warn", utility={"status": "incomputable", "score": None, "gate": "warn", "details": {}, "reason": why},
             schema=_v(), duplicates=_v())
    d = diagnose_class(c)
    assert [x["cause"] for x in d] == ["already_recognised"] and "already 0.98" in d[0]["evidence"][0]
    assert "utility.probe" in d[0]["fix"] and not d[0]["decides"]


def test_a_feature_blank_in_every_real_sample_has_a_finite_shift():
    rng = np.random.default_rng(0)
    real = np.c_[rng.normal(0, 1, (40, 3)), np.full(40, 1e-7) + rng.normal(0, 1e-11, 40)]
    syn = np.c_[rng.normal(0, 1, (40, 3)), np.r_[np.zeros(30), np.full(10, 0.5)]]
    f = feature_shift(["a", "b", "c", "blank"], real, syn)["features"]
    assert f[0]["feature"] == "blank" and f[0]["direction"] == "higher" and 1.0 < f[0]["shift_sd"] < 10.0


def test_shift_names_features_and_direction():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = rng.normal(size=(200, 3)) + [0.0, -2.0, 0.0]
    shift = {"stats": feature_shift(["a", "b", "c"], x, y)}
    assert shift["stats"]["features"][0]["feature"] == "b" and shift["stats"]["features"][0]["direction"] == "lower"
    d = diagnose_class(_cls(ks=_v("fail", 0.1, worst_feature="b")), shift)
    assert d[0]["cause"] == "distribution_shift" and d[0]["features"][0]["feature"] == "b"
    assert "b lower" in d[0]["evidence"][0] and "raise b" in d[0]["fix"]
    # the same shape with every synthetic row alike: the spread says mode collapse
    flat = {"stats": feature_shift(["a", "b", "c"], x, np.tile(y[:1], (200, 1)))}
    assert diagnose_class(_cls(ks=_v("fail", 0.1, worst_feature="b")), flat)[0]["cause"] == "mode_collapse"


def test_evaluation_diagnosis_groups_and_ranks():
    from synthgen.sample import Provenance, Sample

    samples, preds = [], []
    for label in ("a", "b"):
        for i in range(4):
            base = f"{label}{i}"
            for corr, fam, sev in (("clean", None, 0), ("blur", "blur", 1), ("blur", "blur", 3), ("noise", "noise", 1), ("noise", "noise", 3)):
                prov = Provenance("t", "1", "0" * 64, 0, label, i, (base,), {"corruption": corr, "severity": sev, "family": fam}, {})
                samples.append(Sample(f"{base}-{corr}-{sev}", np.zeros((4, 4, 3), np.uint8), label, provenance=prov))
                # class a breaks under noise at severity 1; blur never hurts
                wrong = corr == "noise" and (label == "a" or sev == 3)
                preds.append(("b" if label == "a" else "a") if wrong else label)
    from synthgen.dataset import Dataset
    from synthgen.evaluate import evaluate

    res = evaluate(Dataset(samples, ["a", "b"], "suite", "imagefolder", "image"), preds, None)
    d = res["diagnosis"]
    assert d["families"][0]["family"] == "noise" and d["families"][0]["severities"]["1"]["error"] == 0.5
    assert d["worst_corruptions"][0] == "noise"
    assert [c["label"] for c in d["classes_break_first"]] == ["a", "b"] and d["classes_break_first"][0]["breaks_at"] == 1
    assert d["examples"] and all(e["corruption"] == "noise" and e["predicted"] != e["label"] for e in d["examples"][:4])
    assert d == diagnose_evaluation(samples, preds, res)


# --- end to end --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def broken(digits, tmp_path_factory):
    """Real digits 3, 5 and 8.  Synthetic '3': real 8s relabelled; synthetic '5': one constant image."""
    from omegaconf import OmegaConf

    from synthgen.sample import Provenance, Sample
    from synthgen.validate import validate_and_report

    out = tmp_path_factory.mktemp("diag")
    keep = [s for s in digits.samples if s.label in ("3", "5", "8")]
    ref = digits.subset(keep)
    ref.classes = ["3", "5", "8"]
    eights = [s for s in digits.samples if s.label == "8"]
    prov = lambda l, i: Provenance("tests.broken", "1", "0" * 64, 0, l, i)  # noqa: E731
    syn = [Sample(f"relabel-{i:03d}", eights[(7 * i) % len(eights)].data, "3", provenance=prov("3", i)) for i in range(40)]
    syn += [Sample(f"constant-{i:03d}", np.full((32, 32, 3), 90, np.uint8), "5", provenance=prov("5", i)) for i in range(40)]
    cfg = OmegaConf.create({
        "seed": 0, "workers": 1, "report": {"examples": 4}, "gate": {},
        "validation": {"cache_dir": None,
                       "featurizers": {"stats": {"_target_": "synthgen.validators.features.ImageStatsFeaturizer"},
                                       "thumb": {"_target_": "synthgen.validators.features.ThumbnailFeaturizer"}},
                       "validators": {"ks": {"_target_": "synthgen.validators.distribution.KSValidator", "features": "stats",
                                             "n_bootstrap": 10},
                                      "diversity": {"_target_": "synthgen.validators.memorisation.DiversityValidator",
                                                    "features": "thumb", "n_bootstrap": 10},
                                      "label_agreement": {"_target_": "synthgen.validators.labels.LabelAgreementValidator",
                                                          "features": "thumb"}}}})
    rep = validate_and_report(cfg, out, ref, syn, {"command": "validate", "seed": 0}, None)
    return rep, out


def test_broken_generators_get_the_right_top_diagnosis(broken, capsys):
    rep, out = broken
    c3, c5 = rep["classes"]["3"], rep["classes"]["5"]
    assert c3["verdict"] == "fail" and c5["verdict"] == "fail"
    assert c3["diagnosis"][0]["cause"] == "label_disagreement" and c3["diagnosis"][0]["confused_with"] == "8", c3["diagnosis"]
    assert c5["diagnosis"][0]["cause"] == "mode_collapse", c5["diagnosis"]
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["classes"]["3"]["diagnosis"] == c3["diagnosis"]
    page = (out / "report.html").read_text()
    assert "Diagnosis" in page and "label disagreement" in page and "too little diversity (mode collapse)" in page


def test_terminal_summary_names_the_cause(broken):
    from synthgen.report import summary_table

    lines = summary_table(broken[0]).splitlines()
    why = {l.split(":")[0]: l for l in lines if l.startswith("why ")}
    assert set(why) == {"why 3", "why 5"}
    assert "label disagreement" in why["why 3"] and "'8'" in why["why 3"]
    assert "mode collapse" in why["why 5"]
