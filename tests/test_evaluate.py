"""End to end on real data: a model trained here on scikit-learn's digits, stressed and evaluated from the CLI."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from synthgen.errors import ConfigError
from synthgen.evaluate import AUGMENTATION_TO_CORRUPTIONS, find_leaks, load_baseline, training_augmentations

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "synthgen", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """Standardised-pixel logistic regression on half of the digits (a realistic, noise-fragile model)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from synthgen.io.digits import digits_images
    from synthgen.stress.models import image_features

    X, y = digits_images(32)
    m = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(image_features(list(X[::2]), 32), [str(v) for v in y[::2]])
    p = tmp_path_factory.mktemp("model") / "digits.pkl"
    p.write_bytes(pickle.dumps(m))
    return p


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    d = tmp_path_factory.mktemp("stress")
    r = _cli("stress", "stress=imagenet_c_noise", "stress.per_class=4", "seed=3", "hydra.run.dir=run", cwd=d)
    assert r.returncode == 0, r.stderr
    return d / "run"


def test_stress_writes_suite_with_provenance(suite):
    info = json.loads((suite / "suite.json").read_text())
    assert info["n_base"] == 40 and info["n_samples"] == 40 * 16 and info["format"] == "imagefolder"
    recs = [json.loads(l) for l in (suite / "suite" / "manifest.jsonl").read_text().splitlines()]
    assert len(recs) == 640
    by = {}
    for r in recs:
        p = r["provenance"]
        assert p["parents"] and p["params"]["corruption"] in ("clean", "gaussian_noise", "shot_noise", "impulse_noise")
        by.setdefault(p["params"]["corruption"], set()).add(p["params"]["severity"])
        if p["params"]["corruption"] != "clean":
            assert p["generator"] == f"synthgen.stress.images.{p['params']['corruption']}"
    assert by["gaussian_noise"] == {1, 2, 3, 4, 5} and by["clean"] == {0}


def test_stress_is_deterministic(suite, tmp_path):
    """Building the same suite again (in process) writes byte-identical files."""
    from omegaconf import OmegaConf

    from synthgen.stress.job import stress_job

    cfg = OmegaConf.load(suite / ".hydra" / "config.yaml")
    stress_job(cfg, tmp_path)
    assert (tmp_path / "suite/manifest.jsonl").read_bytes() == (suite / "suite/manifest.jsonl").read_bytes()
    first = sorted((suite / "suite").rglob("*.png"))
    assert [f.read_bytes() for f in first] == [(tmp_path / "suite" / f.relative_to(suite / "suite")).read_bytes() for f in first]


@pytest.mark.slow  # end-to-end run of `synthgen evaluate`
def test_evaluate_reports_and_gates(suite, model_path, tmp_path):
    common = [f"suite.path={suite / 'suite'}", "model=sklearn", f"model.path={model_path}", "training.augmentations=[GaussNoise,HorizontalFlip]"]
    ok = _cli("evaluate", *common, "limits.max_mce=200", "hydra.run.dir=ok", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    rep = json.loads((tmp_path / "ok/report.json").read_text())
    assert rep["schema"] == "synthgen/stress-report" and rep["schema_version"] == 1
    assert rep["baseline"]["name"] == "alexnet" and rep["summary"]["mce_corruptions"] == ["gaussian_noise", "impulse_noise", "shot_noise"]
    assert rep["clean"]["n"] == 40 and rep["clean"]["error"] < 0.2
    for name in ("gaussian_noise", "shot_noise", "impulse_noise"):
        e = [rep["corruptions"][name]["severities"][str(s)]["error"] for s in range(1, 6)]
        # noise raises the error as severity grows
        assert e[4] > e[0] and np.mean(e[3:]) > rep["clean"]["error"], (name, e)
        assert 0 <= rep["corruptions"][name]["failure_rate"] <= 1
    assert rep["leaks"] == [{"augmentation": "GaussNoise", "corruption": "gaussian_noise",
                             "why": "the model was trained with this corruption, so its error on it overstates robustness"}]
    assert "leak" in ok.stderr and "<svg" in (tmp_path / "ok/report.html").read_text()
    # the same model as its own baseline: mCE 100 exactly
    again = _cli("evaluate", *common, f"baseline={tmp_path / 'ok/report.json'}", "limits.max_mce=100.0001", "hydra.run.dir=self", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "self/report.json").read_text())["summary"]["mce"] == pytest.approx(100.0)


@pytest.mark.slow  # end-to-end run of `synthgen evaluate`
def test_evaluate_exits_3_and_names_every_crossed_limit(suite, model_path, tmp_path):
    common = [f"suite.path={suite / 'suite'}", "model=sklearn", f"model.path={model_path}", "training.augmentations=[GaussNoise]"]
    r = _cli("evaluate", *common, "limits.max_mce=1", "+limits.max_error_at_severity={5: 0.01}", "limits.fail_on_leak=true",
             "hydra.run.dir=bad", cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "limit crossed: mCE" in r.stderr and "at severity 5" in r.stderr and "leak: gaussian_noise" in r.stderr
    rep = json.loads((tmp_path / "bad/report.json").read_text())  # the report stays for CI to read
    assert rep["limits"]["exit_code"] == 3 and len(rep["limits"]["crossed"]) >= 3


def test_bad_input_is_one_line_exit_2(tmp_path):
    r = _cli("stress", "stress.corruptions=[gaussian_noise,fooo]", "hydra.run.dir=y", cwd=tmp_path)
    assert r.returncode == 2 and "stress.corruptions[1]: unknown image corruption 'fooo'" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "y" / "suite").exists()


def test_leak_check_reads_albumentations_yaml(tmp_path):
    p = tmp_path / "aug.yaml"
    p.write_text("transform:\n  __class_fullname__: Compose\n  transforms:\n"
                 "    - {__class_fullname__: MotionBlur, p: 0.5}\n    - {__class_fullname__: HorizontalFlip, p: 0.5}\n")
    augs = training_augmentations(str(p))
    assert augs == ["MotionBlur", "HorizontalFlip"]
    assert find_leaks(augs, ["motion_blur", "fog"]) [0]["corruption"] == "motion_blur"
    assert find_leaks(["fog"], ["fog"])[0]["augmentation"] == "fog"
    assert set(AUGMENTATION_TO_CORRUPTIONS["ColorJitter"]) == {"brightness", "contrast", "saturate"}
    assert load_baseline("auto", "modelnet-c")["name"] == "dgcnn" and load_baseline("auto", "checklist") is None


def test_leak_check_reads_a_packaged_generator_config_from_any_folder(tmp_path, monkeypatch):
    """The README's `training.augmentations=generator:image_augment` works outside a checkout."""
    monkeypatch.chdir(tmp_path)
    augs = training_augmentations("generator:image_augment")
    assert augs and all(isinstance(a, str) for a in augs)
    with pytest.raises(ConfigError, match=r"^training\.augmentations: no packaged generator config 'generator:nope' \(known: .*generator:image_augment"):
        training_augmentations("generator:nope")
