"""Report pages as a person sees them, in headless Chromium at a laptop's 1366 px.

Three real runs (image copy-paste on the coins, text augmentation on fortunes, LiDAR object insertion)
plus a page with every image_full validator and an evaluate page.  A measuring script is added to a
copy of each page (the reports themselves hold no scripts); Chromium lays the page out and the DOM it
dumps carries what the script measured: no horizontal overflow and the verdict table inside the
window, histograms with both axes, ticks and a unit, the header's exit code equal to the one the run
returned, text samples with their line breaks, boxes and masks drawn on detection thumbnails, LiDAR
thumbnails cropped to the inserted objects, and the evaluate page's corrupted examples.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed")]
WIDTH = 1366

MEASURE = """<script>
const q = (s, r) => [...(r || document).querySelectorAll(s)];
const m = {inner: window.innerWidth, scroll: document.documentElement.scrollWidth};
const vt = document.querySelector('table.verdicts');
m.verdict_right = vt ? vt.getBoundingClientRect().right : null;
m.tables_right = Math.max(0, ...q('table').map(t => t.getBoundingClientRect().right));
m.hists = q('svg.hist').map(s => ({axes: q('line.axis', s).length, ticks: q('text', s).length,
                                   unit: (s.querySelector('.xlabel') || {}).textContent || '',
                                   ylabel: (s.querySelector('.ylabel') || {}).textContent || ''}));
m.exit = (document.querySelector('.exit') || {}).textContent || '';
m.boxes = q('svg.thumb rect.box').length;
m.masks = q('svg.thumb image.mask').length;
m.texts = q('.txt').map(e => e.textContent);
m.clouds = q('svg.pc').map(s => {
  const w = s.width.baseVal.value, b = q('polygon.box', s).map(p => p.getBBox());
  return {w: w, boxes: b.length, widest: Math.max(0, ...b.map(x => Math.max(x.width, x.height))) / w};
});
m.diagnoses = q('.diag li').length;
m.examples = q('.example svg.thumb').length;
m.bars = q('.charts svg').length;
const e = document.createElement('pre'); e.id = 'metrics'; e.textContent = JSON.stringify(m); document.body.appendChild(e);
</script>"""


def _synthgen(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SYNTHGEN_CACHE_DIR": str(Path(cwd) / "cache")}
    return subprocess.run([sys.executable, "-m", "synthgen", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def measure(page: Path, tmp: Path) -> dict:
    """Lay ``page`` out in Chromium at WIDTH px and return what :data:`MEASURE` found."""
    copy = tmp / f"measured-{page.parent.name}.html"
    copy.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
                        f"--window-size={WIDTH},900", "--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="metrics">(.*?)</pre>', p.stdout, re.DOTALL)
    assert found, p.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    out = {}
    for name, args in {"image": ["+experiment=coins_copy_paste", "gate.ci=true"],
                       "text": ["+experiment=fortunes_augment", "policy.classes=[love]", "policy.target=60"],
                       "points": ["+experiment=lidar_insert"]}.items():
        p = _synthgen("run", *args, f"hydra.run.dir={root / name}", cwd=root)
        assert p.returncode in (0, 3), p.stderr[-3000:]
        out[name] = (p.returncode, root / name / "report.html")
    return out


def _common(m: dict, code: int):
    assert m["scroll"] <= m["inner"] == WIDTH, m  # nothing sticks out sideways
    assert m["tables_right"] <= m["inner"] and m["verdict_right"] <= m["inner"]
    assert m["exit"] == f"exit code {code}"  # the one the run returned
    assert m["hists"] and all(h["axes"] == 2 and h["ticks"] >= 7 and h["ylabel"] == "% of set" for h in m["hists"])
    assert sum(h["unit"] not in ("", "value") for h in m["hists"]) >= len(m["hists"]) // 2  # named units


def test_image_page(runs, tmp_path):
    code, page = runs["image"]
    m = measure(page, tmp_path)
    _common(m, code)
    assert code == (3 if json.loads(page.with_name("report.json").read_text())["summary"]["fail"] else 0)
    assert m["boxes"] >= 10 and m["masks"] >= 4  # copy-paste objects drawn with their boxes and masks
    assert any(h["unit"] == "variance of the Laplacian" for h in m["hists"])
    if code:
        assert m["diagnoses"] >= 1


def test_text_page(runs, tmp_path):
    code, page = runs["text"]
    m = measure(page, tmp_path)
    _common(m, code)
    assert m["texts"] and any("\n" in t.split("\n", 1)[1] for t in m["texts"] if "\n" in t)  # fortunes keep their lines
    assert all(len(t) <= 400 + 1 + 60 for t in m["texts"])  # cut (with an ellipsis) + the caption


def test_points_page(runs, tmp_path):
    code, page = runs["points"]
    m = measure(page, tmp_path)
    _common(m, code)
    scenes = [c for c in m["clouds"] if c["boxes"]]
    assert len(scenes) >= 8
    # cropped to the objects: a car-sized box spans a good part of the thumbnail, not a dot in a street
    assert np.median([c["widest"] for c in scenes]) > 0.25, scenes


def test_many_validators_fit_a_laptop(runs, tmp_path):
    """image_full's 16 validators (and long class names) still fit 1366 px: the headers wrap."""
    from synthgen.report import write_html

    rep = json.loads(runs["image"][1].with_name("report.json").read_text())
    names = ["ks", "wasserstein", "categorical", "mmd", "energy", "FD_effnetlite0", "c2st", "prdc", "alpha_precision",
             "dcr", "duplicates", "diversity", "schema", "label_agreement", "class_separation", "utility"]
    base = next(iter(rep["validators"].values()))
    rep["validators"] = {n: dict(base) for n in names}
    for label, c in list(rep["classes"].items()):
        v = next(iter(c["validators"].values()))
        c["validators"] = {n: dict(v) for n in names}
        c["failed_by"] = names[:9]
        rep["classes"][f"{label}_with_a_rather_long_class_name"] = c
    (tmp_path / "wide").mkdir()
    write_html(rep, tmp_path / "wide" / "report.html")
    m = measure(tmp_path / "wide" / "report.html", tmp_path)
    assert m["scroll"] <= m["inner"] and m["verdict_right"] <= m["inner"], m


