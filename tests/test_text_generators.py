"""Text generators: contract suite, exact spans over thousands of samples, property tests, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthgen.dataset import Dataset
from synthgen.errors import ConfigError
from synthgen.generators.text import TextAugment, TextNgram, TextTemplate
from synthgen.io.jsonl import read_jsonl
from synthgen.sample import Sample
from synthgen.textedit import apply_edit, check

from .contracts import check_generator

HAS_WORDNET = Path("/usr/share/wordnet/data.noun").exists()
HAS_FORTUNES = Path("/usr/share/games/fortunes/love").exists()
NO_WORDNET_OPS = {"swap": 1.0, "delete": 1.0, "entity": 1.0, "typo": 0.5, "casing": 0.25}


@pytest.fixture(scope="module")
def pii():
    return read_jsonl("pkg://synthgen.generators.text/data/pii_seed.jsonl")


def template_cfg():
    from omegaconf import OmegaConf

    import synthgen.conf

    cfg = OmegaConf.load(Path(synthgen.conf.__file__).parent / "generator" / "text_template.yaml")
    d = OmegaConf.to_container(cfg)
    d.pop("_target_")
    return d


def aug_ops():
    return None if HAS_WORDNET else NO_WORDNET_OPS


# -- contract suite -----------------------------------------------------------------------------

def test_template_contract(pii):
    check_generator(lambda: TextTemplate(**template_cfg()), pii, labels=["payment_issue", "delivery_problem"], n=6)


def test_augment_contract(pii):
    check_generator(lambda: TextAugment(ops=aug_ops()), pii, labels=["account_update", "payment_issue"], n=6)


def test_ngram_contract(pii):
    check_generator(lambda: TextNgram(order=2), pii, labels=["delivery_problem"], n=6)


# -- spans are exact, always ----------------------------------------------------------------------

def test_template_spans_exact_over_thousands(pii):
    g = TextTemplate(**template_cfg()).fit(pii)
    n_spans = 0
    labels = set()
    for label in pii.classes:
        for s in g.generate(label, 1000, 3):
            check(s.data, s.annotations["spans"])
            n_spans += len(s.annotations["spans"])
            labels |= {sp["label"] for sp in s.annotations["spans"]}
            assert s.provenance.params["faker"] and s.provenance.params["locale"] == "en_US"
    assert n_spans > 3000
    assert {"PERSON", "ADDRESS", "IBAN", "CREDIT_CARD", "EMAIL", "PHONE", "DATE", "ORG"} <= labels


@pytest.mark.parametrize("locale", ["ja_JP", "de_DE", "ru_RU"])
def test_template_unicode_and_multiline_values(pii, locale):
    g = TextTemplate({"x": ["→ {name} «{address}»\n✓ {company} {iban}", "{{literal}} {city:-} {phone_number}"]}, locale=locale).fit(pii)
    multiline = non_ascii = 0
    for s in g.generate("x", 300, 0):
        check(s.data, s.annotations["spans"])
        multiline += any("\n" in sp["text"] for sp in s.annotations["spans"])
        non_ascii += any(ord(c) > 127 for sp in s.annotations["spans"] for c in sp["text"])
        assert "{" not in s.data.replace("{literal}", "")
        assert all(sp["label"] != "-" for sp in s.annotations["spans"])
    assert non_ascii > 30
    if locale == "de_DE":  # German addresses span two lines
        assert multiline > 30
    assert s.provenance.params["locale"] == locale


def test_template_weights_and_word_lists(pii):
    g = TextTemplate({"c": [{"template": "A {w}", "weight": 9}, {"template": "B {w:THING}", "weight": 1}]},
                     word_lists={"w": ["ä", "b c"]}).fit(pii)
    out = list(g.generate("c", 2000, 0))
    share_a = np.mean([s.data.startswith("A") for s in out])
    assert 0.86 < share_a < 0.94
    assert {s.annotations["spans"][0]["label"] for s in out} == {"W", "THING"}
    assert {s.annotations["spans"][0]["text"] for s in out} == {"ä", "b c"}


@pytest.mark.parametrize("kw, key", [
    ({"classes": {"c": ["{nope_not_a_provider}"]}}, "generator.classes.c[0]"),
    ({"classes": {"c": ["{name"]}}, "generator.classes.c[0]"),
    ({"classes": {"c": [{"template": "x", "weight": 0}]}}, "generator.classes.c[0].weight"),
    ({"classes": {"c": ["x"]}, "locale": "xx_XX"}, "generator.locale"),
    ({"classes": {"c": ["{w}"]}, "word_lists": {"w": []}}, "generator.word_lists.w"),
    ({"classes": {"c": ["{d}"]}, "providers": {"d": {"method": "nope"}}}, "generator.providers.d.method"),
])
def test_template_config_errors_name_the_key(pii, kw, key):
    g = TextTemplate(**kw)
    with pytest.raises(ConfigError) as e:
        g.fit(pii)
    assert str(e.value).startswith(key), str(e.value)


def test_template_unknown_class_is_config_error(pii):
    g = TextTemplate({"c": ["x"]}).fit(pii)
    with pytest.raises(ConfigError, match="no templates for class 'zzz'"):
        list(g.generate("zzz", 1, 0))


def test_augment_spans_exact_over_thousands(pii):
    g = TextAugment(ops=aug_ops(), n_ops=[1, 3]).fit(pii)
    ops_seen = set()
    n_spans = 0
    for label in pii.classes:
        for s in g.generate(label, 700, 1):
            check(s.data, s.annotations["spans"])
            n_spans += len(s.annotations["spans"])
            ops_seen |= {o["op"] for o in s.provenance.params["ops"]}
            assert s.provenance.parents[0] in {r.id for r in pii.by_class(label)}
    assert n_spans > 1500
    assert ops_seen == set(g.ops)


@pytest.mark.skipif(not HAS_WORDNET, reason="Debian wordnet-base not installed")
def test_wordnet_synonyms_are_real():
    from synthgen.generators.text.wordnet import synonyms

    t = synonyms()
    assert len(t) > 50000
    assert "glad" in t["happy"] and "large" in t["big"]


@pytest.mark.skipif(not HAS_WORDNET, reason="Debian wordnet-base not installed")
def test_augment_synonym_preserves_entities(pii):
    g = TextAugment(ops={"synonym": 1.0}, n_ops=[1, 1], alpha=0.5).fit(pii)
    for s in g.generate("account_update", 50, 0):
        parent = next(p for p in pii.samples if p.id == s.provenance.parents[0])
        assert [sp["text"] for sp in s.annotations["spans"]] == [sp["text"] for sp in parent.annotations["spans"]]
        assert s.data != parent.data


def test_augment_entity_replacement_changes_mentions_with_same_type(pii):
    g = TextAugment(ops={"entity": 1.0}, n_ops=[1, 1]).fit(pii)
    changed = 0
    for s in g.generate("payment_issue", 60, 0):
        parent = next(p for p in pii.samples if p.id == s.provenance.parents[0])
        assert [sp["label"] for sp in s.annotations["spans"]] == [sp["label"] for sp in parent.annotations["spans"]]
        changed += sum(a["text"] != b["text"] for a, b in zip(s.annotations["spans"], parent.annotations["spans"]))
    assert changed >= 60


@pytest.mark.parametrize("kw, key", [({"ops": {"shuffle": 1.0}}, "generator.ops.shuffle"), ({"n_ops": [2, 1]}, "generator.n_ops"),
                                     ({"alpha": 0}, "generator.alpha"), ({"wordnet_path": "/nonexistent"}, "generator.wordnet_path")])
def test_augment_config_errors(pii, kw, key):
    with pytest.raises(ConfigError) as e:
        TextAugment(**kw).fit(pii)
    assert str(e.value).startswith(key)


# -- property tests: spans stay aligned for arbitrary inputs --------------------------------------

@st.composite
def text_with_spans(draw):
    text = draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=80)
                | st.lists(st.sampled_from(["Anna", "big", "happy", "ßtraße", "İstanbul", "ﬁne", "\n", " ", ",", "car", "é"]),
                           max_size=25).map(" ".join))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=8))))
    spans = []
    for a, b in zip(cuts[0::2], cuts[1::2]):
        if a < b:
            spans.append({"start": a, "end": b, "label": draw(st.sampled_from(["PERSON", "DATE", "X"])), "text": text[a:b]})
    return text, spans


@pytest.fixture(scope="module")
def aug_all(pii):
    return TextAugment(ops=None if HAS_WORDNET else NO_WORDNET_OPS, alpha=0.3).fit(pii)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ts=text_with_spans(), seed=st.integers(0, 2**32), ops=st.lists(st.sampled_from(["synonym", "insert", "swap", "delete", "entity", "typo", "casing"]), min_size=1, max_size=4))
def test_property_augment_spans_stay_aligned(aug_all, ts, seed, ops):
    text, spans = ts
    if not HAS_WORDNET:
        ops = [o for o in ops if o in NO_WORDNET_OPS] or ["typo"]
    rng = np.random.default_rng(seed)
    out, new_spans, applied = aug_all.augment(text, spans, rng, seed, ops=ops)
    check(out, new_spans)
    assert len(new_spans) <= len(spans)
    # word-level edits never touch entity text; only entity/casing ops may change it
    if not {"entity", "casing"} & set(ops):
        assert [sp["text"] for sp in new_spans] == [sp["text"] for sp in spans]


@settings(max_examples=300, deadline=None)
@given(ts=text_with_spans(), data=st.data())
def test_property_apply_edit(ts, data):
    text, spans = ts
    s = data.draw(st.integers(0, len(text)))
    e = data.draw(st.integers(s, len(text)))
    new = data.draw(st.text(max_size=5))
    crosses = any((s < sp["start"] < e or s < sp["end"] < e) and not (sp["start"] <= s and e <= sp["end"]) for sp in spans)
    if crosses:
        with pytest.raises(ValueError):
            apply_edit(text, spans, s, e, new)
        return
    out, ns = apply_edit(text, spans, s, e, new)
    assert out == text[:s] + new + text[e:]
    check(out, ns)


def test_one_edit_engine():
    """Generators and stress suites share one engine: one QWERTY map (nlpaug's en.json letters, in its
    order), one case rule, and a batch of edits moves spans exactly as the same edits one at a time."""
    from synthgen.generators.text import augment
    from synthgen.stress import text as stress_text
    from synthgen.textedit import NEIGHBOURS, apply_edits, match_case

    assert augment.NEIGHBOURS is NEIGHBOURS is stress_text.NEIGHBOURS
    assert NEIGHBOURS["s"] == "qweadzxc" and NEIGHBOURS["q"] == "was" and NEIGHBOURS["m"] == "hjkn"
    assert all(c in NEIGHBOURS[n] for c, ns in NEIGHBOURS.items() for n in ns)  # adjacency is symmetric
    assert [match_case(s, "isn't") for s in ("IS NOT", "Is not", "is not")] == ["ISN'T", "Isn't", "isn't"]
    text = "Ann met Bob in Paris."
    spans = [{"start": 0, "end": 3, "label": "PER", "text": "Ann"}, {"start": 8, "end": 11, "label": "PER", "text": "Bob"},
             {"start": 15, "end": 20, "label": "LOC", "text": "Paris"}]
    edits = [(4, 7, "saw"), (8, 11, ""), (15, 15, "old "), (20, 20, "!")]
    out, moved = apply_edits(text, spans, edits)
    one, step = text, spans
    for a, b, new in sorted(edits, reverse=True):
        one, step = apply_edit(one, step, a, b, new)
    assert out == one == "Ann saw  in old Paris!." and moved == step
    assert [sp["text"] for sp in moved] == ["Ann", "Paris"]  # Bob was deleted: his label went with him
    with pytest.raises(ValueError):
        apply_edits(text, spans, [(2, 5, "x")])


# -- n-gram model ---------------------------------------------------------------------------------

def test_ngram_novelty_filter_never_copies(pii):
    g = TextNgram(order=3, discount=0.3, max_overlap=0.5).fit(pii)
    for label in pii.classes:
        real = {" ".join(s.data.split()).lower() for s in pii.by_class(label)}
        for s in g.generate(label, 40, 0):
            assert " ".join(s.data.split()).lower() not in real
            check(s.data, s.annotations["spans"])
            p = s.provenance.params
            assert 0.0 <= p["overlap"] <= 1.0 and p["novel"] == (p["overlap"] <= 0.5)


def test_ngram_spans_are_real_mentions(pii):
    g = TextNgram().fit(pii)
    mentions = {sp["text"] for s in pii.samples for sp in s.annotations["spans"]}
    n = 0
    for s in g.generate("account_update", 200, 5):
        check(s.data, s.annotations["spans"])
        n += len(s.annotations["spans"])
        assert all(sp["text"] in mentions for sp in s.annotations["spans"])
    assert n > 50


@pytest.mark.skipif(not HAS_FORTUNES, reason="Debian fortunes not installed")
def test_ngram_learns_class_vocabulary():
    from synthgen.io.fortunes import read_fortunes

    ds = read_fortunes(categories=["magic", "startrek"])
    g = TextNgram().fit(ds)
    from synthgen.generators.text.ngram import tokenize, words

    vocab = {c: {w for s in ds.by_class(c) for w in words(tokenize(s.data))} for c in ds.classes}
    for c in ds.classes:
        units = [w for s in g.generate(c, 30, 0) for w in words(tokenize(s.data))]
        assert len(units) > 300 and set(units) <= vocab[c]  # every unit comes from the class's own texts


def test_ngram_too_small_class_is_a_named_error():
    from synthgen.errors import InsufficientDataError

    ds = Dataset([Sample("a", "one two three four", "c", {"spans": []}, modality="text")], ["c"], "tiny", "jsonl", "text")
    g = TextNgram(order=3, discount=0.1, max_tries=3).fit(ds)
    with pytest.raises(InsufficientDataError, match="class 'c'"):
        list(g.generate("c", 1, 0))


def test_ngram_model_errors(pii):
    with pytest.raises(ConfigError, match="generator.model.bogus"):
        TextNgram(model={"bogus": 1}).fit(pii)
    with pytest.raises(ConfigError, match="generator.model.path"):
        TextNgram(model={"path": "/nonexistent/model"}).fit(pii)


def _tiny_lm(path: Path, texts: list[str]) -> None:
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>")
    import torch

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=len(fast), n_positions=256, n_embd=32, n_layer=1, n_head=2,
                                  bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(path)
    fast.save_pretrained(path)


def test_ngram_local_causal_lm(pii, tmp_path):
    pytest.importorskip("transformers")
    _tiny_lm(tmp_path / "lm", [s.data for s in pii.samples] * 3)
    make = lambda: TextNgram(model={"path": str(tmp_path / "lm"), "examples": 2, "max_new_tokens": 24, "separator": "\n%\n"}, max_tries=3, min_units=1)  # noqa: E731
    check_generator(make, pii, labels=["payment_issue"], n=3)
    s = next(make().fit(pii).generate("payment_issue", 1, 0))
    assert s.provenance.params["mode"] == "lm" and len(s.provenance.parents) == 2
    assert "transformers" in s.provenance.libraries


def _two_topics():
    fruit = ["I eat a ripe apple with honey and bread every morning.", "The pear and the apple were sweet and ripe.",
             "She baked an apple pie with cinnamon and sugar for us.", "Ripe plums and apples fill the basket today."]
    space = ["The rocket left the launch pad and reached orbit at dawn.", "Astronauts repaired the station panel in orbit.",
             "The probe sent pictures of the red planet from orbit.", "A new telescope watched the distant galaxy all night."]
    s = [Sample(f"f{i}", t, "fruit", modality="text") for i, t in enumerate(fruit)]
    s += [Sample(f"s{i}", t, "space", modality="text") for i, t in enumerate(space)]
    return Dataset(s, ["fruit", "space"], "tiny", "jsonl", "text", "classification")


def test_ngram_background_borrows_words_from_the_other_classes_and_copies_none():
    ds = _two_topics()
    own = {w.lower().strip(".,") for s in ds.samples if s.label == "fruit" for w in s.data.split()}
    real = {" ".join(s.data.split()) for s in ds.samples}

    def borrowed(bg):
        g = TextNgram(order=2, min_units=3, background=bg).fit(ds)
        made = list(g.generate("fruit", 40, 0))
        assert not any(" ".join(m.data.split()) in real for m in made)  # no copy of any class's real text
        return made, sum(1 for m in made for w in m.data.split() if w.lower().strip(".,") not in own)

    plain, none = borrowed(0.0)
    mixed, some = borrowed(0.5)
    assert none == 0 and some > 0  # only the background brings words the class never used
    assert all(m.provenance.params["background"] == 0.5 for m in mixed) and "background" not in plain[0].provenance.params
    # background 0 draws exactly as before the option existed: no extra random numbers
    again = list(TextNgram(order=2, min_units=3).fit(ds).generate("fruit", 40, 0))
    assert [m.data for m in again] == [m.data for m in plain]
    with pytest.raises(ConfigError, match="generator.background"):
        TextNgram(background=1.0).fit(ds)
