"""Model-guided targeting (policy.target=model): the budget follows the model's errors, and the parents
the model gets wrong are drawn more often.

The constructed case: two large classes and two rare ones of 15 images each.  "easy" is a pattern no
other class shows; half of "hard" are near-copies of class "big1", so a probe gets them wrong.  The
uniform plan gives both rare classes the same count; the model-guided one must give "hard" more.
"""
from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
from omegaconf import OmegaConf

from synthgen.dataset import Dataset
from synthgen.pipeline import plan_for
from synthgen.sample import Sample


def _img(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    a = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    return np.repeat(a[:, :, None], 3, axis=2)


def _case() -> Dataset:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]
    pats = {"big1": 255.0 * (xx < 8), "big2": 255.0 * (yy < 8), "easy": 255.0 * ((xx + yy) % 4 < 2)}
    samples = []
    for label, n in (("big1", 60), ("big2", 60), ("easy", 15), ("hard", 15)):
        for i in range(n):
            if label == "hard":  # odd ones look like big1, even ones show their own pattern (a centre square)
                base = pats["big1"] if i % 2 else 255.0 * ((abs(xx - 7.5) < 4) & (abs(yy - 7.5) < 4))
            else:
                base = pats[label]
            samples.append(Sample(id=f"{label}-{i:03d}", data=_img(base, rng), label=label))
    return Dataset(samples, ["big1", "big2", "easy", "hard"], source="constructed")


def _cfg(**policy):
    base = {"target": "model", "max_synthetic_fraction": 0.95, "rare_below": 0.5, "budget": 40, "floor": 0.05,
            "parent_boost": 3, "low_margin": 0.2, "folds": 5, "model": "probe", "eval": None, "fill": "max"}
    return OmegaConf.create({"seed": 0, "policy": {**base, **policy}})


def test_budget_goes_to_the_class_the_model_gets_wrong():
    ds = _case()
    uniform = plan_for(OmegaConf.create({"seed": 0, "policy": {"target": "max", "max_synthetic_fraction": 0.95,
                                                                 "rare_below": 0.5}}), ds).counts()
    assert uniform["easy"] == uniform["hard"] > 0
    plan = plan_for(_cfg(), ds)
    got = plan.counts()
    assert got["big1"] == got["big2"] == 0
    assert got["easy"] + got["hard"] == 40  # the same synthetic count, re-allocated
    assert got["hard"] > 2 * got["easy"], plan.table()
    rows = {r.label: r for r in plan.rows}
    assert rows["hard"].error > rows["easy"].error
    assert rows["hard"].confused_with == "big1"
    table = plan.table()
    assert "confused with" in table and "cross-fitted" in table and "big1" in table
    d = plan.to_dict()
    assert d["guidance"]["confusions"]["hard"][0] == "big1"
    # the uniform plan's dictionary (the run key of every existing run) has no guided fields
    assert "error" not in plan_for(OmegaConf.create({"policy": {"target": "max"}}), ds).to_dict()["rows"][0]


def test_budget_defaults_to_the_uniform_total_and_respects_caps():
    ds = _case()
    plan = plan_for(_cfg(budget=None, max_synthetic_fraction=0.8), ds)  # caps: 15 real -> at most 60 synthetic
    uniform = plan_for(OmegaConf.create({"policy": {"target": "max", "max_synthetic_fraction": 0.8, "rare_below": 0.5}}), ds)
    assert plan.total == uniform.total
    assert all(n <= 60 for n in plan.counts().values())


