"""HTML reports show hostile class names and sample ids as text, never as markup.

The validation report is built through the real path (`synthgen validate` on two ImageFolder datasets
whose class and sample ids are HTML); the stress-evaluation report from :func:`synthgen.evaluate.evaluate`
on a suite whose corruption names and labels are HTML.  Headless Chromium then confirms the browser
sees text: no ``<img src="x">`` element, no ``onerror`` attribute, no script run.
"""
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from synthgen.io.imagefolder import write_imagefolder
from synthgen.sample import Provenance, Sample

CHROMIUM = "/usr/bin/chromium"
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>console.error('xss')</script>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


class _Elements(HTMLParser):
    """Collects the elements an HTML parser (like the browser's) builds from markup: the injected ones."""

    def __init__(self, page: str):
        super().__init__()
        self.injected: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" or (tag == "img" and a.get("src") == "x") or any(k.startswith("on") for k in a):
            self.injected.append(self.get_starttag_text())


def injected(page: str) -> list[str]:
    return _Elements(page).injected


@pytest.fixture(scope="module")
def report(digits, tmp_path_factory):
    """`synthgen validate` where one real class is called IMG and every synthetic id carries markup."""
    root = tmp_path_factory.mktemp("escape")
    rename = {"3": IMG, "5": f"five {SCRIPT}"}
    real, syn = [], []
    for c, name in rename.items():
        ss = [s for s in digits.samples if s.label == c][:60]
        real += [Sample(f"real-{c}-{i:03d}", s.data, name) for i, s in enumerate(ss[::2])]
        syn += [Sample(f"{SCRIPT}{IMG}-{c}-{i:03d}", s.data, name) for i, s in enumerate(ss[1::2])]
    syn += [Sample(f"{IMG}-outlier{i}", np.full((32, 32, 3), 255 * i, np.uint8), IMG) for i in range(2)]
    write_imagefolder(real, list(rename.values()), str(root / "real"))
    write_imagefolder(syn, list(rename.values()), str(root / "syn"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SYNTHGEN_CACHE_DIR": str(root / "cache")}
    p = subprocess.run([sys.executable, "-m", "synthgen", "validate", "dataset=imagefolder", f"dataset.path={root / 'real'}",
                        f"synthetic.path={root / 'syn'}", "validation=image_stats", "gate.filter.enabled=true",
                        "++validation.validators.mmd.n_permutations=100", "++validation.validators.mmd.n_bootstrap=10",
                        "++validation.validators.ks.n_bootstrap=10", f"hydra.run.dir={root / 'run'}"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return root / "run"


def _dump_dom(page: Path, tmp: Path) -> tuple[str, str]:
    """(DOM after load, console messages) of ``page`` in headless Chromium."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
            "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:  # an injected alert() blocks the page forever
        pytest.fail(f"{page}: Chromium hung loading the page (a script dialog?)")
    assert p.returncode == 0 and "</html>" in p.stdout, p.stderr[-2000:]
    return p.stdout, "\n".join(l for l in p.stderr.splitlines() if ":CONSOLE" in l)


def _evaluation_html(tmp_path: Path) -> Path:
    from synthgen.dataset import Dataset
    from synthgen.evaluate import evaluate, write_html

    samples, preds = [], []
    for i in range(4):
        for corr, sev in (("clean", 0), (IMG, 1), (IMG, 2)):
            prov = Provenance("tests.escape", "1", "0" * 64, 0, IMG, i, (f"base-{i}",),
                              {"corruption": corr, "severity": sev, "benchmark": SCRIPT, "expect": IMG}, {})
            samples.append(Sample(f"{IMG}-{corr}-{i}", np.zeros((4, 4, 3), np.uint8), IMG, provenance=prov))
            preds.append(IMG if (i + sev) % 3 else "other")
    ds = Dataset(samples, [IMG, "other"], "suite", "imagefolder", "image")
    result = evaluate(ds, preds, None)
    report = {"schema": "synthgen/stress-report", "schema_version": 1, "model": IMG,
              "suite": {"path": SCRIPT, "benchmark": SCRIPT, "classes": ds.classes}, "baseline": {"name": IMG},
              **result, "leaks": [{"corruption": IMG, "augmentation": SCRIPT}],
              "limits": {"configured": {}, "crossed": [f"max_error: {IMG}"], "exit_code": 3}}
    report["summary"]["notes"].append(f"note about {IMG}")
    write_html(report, tmp_path / "report.html")
    return tmp_path / "report.html"


def test_validation_report_escapes_class_names_and_ids(report):
    rep = json.loads((report / "report.json").read_text())
    assert IMG in rep["classes"] and any(d["id"].startswith(IMG) for d in rep["filter"]["dropped"])  # the hostile ids reach the page
    page = (report / "report.html").read_text()
    assert "<img src=x" not in page and "<script" not in page and not injected(page)
    assert ESCAPED in page and "&lt;script&gt;" in page


def test_evaluation_report_escapes_corruption_names(tmp_path):
    page = _evaluation_html(tmp_path).read_text()
    assert "<img src=x" not in page and not injected(page) and ESCAPED in page


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian package chromium is not installed")
def test_hostile_markup_stays_text_in_chromium(report, tmp_path):
    control = tmp_path / "control.html"  # the check must see injected markup when there is some
    control.write_text(f"<html><body><img src=x onerror=console.error('xss')>{SCRIPT}</body></html>")  # alert() would block
    dom, console = _dump_dom(control, tmp_path / "c")
    assert len(injected(dom)) == 2 and "xss" in console
    for page in (report / "report.html", _evaluation_html(tmp_path)):
        dom, console = _dump_dom(page, tmp_path / page.parent.name)
        assert not injected(dom) and "xss" not in console, page
        assert ESCAPED in dom
