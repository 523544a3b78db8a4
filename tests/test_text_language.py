"""Non-English text: the language detector, tools that know only English skip (text_augment's WordNet
ops, CheckList negation and contractions) instead of silently applying English rules, MyThes thesauri
for other languages, and a class a text generator cannot make is INCOMPUTABLE, not a failed job.

Real data: Debian's ``fortunes`` (English), ``fortunes-de`` and ``fortunes-es``; ``mythes-es`` (the
LibreOffice Spanish thesaurus).  Tests that need a package skip with its name when it is absent.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthgen.dataset import Dataset
from synthgen.errors import ConfigError, InsufficientDataError
from synthgen.language import check_language, detect, resolve
from synthgen.sample import Sample
from synthgen.textedit import check

FORTUNES = Path("/usr/share/games/fortunes")
FORTUNES_DE = FORTUNES / "de"
FORTUNES_ES = FORTUNES / "es"
HAS_EN = (FORTUNES / "people").exists()
HAS_DE = (FORTUNES_DE / "zitate").exists()
HAS_ES = (FORTUNES_ES / "refranes.fortunes").exists()
HAS_WORDNET = Path("/usr/share/wordnet/data.noun").exists()
MYTHES_ES = Path("/usr/share/mythes/th_es_ES_v2.dat")

need_en = pytest.mark.skipif(not HAS_EN, reason="Debian package fortunes is not installed")
need_de = pytest.mark.skipif(not HAS_DE, reason="Debian package fortunes-de is not installed (make setup)")
need_es = pytest.mark.skipif(not HAS_ES, reason="Debian package fortunes-es is not installed (make setup)")
need_wordnet = pytest.mark.skipif(not HAS_WORDNET, reason="Debian package wordnet-base is not installed")


def fortunes(path, cats, max_chars=300):
    from synthgen.io.fortunes import read_fortunes

    return read_fortunes(str(path), categories=cats, max_chars=max_chars)


def texts(ds, label):
    return [s.data for s in ds.samples if s.label == label]


# -- the detector -------------------------------------------------------------------------------

@need_en
def test_english_fortunes_classes_are_english():
    ds = fortunes(FORTUNES, ["people", "computers", "love", "food"])
    for c in ds.classes:
        d = detect(texts(ds, c))
        assert d.code == "en" and d.confidence > 0.5, (c, d)


@need_de
def test_german_fortunes_classes_are_german():
    ds = fortunes(FORTUNES_DE, ["zitate", "witze", "sprueche", "unfug"])
    for c in ds.classes:
        d = detect(texts(ds, c))
        assert d.code == "de" and d.confidence > 0.5, (c, d)


@need_es
def test_spanish_fortunes_classes_are_spanish():
    ds = fortunes(FORTUNES_ES, ["refranes.fortunes", "sabiduria.fortunes"])
    for c in ds.classes:
        assert detect(texts(ds, c)).code == "es"


@need_de
@need_en
def test_detector_single_texts_mostly_right_and_never_confidently_wrong_on_paragraphs():
    de = fortunes(FORTUNES_DE, ["witze"])
    en = fortunes(FORTUNES, ["people"])
    for ds, want in ((de, "de"), (en, "en")):
        long = [s.data for s in ds.samples if len(s.data.split()) >= 30][:100]
        got = [detect(t).code for t in long]
        assert sum(g == want for g in got) >= 0.9 * len(got), (want, got)


def test_too_little_text_is_unknown_and_the_user_can_say():
    assert detect("Hallo").code == "unknown"
    assert detect(["yes", "no", "ok"]).code == "unknown"
    assert detect("").confidence == 0.0
    assert resolve("de", ["yes", "no"]).code == "de"
    assert resolve("auto", ["Der Hund und die Katze sind nicht im Haus, aber wir sind es."]).code == "de"


@pytest.mark.parametrize("bad", ["english!", "", "1"])
def test_language_key_errors_name_the_key(bad):
    with pytest.raises(ConfigError, match=r"^generator\.language: must be 'auto' or a language code"):
        check_language(bad, "generator.language")
    assert check_language("DE", "k") == "de" and check_language("pt_BR", "k") == "pt" and check_language(None, "k") == "auto"


# -- the MyThes reader --------------------------------------------------------------------------

def write_mythes(folder: Path, lang: str, entries: dict[str, list[list[str]]], encoding="ISO8859-1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [encoding]
    for word, meanings in entries.items():
        lines.append(f"{word}|{len(meanings)}")
        lines += ["|".join(m) for m in meanings]
    p = folder / f"th_{lang}_{lang.upper()}_v2.dat"
    p.write_bytes(("\n".join(lines) + "\n").encode("latin-1" if encoding.startswith("ISO") else "utf-8"))
    return p


def test_mythes_reader_parses_the_format(tmp_path):
    from synthgen.generators.text import thesaurus

    p = write_mythes(tmp_path, "de", {
        "Haus": [["(Substantiv)", "Gebäude", "Heim (umgangssprachlich)", "Hütte (Antonym)"], ["-", "Familie"]],
        "groß": [["(Adjektiv)", "riesig", "klein (Gegenteil)"]],
        "leer": [],
    })
    t = thesaurus.synonyms(str(p))
    assert t["haus"] == ("Familie", "Gebäude", "Heim")  # notes stripped, antonyms dropped, sorted
    assert t["groß"] == ("riesig",) and "leer" not in t
    assert thesaurus.find("de", str(tmp_path)) == p
    assert thesaurus.find("fr", str(tmp_path)) is None and thesaurus.find("en", str(tmp_path)) is None


@pytest.mark.skipif(not MYTHES_ES.exists(), reason="Debian package mythes-es is not installed (make setup)")
def test_real_spanish_thesaurus():
    from synthgen.generators.text import thesaurus

    t = thesaurus.synonyms(str(thesaurus.find("es")))
    assert len(t) > 20000
    assert "can" in t["perro"] and "vivienda" in t["casa"]


# -- text_augment: WordNet for English only ---------------------------------------------------------

def make_aug(**kw):
    from synthgen.generators.text import TextAugment

    return TextAugment(**kw)


def one_class(ds, label, n=40):
    keep = [s for s in ds.samples if s.label == label][:n]
    return Dataset(keep, [label], ds.source, ds.format, "text", "classification", {})


@need_de
@need_wordnet
def test_german_class_gets_no_english_wordnet_synonyms(tmp_path, capsys):
    """The bug: German texts got English WordNet synonyms ('diethylstilboestrol')."""
    from synthgen.generators.text import augment

    augment._WARNED.clear()  # the warning is once per process: start this test afresh
    ds = one_class(fortunes(FORTUNES_DE, ["witze"]), "witze")
    g = make_aug(alpha=0.3, thesaurus_dir=str(tmp_path / "none")).fit(ds)
    out = list(g.generate("witze", 60, 0))
    err = capsys.readouterr().err
    warn = [line for line in err.splitlines() if "text_augment" in line]
    assert len(warn) == 1, err  # one line, naming the class and the language
    assert "class 'witze'" in warn[0] and "language 'de'" in warn[0] and "synonym and insert skipped" in warn[0]
    ops = {o["op"] for s in out for o in s.provenance.params["ops"]}
    assert not ops & {"synonym", "insert"} and {"swap", "delete", "typo"} <= ops
    p = out[0].provenance.params
    assert p["language"] == "de" and p["synonyms"] is None and set(p["skipped_ops"]) == {"synonym", "insert"}
    assert p["locale"] == "de_DE"
    # generating again warns no more (one line per class and process)
    list(g.generate("witze", 5, 1))
    assert "text_augment" not in capsys.readouterr().err


@need_de
@need_wordnet
def test_language_override(tmp_path, capsys):
    ds = one_class(fortunes(FORTUNES_DE, ["witze"]), "witze")
    g = make_aug(ops={"synonym": 1.0}, language="en").fit(ds)  # the user says English: WordNet it is
    s = next(iter(g.generate("witze", 1, 0)))
    assert s.provenance.params["language"] == "en" and s.provenance.params["language_source"] == "config"
    en = one_class(fortunes(FORTUNES, ["people"]), "people") if HAS_EN else None
    if en is not None:
        g = make_aug(language="de", thesaurus_dir=str(tmp_path)).fit(en)  # the user says German: no WordNet
        ops = {o["op"] for s in g.generate("people", 30, 0) for o in s.provenance.params["ops"]}
        assert not ops & {"synonym", "insert"}


@need_de
def test_german_class_uses_a_german_thesaurus(tmp_path):
    ds = one_class(fortunes(FORTUNES_DE, ["witze"]), "witze")
    from synthgen.language import words

    vocab = sorted({w for t in texts(ds, "witze") for w in words(t) if len(w) > 4})[:200]
    write_mythes(tmp_path, "de", {w: [["-", f"{w}x", f"ur{w}"]] for w in vocab}, encoding="UTF-8")
    g = make_aug(ops={"synonym": 1.0}, alpha=0.3, thesaurus_dir=str(tmp_path)).fit(ds)
    n = 0
    for s in g.generate("witze", 30, 0):
        p = s.provenance.params
        assert p["synonyms"].startswith("mythes:") and p["language"] == "de"
        for old, new in p["ops"][0]["replaced"]:
            assert new.lower() in (f"{old.lower()}x", f"ur{old.lower()}"), (old, new)
            n += 1
        check(s.data, s.annotations["spans"])
    assert n >= 30


@need_es
@pytest.mark.skipif(not MYTHES_ES.exists(), reason="Debian package mythes-es is not installed (make setup)")
def test_spanish_class_uses_mythes_es():
    from synthgen.generators.text import thesaurus

    table = thesaurus.synonyms(str(MYTHES_ES))
    ds = one_class(fortunes(FORTUNES_ES, ["refranes.fortunes"]), "refranes.fortunes")
    g = make_aug(ops={"synonym": 1.0}, alpha=0.3).fit(ds)
    pairs = [pair for s in g.generate("refranes.fortunes", 20, 0) for pair in s.provenance.params["ops"][0]["replaced"]]
    assert len(pairs) >= 20
    assert all(new.lower() in {x.lower() for x in table[old.lower()]} for old, new in pairs)


@need_en
@need_wordnet
def test_english_class_still_gets_wordnet(capsys):
    from synthgen.generators.text.wordnet import synonyms

    ds = one_class(fortunes(FORTUNES, ["people"]), "people")
    g = make_aug(ops={"synonym": 1.0}, alpha=0.3).fit(ds)
    table = synonyms()
    pairs = [pair for s in g.generate("people", 20, 0) for pair in s.provenance.params["ops"][0]["replaced"]]
    assert len(pairs) >= 20 and all(new.lower() in {x.lower() for x in table[old.lower()]} for old, new in pairs)
    assert "text_augment" not in capsys.readouterr().err


# -- a class that cannot be made: INCOMPUTABLE, not a failed job ------------------------------------

def tiny(labels_texts):
    samples = [Sample(f"{lab}-{i}", t, lab, {"spans": []}, modality="text")
               for lab, ts in labels_texts.items() for i, t in enumerate(ts)]
    return Dataset(samples, list(labels_texts), "mem", "jsonl", "text", "classification", {})


ONE_WORD = ["yes", "no", "ok", "maybe", "sure"]
SENTENCES = ["The cat sat on the mat and looked at the door for a long time.",
             "A happy dog ran across the big green field and barked at the birds.",
             "Please send the report to the office before noon on Friday, thanks.",
             "The weather was cold and the wind was strong all through the night.",
             "We walked along the river until the sun went down behind the hills.",
             "She bought a new car because the old one broke down on the road."]


def test_augment_with_no_applicable_op_is_insufficient_data():
    ds = tiny({"oneword": ONE_WORD, "sentences": SENTENCES})
    g = make_aug(ops={"swap": 1.0, "delete": 1.0}).fit(ds)
    with pytest.raises(InsufficientDataError, match=r"class 'oneword': text_augment cannot change any of its 5 real texts"):
        list(g.generate("oneword", 3, 0))
    assert len(list(g.generate("sentences", 3, 0))) == 3


def test_probe_marks_the_class_incomputable_and_keeps_the_others():
    from synthgen.generators.text import TextNgram

    from synthgen.pipeline import probe_classes
    from synthgen.plan import make_plan

    ds = tiny({"oneword": ONE_WORD, "sentences": SENTENCES * 3})
    plan = make_plan(ds.counts(), 30, 0.9, None, 1)
    assert plan.counts() == {"oneword": 25, "sentences": 12}
    g = TextNgram(order=2)
    with pytest.raises(InsufficientDataError):  # before: this aborted the whole job
        list(g.fit(ds).generate("oneword", 1, 0))
    out = probe_classes(TextNgram(order=2), ds, plan, 0)
    rows = {r.label: r for r in out.rows}
    assert rows["oneword"].synthetic == 0 and rows["oneword"].note.startswith("INCOMPUTABLE: every one of")
    assert rows["sentences"].synthetic == 12 and rows["sentences"].note == ""


@need_en
@pytest.mark.slow
def test_run_with_an_ungeneratable_class_finishes(tmp_path):
    from .test_cli import synthgen

    rows = [{"id": f"s{i}", "label": "sentences", "text": t} for i, t in enumerate(SENTENCES * 3)]
    rows += [{"id": f"w{i}", "label": "oneword", "text": t} for i, t in enumerate(ONE_WORD)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    p = synthgen("run", "dataset=jsonl", f"dataset.path={tmp_path / 'd.jsonl'}", "generator=text_ngram", "generator.order=2",
                 "validation=text_stats", "policy.target=30", "policy.rare_below=null", "merge.into=null",
                 f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert "class 'oneword' is INCOMPUTABLE (nothing generated): every one of 20 candidates copied a real text" in p.stderr
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert {r["label"]: r["synthetic"] for r in plan["rows"]} == {"sentences": 12, "oneword": 0}
    assert "INCOMPUTABLE: every one of 20 candidates" in (tmp_path / "run" / "report.html").read_text()


# -- CheckList: English-only tests are n/a on other languages ---------------------------------------

def build(ds, language="auto"):
    from synthgen.stress.suite import build_suite, drop_not_applicable, parse_suite

    cfg = {"name": "checklist", "modality": "text", "severities": [1, 3], "include_clean": True, "language": language,
           "corruptions": ["typo_swap", "casing", "contractions", "negation"]}
    settings, entries = parse_suite(cfg, "text")
    entries = drop_not_applicable(ds, settings, entries)
    return settings, entries, build_suite(ds, settings, entries, 0)


@need_de
def test_checklist_on_german_marks_negation_and_contractions_na():
    from synthgen.evaluate import evaluate

    ds = fortunes(FORTUNES_DE, ["witze", "zitate"])
    ds = ds.subset([s for s in ds.samples if s.label == "witze"][:10] + [s for s in ds.samples if s.label == "zitate"][:10])
    settings, entries, suite = build(ds)
    assert [e.corruption.name for e in entries] == ["typo_swap", "casing"]
    assert set(settings["not_applicable"]) == {"contractions", "negation"}
    assert "the suite's language is de" in settings["not_applicable"]["negation"]
    assert {s.provenance.params["corruption"] for s in suite} == {"clean", "typo_swap", "casing"}
    sds = Dataset(suite, ds.classes, "suite", "jsonl", "text", "classification", {})
    preds = [s.label for s in suite]  # a model that is never fooled: 0 failures on what applies
    rep = evaluate(sds, preds, None)
    assert set(rep["not_applicable"]) == {"contractions", "negation"}
    assert set(rep["corruptions"]) == {"typo_swap", "casing"}  # not a 0 % failure row, not in the mean
    assert rep["summary"]["failure_rate"] == 0.0
    assert any("negation: n/a" in n for n in rep["summary"]["notes"])
    # the user can insist the texts are English
    _, entries, _ = build(ds, language="en")
    assert [e.corruption.name for e in entries] == ["typo_swap", "casing", "contractions", "negation"]


@need_en
def test_checklist_on_english_keeps_everything():
    ds = fortunes(FORTUNES, ["people"])
    ds = ds.subset(ds.samples[:20])
    settings, entries, _ = build(ds)
    assert settings["not_applicable"] == {} and len(entries) == 4
    assert settings["language_detected"]["language"] == "en"


def test_stress_language_key_is_checked():
    from synthgen.stress.suite import parse_suite

    with pytest.raises(ConfigError, match=r"^stress\.language:"):
        parse_suite({"corruptions": ["casing"], "language": "not a language"}, "text")