def test_evaluate_page_shows_corrupted_examples(digits, tmp_path):
    from synthgen.dataset import Dataset
    from synthgen.evaluate import evaluate, write_html
    from synthgen.sample import Provenance, Sample

    samples, preds = [], []
    for i, s in enumerate([s for s in digits.samples if s.label in ("1", "7")][:12]):
        for corr, sev in (("clean", 0), ("gaussian_noise", 1), ("gaussian_noise", 5), ("motion_blur", 3)):
            prov = Provenance("t", "1", "0" * 64, 0, s.label, i, (s.id,), {"corruption": corr, "severity": sev,
                              "family": None if corr == "clean" else corr.split("_")[-1], "benchmark": "imagenet-c"}, {})
            noisy = np.clip(s.data.astype(int) + sev * 20, 0, 255).astype(np.uint8)
            samples.append(Sample(f"{s.id}-{corr}-{sev}", noisy, s.label, provenance=prov))  # as a suite names them
            preds.append(s.label if sev < 5 or i % 2 else ("7" if s.label == "1" else "1"))
    ds = Dataset(samples, ["1", "7"], "suite", "imagefolder", "image")
    res = evaluate(ds, preds, None)
    rep = {"schema": "synthgen/stress-report", "schema_version": 1, "model": "m", "suite": {"path": "suite", "benchmark": "imagenet-c"},
           "baseline": None, **res, "leaks": [], "limits": {"configured": {}, "crossed": [], "exit_code": 0}}
    (tmp_path / "eval").mkdir()
    write_html(rep, tmp_path / "eval" / "report.html", {s.id: s for s in samples})
    m = measure(tmp_path / "eval" / "report.html", tmp_path)
    assert m["scroll"] <= m["inner"]
    ex = res["diagnosis"]["examples"]
    assert len(ex) >= 4 and m["examples"] == 2 * len(ex)  # corrupted examples, each beside its clean copy
    assert m["bars"] >= 2  # error by family, by class
    assert res["diagnosis"]["families"][0]["family"] == "noise"
