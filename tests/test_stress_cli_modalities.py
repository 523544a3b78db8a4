"""`synthgen stress` and `synthgen evaluate` from the CLI on text (fortunes, CheckList) and point
clouds (libcgal-demo shapes, ModelNet-C), with models trained in the test on the same real data."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from synthgen.sample import Sample

from .test_cli import synthgen

pytestmark = pytest.mark.slow  # end-to-end runs of the CLI: `make test-fast` skips them

FORTUNES = Path("/usr/share/games/fortunes")
CGAL = Path("/usr/share/doc/libcgal-dev/data.tar.gz")


@pytest.mark.skipif(not (FORTUNES / "people").exists(), reason="Debian package fortunes is not installed")
def test_checklist_suite_on_fortunes(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from synthgen.io.fortunes import read_fortunes
    from synthgen.io.jsonl import write_jsonl

    ds = read_fortunes(str(FORTUNES), categories=["people", "computers"], max_chars=300)
    rng = np.random.default_rng(0)
    by = {c: [s for s in ds.samples if s.label == c] for c in ("people", "computers")}
    train, test = [], []
    for c, ss in by.items():
        p = rng.permutation(len(ss))
        train += [ss[i] for i in p[:250]]
        test += [ss[i] for i in p[250:280]]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=500)).fit([s.data for s in train], [s.label for s in train])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    write_jsonl([Sample(f"t{i:03d}", s.data, s.label, {"spans": []}, modality="text") for i, s in enumerate(test)],
                ["computers", "people"], str(tmp_path / "test"))
    synthgen("stress", "stress=checklist", "dataset=jsonl", f"dataset.path={tmp_path / 'test'}",
             f"hydra.run.dir={tmp_path / 's'}", cwd=tmp_path)
    suite = tmp_path / "s" / "suite"
    assert (suite / "data.jsonl").exists() and (suite / "manifest.jsonl").exists()
    recs = [json.loads(x) for x in (suite / "manifest.jsonl").read_text().splitlines()]
    assert all(r["provenance"]["parents"] for r in recs if r["origin"] == "synthetic")
    p = synthgen("evaluate", f"suite.path={suite}", "model=sklearn_text", f"model.path={tmp_path / 'model.pkl'}",
                 f"hydra.run.dir={tmp_path / 'e'}", cwd=tmp_path)
    rep = json.loads((tmp_path / "e" / "report.json").read_text())
    rates = json.dumps(rep)
    assert "failure_rate" in rates and p.returncode == 0
    # a limit the typo perturbations cross makes the command fail the build
    q = synthgen("evaluate", f"suite.path={suite}", "model=sklearn_text", f"model.path={tmp_path / 'model.pkl'}",
                 "limits.max_failure_rate=0.0", f"hydra.run.dir={tmp_path / 'e2'}", cwd=tmp_path, check=False)
    assert q.returncode == 3, q.stderr


@pytest.mark.skipif(not CGAL.exists(), reason="Debian package libcgal-demo is not installed")
def test_modelnet_c_suite_on_cgal_shapes(tmp_path):
    pytest.importorskip("open3d")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from synthgen.io.cgal import read_cgal
    from synthgen.validators.points_features import PointsFeaturizer

    ds = read_cgal(samples_per_shape=2, n_points=1024, seed=0)
    X = PointsFeaturizer(0).transform(ds.samples)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, [s.label for s in ds.samples])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    synthgen("stress", "stress=modelnet_c", "dataset=cgal", "dataset.samples_per_shape=1", "dataset.n_points=1024",
             "stress.severities=[1,5]", f"hydra.run.dir={tmp_path / 's'}", cwd=tmp_path)
    suite = tmp_path / "s" / "suite"
    p = synthgen("evaluate", f"suite.path={suite}", "model=sklearn_points", f"model.path={tmp_path / 'model.pkl'}",
                 f"hydra.run.dir={tmp_path / 'e'}", cwd=tmp_path)
    rep = json.loads((tmp_path / "e" / "report.json").read_text())
    assert p.returncode == 0
    s = rep["summary"]  # mCE against the DGCNN baseline of ModelNet-C: every suite corruption has a CE
    assert rep["baseline"]["name"] == "dgcnn" and s["mce_corruptions"] == sorted(rep["corruptions"])
    ces = [rep["corruptions"][c]["ce"] for c in s["mce_corruptions"]]
    assert s["mce"] > 0 and s["mce"] == pytest.approx(sum(ces) / len(ces), rel=1e-3)
