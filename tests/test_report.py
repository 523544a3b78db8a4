"""End to end: `synthgen validate` on two ImageFolder datasets (any pair, any supported format), the
gate's exit code for CI, the filter, report.json (schema v2) and report.html rendered by headless
Chromium with no console messages (the report has no scripts, so any message is an error)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synthgen.io.imagefolder import write_imagefolder
from synthgen.sample import Sample

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAST = ["++validation.validators.mmd.n_permutations=200", "++validation.validators.energy.n_permutations=200",
        "++validation.validators.c2st.n_bootstrap=5", "++validation.validators.prdc.n_bootstrap=10",
        "++validation.validators.alpha_precision.n_bootstrap=10", "++validation.validators.diversity.n_bootstrap=10"]


def _synthgen(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SYNTHGEN_CACHE_DIR": str(Path(cwd) / "cache")}
    return subprocess.run([sys.executable, "-m", "synthgen", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def pair(digits, tmp_path_factory):
    """Real: classes 3 and 5 (first halves).  Synthetic: the other half of 3; 5 blurred, plus 2 outliers."""
    import cv2

    root = tmp_path_factory.mktemp("pair")
    real, syn = [], []
    for c in ("3", "5"):
        ss = [s for s in digits.samples if s.label == c]
        real += ss[::2]
        for i, s in enumerate(ss[1::2]):
            img = s.data if c == "3" else cv2.GaussianBlur(s.data, (0, 0), 1.5)
            syn.append(Sample(f"syn-{c}-{i:03d}", img, c))
    syn += [Sample(f"syn-3-out{i}", np.full((32, 32, 3), 255 * i, np.uint8), "3") for i in range(2)]
    write_imagefolder(real, ["3", "5"], str(root / "real"))
    write_imagefolder(syn, ["3", "5"], str(root / "syn"))
    return root


@pytest.fixture(scope="module")
def validated(pair):
    out = pair / "run"
    p = _synthgen("validate", "dataset=imagefolder", f"dataset.path={pair / 'real'}", f"synthetic.path={pair / 'syn'}",
                  "validation=image_evidence", "gate.ci=true", "gate.filter.enabled=true", f"hydra.run.dir={out}", *FAST, cwd=pair)
    return p, out


def test_validate_any_pair_with_ci_exit_code(validated):
    p, out = validated
    assert p.returncode == 3, p.stderr[-2000:]  # a class failed: CI sees 3, the report stays
    rep = json.loads((out / "report.json").read_text())
    assert rep["schema"] == "synthgen/report" and rep["schema_version"] == 3 and rep["exit_code"] == 3
    assert rep["classes"]["3"]["verdict"] == "pass", rep["classes"]["3"]["failed_by"]
    assert rep["classes"]["5"]["verdict"] == "fail" and "filter (dropped_share)" in rep["classes"]["5"]["failed_by"]
    assert rep["classes"]["5"]["n_dropped"] > 0.2 * rep["classes"]["5"]["n_synthetic"]
    dropped = {d["id"]: d for d in rep["filter"]["dropped"]}
    assert {"syn-3-out0", "syn-3-out1"} <= set(dropped) and all(d["reasons"] for d in dropped.values())
    for c in rep["classes"].values():
        for name, v in c["validators"].items():
            assert v["status"] == "incomputable" or (0 <= v["score"] <= 1 and v["baseline"]), name
    assert rep["validators"]["ks"]["features"] == "stats" and rep["validators"]["duplicates"]["features"] is None
    ks = rep["classes"]["3"]["validators"]["ks"]  # every calibrated verdict says how stable it is (issue 17.2)
    assert 0.5 <= ks["details"]["stability"] <= 1.0 and len(ks["details"]["statistic_interval"]) == 2
    assert "<th>stability</th>" in (out / "report.html").read_text()
    assert "PASS" in p.stdout and "FAIL" in p.stdout and "dropped" in p.stdout


def test_same_input_same_report(validated, pair):
    _, out = validated
    again = pair / "again"
    p = _synthgen("validate", "dataset=imagefolder", f"dataset.path={pair / 'real'}", f"synthetic.path={pair / 'syn'}",
                  "validation=image_evidence", "gate.ci=true", "gate.filter.enabled=true", f"hydra.run.dir={again}", *FAST, cwd=pair)
    assert p.returncode == 3, p.stderr[-2000:]
    assert (out / "report.json").read_bytes() == (again / "report.json").read_bytes()
    assert (out / "report.html").read_bytes() == (again / "report.html").read_bytes()


def test_without_filter_the_blurred_class_fails_on_sharpness(pair):
    p = _synthgen("validate", "dataset=imagefolder", f"dataset.path={pair / 'real'}", f"synthetic.path={pair / 'syn'}",
                  f"hydra.run.dir={pair / 'plain'}", "validation.validators.mmd.n_permutations=200", cwd=pair)
    assert p.returncode == 0, p.stderr[-2000:]  # gate.ci is off by default: the verdict does not change the exit code
    rep = json.loads((pair / "plain" / "report.json").read_text())
    # distribution checks are evidence in the default gate: the class warns, naming the feature
    assert "ks (sharpness)" in rep["classes"]["5"]["warned_by"] and not rep["filter"]["dropped"]
    assert rep["classes"]["5"]["verdict"] in ("warn", "fail") and "ks" not in str(rep["classes"]["5"]["failed_by"])


def test_bad_gate_key_is_one_line(pair):
    p = _synthgen("validate", "dataset=imagefolder", f"dataset.path={pair / 'real'}", f"synthetic.path={pair / 'syn'}",
                  "+gate.validators.ks.colour=red", f"hydra.run.dir={pair / 'bad'}", cwd=pair)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith("synthgen: error: gate.validators.ks.colour")
    assert not (pair / "bad" / "report.json").exists()


def _chromium(url: str, tmp: Path, shot: Path) -> tuple[str, str]:
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
            "--enable-logging=stderr", "--v=0", "--window-size=1200,1600"]
    shot_p = subprocess.run(args + [f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    dom_p = subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    console = [l for l in (shot_p.stderr + dom_p.stderr).splitlines() if ":CONSOLE" in l]
    return dom_p.stdout, "\n".join(console)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed")
def test_report_renders_in_chromium(validated, tmp_path):
    from PIL import Image

    _, out = validated
    ctl = tmp_path / "control.html"  # the detector must see a console error when there is one
    ctl.write_text("<html><body>x<script>console.error('control-error')</script></body></html>")
    _, console = _chromium(ctl.as_uri(), tmp_path / "c", tmp_path / "control.png")
    assert "control-error" in console
    shot = out / "report.png"
    dom, console = _chromium((out / "report.html").as_uri(), tmp_path / "r", shot)
    assert console == ""
    assert "Verdicts" in dom and "Class 5: FAIL" in dom and "Filtered samples" in dom
    assert dom.count("<svg") > 20 and "most typical synthetic" in dom and "PCA of stats features" in dom
    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape == (1600, 1200) and img.std() > 5  # something was drawn