def test_parent_weights_favour_misclassified_parents():
    from pathlib import Path

    import synthgen.conf
    from synthgen.config import build

    ds = _case()
    plan = plan_for(_cfg(), ds)
    w = plan.guidance["parent_weights"]
    boosted = {i for i, v in w.items() if v > 1}
    lookalikes = {f"hard-{i:03d}" for i in range(1, 15, 2)}  # the hard images that look like big1
    assert len(boosted & lookalikes) >= 5, w
    assert len(boosted & lookalikes) > len(boosted - lookalikes)
    gen = build(OmegaConf.load(Path(synthgen.conf.__file__).parent / "generator" / "image_augment.yaml"), "generator")
    plain_digest = gen.config_digest
    gen.guide(plan.guidance).fit(ds)
    assert gen.config_digest != plain_digest  # guided samples get their own ids
    pool = gen.candidates("hard")
    assert Counter(s.id for s in pool)[sorted(boosted & lookalikes)[0]] == 4  # 1 + parent_boost
    made = list(gen.generate("hard", 300, seed=0))
    picks = Counter(s.provenance.parents[0] for s in made)
    # the provenance says how much more often each parent was drawn
    assert {s.provenance.params["parent_multiplicity"][s.provenance.parents[0]] for s in made} >= {1, 4}
    per_boosted = np.mean([picks[i] for i in boosted if i.startswith("hard")])
    per_plain = np.mean([picks[f"hard-{i:03d}"] for i in range(15) if f"hard-{i:03d}" not in boosted])
    assert per_boosted > 2 * per_plain, (per_boosted, per_plain)
    gen.guide(None)
    assert gen.config_digest == plain_digest


def test_eval_split_and_pickled_model(tmp_path):
    """A fitted pickle the user named, judged on an evaluation split: errors come from that split."""
    from synthgen.plan import guide_featurizer, model_errors

    ds = _case()
    feat = guide_featurizer(OmegaConf.create({}), "image")
    from sklearn.linear_model import LogisticRegression

    X = feat.transform(ds.samples)
    est = LogisticRegression(max_iter=2000).fit(X, [s.label for s in ds.samples])
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(est))
    from synthgen.plan import load_pickle

    loaded = load_pickle(str(path))
    err = model_errors(ds, feat, loaded, fitted=True, eval_set=ds.subset(ds.samples[-30:]), folds=3)
    assert "evaluation split" in err.source and err.n_eval == {"easy": 15, "hard": 15}


def test_pickle_inside_a_run_folder_is_refused(tmp_path):
    from synthgen.errors import ConfigError
    from synthgen.plan import load_pickle

    run = tmp_path / "outputs" / "run1"
    (run / ".hydra").mkdir(parents=True)
    (run / "report.json").write_text("{}")
    (run / "model.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(ConfigError, match="run folder"):
        load_pickle(str(run / "model.pkl"))


@pytest.mark.parametrize("override,needle", [
    ("policy.model=/nonexistent/model.pkl", "model file not found"),
    ("policy.floor=2", "policy.floor"),
])
def test_bad_model_input_is_one_line_exit_2(tmp_path, monkeypatch, capsys, override, needle):
    from synthgen.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["plan", "policy.target=model", override, f"hydra.run.dir={tmp_path / 'out'}"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_a_non_model_pickle_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from synthgen.cli import main

    p = tmp_path / "junk.pkl"
    p.write_bytes(pickle.dumps([1, 2, 3]))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["plan", "policy.target=model", f"policy.model={p}", f"hydra.run.dir={tmp_path / 'out'}"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a classifier" in err[0], err


def test_copy_paste_prefers_backgrounds_of_confused_classes():
    from pathlib import Path

    import synthgen.conf
    from synthgen.config import build

    rng = np.random.default_rng(0)
    samples = [Sample(id=f"{c}-{i}", data=rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), label=c,
                      annotations={"objects": [{"category": c, "bbox": [8.0, 8.0, 12.0, 12.0]}]})
               for c in "abc" for i in range(3)]
    ds = Dataset(samples, ["a", "b", "c"], source="constructed", task="detection")
    gen = build(OmegaConf.load(Path(synthgen.conf.__file__).parent / "generator" / "image_copy_paste.yaml"), "generator")
    gen.fit(ds)
    plain = Counter(b["id"][0] for b in gen._backgrounds("a"))
    assert plain == {"b": 3, "c": 3}
    gen.guide({"confusions": {"a": ["b"]}, "parent_boost": 3, "parent_weights": {}}).fit(ds)
    guided = Counter(b["id"][0] for b in gen._backgrounds("a"))
    assert guided == {"b": 12, "c": 3}  # the class the model mistakes 'a' for is pasted on 4x as often
