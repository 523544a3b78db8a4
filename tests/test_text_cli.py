"""End to end from the CLI: the fortunes experiments and the PII/NER experiment, with tiny counts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthgen.cli import main
from synthgen.io.jsonl import read_jsonl

pytestmark = pytest.mark.slow  # end-to-end runs of the CLI: `make test-fast` skips them

HAS_FORTUNES = Path("/usr/share/games/fortunes/love").exists()
HAS_WORDNET = Path("/usr/share/wordnet/data.noun").exists()
FAST = ["validation.validators.ks.n_bootstrap=20", "validation.validators.mmd.n_bootstrap=20",
        "validation.validators.mmd.n_permutations=100", "merge.into=null",
        "evidence.repeats=2"]  # 3 folds x 2 repeats: text_ngram refits once per fold; these test the plumbing
# eight categories, not every fortune file: text_ngram's background model and the cross-fitted probes
# grow with the corpus (all of fortunes made one run take 140 s here)
CATEGORIES = "dataset.categories=[love,kids,food,magic,pets,computers,science,medicine]"


def run(args, capsys):
    try:
        main(args)
    except SystemExit as e:
        if e.code not in (0, None):
            raise AssertionError(f"exit {e.code}: {capsys.readouterr().err}")
    return capsys.readouterr()


@pytest.mark.skipif(not HAS_FORTUNES, reason="Debian fortunes not installed")
@pytest.mark.parametrize("gen", ["ngram"] + (["augment"] if HAS_WORDNET else []))
def test_fortunes_experiment_per_class_verdicts(tmp_path, capsys, gen):
    out = tmp_path / "run"
    run([f"+experiment=fortunes_{gen}", "policy.target=45", CATEGORIES, f"hydra.run.dir={out}", *FAST], capsys)
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["classes"]) == {"love", "kids", "food"}
    for label, c in rep["classes"].items():
        assert c["verdict"] in ("pass", "warn", "fail", "incomputable")
        assert c["n_synthetic"] == {"love": 15, "kids": 15, "food": 5}[label] and c["n_real"] >= 120
        assert set(c["validators"]) == {"schema", "duplicates", "label_agreement_cf", "utility", "ks", "mmd", "bias"}
        assert 0 <= c["validators"]["ks"]["score"] <= 1 and c["reference"].startswith("held-out real")
        assert c["explanation"] and "held-out recall" in c["explanation"] or c["validators"]["utility"]["status"] == "incomputable"
    assert rep["features"][0] == "log_chars"
    syn = read_jsonl(str(out / "synthetic"))
    assert len(syn) == 35 and all(s.provenance.generator.endswith(("TextNgram", "TextAugment")) for s in syn)
    html = (out / "report.html").read_text()
    assert "Class love" in html and "<div class='txt'>" in html  # text samples shown with their line breaks


@pytest.mark.skipif(not HAS_FORTUNES, reason="Debian fortunes not installed")
def test_fortunes_cli_deterministic_and_byte_identical(tmp_path, capsys):
    args = ["dataset=fortunes", "generator=text_ngram", "validation=text_stats", "policy.classes=[magic,pets]",
            "policy.target=40", "dataset.longtail=null", CATEGORIES, *FAST]
    for d in ("a", "b"):
        run([*args, f"hydra.run.dir={tmp_path / d}"], capsys)
    for f in ("synthetic/data.jsonl", "synthetic/manifest.jsonl", "report.json", "report.html"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_pii_template_experiment(tmp_path, capsys):
    out = tmp_path / "pii"
    res = run(["+experiment=pii_template", "policy.target=20", f"hydra.run.dir={out}", *FAST], capsys)
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["classes"]) == {"account_update", "payment_issue", "delivery_problem"}
    assert all(c["verdict"] in ("pass", "fail") for c in rep["classes"].values())
    syn = read_jsonl(str(out / "synthetic"))
    assert syn.task == "ner" and len(syn) == 24
    for s in syn:
        assert s.annotations["spans"] and all(s.data[sp["start"]:sp["end"]] == sp["text"] for sp in s.annotations["spans"])
        assert s.provenance.params["faker"] and s.provenance.libraries["faker"]
    assert "account_update" in res.out


def test_bad_text_config_is_one_line_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["+experiment=pii_template", "+generator.classes.payment_issue=[\"{not_a_provider}\"]",
              f"hydra.run.dir={tmp_path / 'x'}", *FAST])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "generator.classes.payment_issue[0]" in err[0]
    assert not (tmp_path / "x" / "synthetic").exists()


@pytest.mark.skipif(not HAS_FORTUNES, reason="Debian fortunes not installed")
def test_nothing_to_generate_is_a_clean_exit(tmp_path, capsys):
    """Every class meets the policy: the plan is written, no empty synthetic set (JSONL would not read back)."""
    out = tmp_path / "run"
    res = run(["+experiment=fortunes_ngram", "policy.target=5", f"hydra.run.dir={out}", *FAST], capsys)
    assert "nothing to generate: every class meets the policy" in res.out
    assert (out / "plan.json").exists() and not (out / "synthetic").exists() and not (out / "report.json").exists()
