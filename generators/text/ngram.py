"""``generator=text_ngram``: a smoothed n-gram model per class, fitted on its real texts.

Texts are cut into units (a word, or one punctuation mark) that carry their preceding whitespace in
a normal form (none, one space, or newlines plus the next line's indentation), so sampled texts keep
line breaks and indentation and ``"".join(tokens)`` is the text.  Entity spans of NER data become
one placeholder unit per label; sampled placeholders are filled with real mentions of that label
(drawn by the sample's RNG), and their spans are exact.

The model is interpolated Kneser-Ney (absolute discount ``discount``), sampled exactly by descending
the interpolation: at each order the observed continuations are taken with their discounted mass,
otherwise the next lower order decides.  A novelty filter rejects candidates that copy real texts:
an exact copy (up to whitespace and case) is never emitted, and a candidate whose share of word
``novelty_n``-grams found in the real class exceeds ``max_overlap`` is redrawn, up to ``max_tries``
times; the least-overlapping candidate is kept and its overlap recorded in the provenance.

``model.path`` switches to a local causal language model through transformers (local files only,
never a hub download): it is prompted with ``model.examples`` real texts of the class joined by
``model.separator`` and its continuation up to the next separator is the sample (same novelty
filter).  Install ``synthgen-rare[text-lm]`` for it.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError, InsufficientDataError
from synthgen.seeding import sample_seed

from ..base import BaseGenerator

UNIT_RE = re.compile(r"(\s*)(\w+(?:['’-]\w+)*|[^\w\s])", re.UNICODE)
BOS, EOS = "\x02", "\x03"
ENT = "\x00"  # placeholder units are ENT + label + ENT
MODEL_KEYS = {"path", "examples", "max_new_tokens", "temperature", "top_k", "separator", "max_prompt_tokens"}


def _norm_ws(ws: str) -> str:
    if "\n" in ws:
        return "\n" * min(2, ws.count("\n")) + ws.rsplit("\n", 1)[1]
    return " " if ws else ""


def tokenize(text: str, spans: list[dict[str, Any]] | None = None) -> list[str]:
    """Units with normalised leading whitespace; each (non-overlapping) span becomes one placeholder."""
    pieces: list[tuple[str, str | None]] = []
    pos = 0
    for sp in sorted(spans or [], key=lambda d: (d["start"], d["end"])):
        if sp["start"] < pos:
            continue  # overlapping span: keep the first
        pieces.append((text[pos:sp["start"]], None))
        pieces.append((text[sp["start"]:sp["end"]], sp["label"]))
        pos = sp["end"]
    pieces.append((text[pos:], None))
    out: list[str] = []
    pending = " "  # the first unit gets a space, as if mid-text, so it never glues when sampled later
    for seg, label in pieces:
        if label is not None:
            out.append(_norm_ws(pending) + ENT + label + ENT)
            pending = ""
            continue
        end = 0
        for m in UNIT_RE.finditer(seg):
            out.append(_norm_ws(pending + m.group(1)) + m.group(2))
            pending = ""
            end = m.end()
        pending += seg[end:]
    return out


def words(units: list[str]) -> list[str]:
    """The units without whitespace, lower-cased (what the novelty filter compares)."""
    return [u.strip().lower() for u in units]


def _ngrams(seq: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)}


class KneserNey:
    """Interpolated Kneser-Ney n-gram model over unit sequences, with exact ancestral sampling."""

    def __init__(self, order: int, discount: float):
        self.order, self.d = order, discount

    def fit(self, seqs: list[list[str]]) -> "KneserNey":
        n = self.order
        high: dict[tuple, Counter] = defaultdict(Counter)
        for seq in seqs:
            s = [BOS] * (n - 1) + seq + [EOS]
            for i in range(n - 1, len(s)):
                high[tuple(s[i - n + 1:i])][s[i]] += 1
        # lower orders use continuation counts: how many distinct left contexts precede (ctx, w)
        levels = {n: high}
        for k in range(n - 1, 0, -1):
            lower: dict[tuple, Counter] = defaultdict(Counter)
            for ctx, cnt in levels[k + 1].items():
                for w in cnt:
                    lower[ctx[1:]][w] += 1
            levels[k] = lower
        self.tables = {}
        for k, lv in levels.items():
            tab = {}
            for ctx, cnt in lv.items():
                toks = sorted(cnt)
                c = np.array([cnt[t] for t in toks], dtype=np.float64)
                total = c.sum()
                disc = np.maximum(c - self.d, 0.0)
                tab[ctx] = (toks, np.cumsum(disc) / total, disc.sum() / total)
            self.tables[k] = tab
        self.vocab = sorted(levels[1][()])
        return self

    def next(self, history: list[str], rng: np.random.Generator) -> str:
        for k in range(self.order, 0, -1):
            ctx = tuple(history[len(history) - (k - 1):]) if k > 1 else ()
            row = self.tables[k].get(ctx)
            if row is None:
                continue
            toks, cum, mass = row
            u = rng.random()
            if u < mass:
                return toks[min(int(np.searchsorted(cum, u, side="right")), len(toks) - 1)]
        return self.vocab[int(rng.integers(len(self.vocab)))]  # uniform floor

    def sample(self, rng: np.random.Generator, max_units: int, background: "KneserNey | None" = None,
               weight: float = 0.0) -> list[str]:
        """Ancestral sampling; with ``background``, each next unit comes from it with probability
        ``weight`` (exactly sampling ``(1 - weight) P_self + weight P_background``)."""
        hist = [BOS] * (self.order - 1)
        out: list[str] = []
        while len(out) < max_units:
            use_bg = background is not None and weight > 0 and rng.random() < weight
            t = (background if use_bg else self).next(hist, rng)
            if t == EOS:
                break
            if t == BOS:
                continue
            out.append(t)
            hist.append(t)
        return out


class TextNgram(BaseGenerator):
    """New texts of a class from an n-gram model (or a local causal LM) fitted on / prompted with it."""

    modality = "text"
    version = "1"
    short_name = "ngram"
    probe_classes = True  # cheap to try one sample per class: synthgen run marks a class it cannot make INCOMPUTABLE

    def __init__(self, order: int = 3, discount: float = 0.3, min_units: int = 4, max_units: int = 300,
                 novelty_n: int = 4, max_overlap: float = 0.7, max_tries: int = 20, model: dict[str, Any] | None = None,
                 background: float = 0.0):
        self.order = int(order)
        self.discount = float(discount)
        self.min_units = int(min_units)
        self.max_units = int(max_units)
        self.novelty_n = int(novelty_n)
        self.max_overlap = float(max_overlap)
        self.max_tries = int(max_tries)
        self.model = plain(model) or {}
        self.background = float(background)
        self._models: dict[str, Any] = {}
        self._lm = None

    @property
    def libraries(self) -> tuple[str, ...]:
        return ("numpy", "transformers", "torch") if self.lm_path else ("numpy",)

    @property
    def lm_path(self) -> str | None:
        return (self.model or {}).get("path")

    def _check(self) -> None:
        if self.order < 1:
            raise ConfigError(f"generator.order: must be >= 1, got {self.order}")
        if not 0.0 < self.discount < 1.0:
            raise ConfigError(f"generator.discount: must be in (0, 1), got {self.discount}")
        if not 1 <= self.min_units <= self.max_units:
            raise ConfigError(f"generator.min_units/max_units: need 1 <= min_units <= max_units, got {self.min_units}, {self.max_units}")
        if self.novelty_n < 1 or not 0.0 <= self.max_overlap <= 1.0 or self.max_tries < 1:
            raise ConfigError("generator.novelty_n/max_overlap/max_tries: need novelty_n >= 1, 0 <= max_overlap <= 1, max_tries >= 1")
        if not 0.0 <= self.background < 1.0:
            raise ConfigError(f"generator.background: the other classes' weight, in [0, 1), got {self.background}")
        if not isinstance(self.model, dict):
            raise ConfigError("generator.model: must be a mapping (path, examples, max_new_tokens, ...)")
        for k in self.model:
            if k not in MODEL_KEYS:
                raise ConfigError(f"generator.model.{k}: unknown key (allowed: {', '.join(sorted(MODEL_KEYS))})")

    def fit(self, real) -> "TextNgram":
        self._check()
        self.real_ = real
        self._models = {}
        self._bg = None
        if self.lm_path:
            self._load_lm()
        return self

    # -- per-class statistics (built on first use) ---------------------------------------------
    def class_model(self, label: str) -> dict[str, Any]:
        if label not in self._models:
            pool = [s for s in self.candidates(label) if isinstance(s.data, str)]
            if not pool:
                raise InsufficientDataError(f"class '{label}': no real texts to learn from")
            seqs = [tokenize(s.data, s.annotations.get("spans")) for s in pool]
            seqs = [q for q in seqs if q]
            if not seqs:
                raise InsufficientDataError(f"class '{label}': real texts have no words")
            mentions: dict[str, set[str]] = defaultdict(set)
            for s in pool:
                for sp in s.annotations.get("spans", []):
                    mentions[sp["label"]].add(sp["text"])
            grams: set[tuple[str, ...]] = set()
            for q in seqs:
                grams |= _ngrams(words(q), self.novelty_n)
            self._models[label] = {
                "kn": None if self.lm_path else KneserNey(self.order, self.discount).fit(seqs),
                "pool": pool,
                "copies": {" ".join(words(q)) for q in seqs},
                "grams": grams,
                "mentions": {k: sorted(v) for k, v in mentions.items()},
            }
        return self._models[label]

    def background_model(self) -> dict[str, Any] | None:
        """The n-gram model of every real text of every class (``background`` > 0), and every real text's
        words, which no candidate may copy (a copy of another class's text would be a mislabeled real sample)."""
        if self.background <= 0 or self.lm_path:
            return None
        if getattr(self, "_bg", None) is None:
            seqs = [q for q in (tokenize(s.data, s.annotations.get("spans")) for s in self.real_.samples
                                if isinstance(s.data, str)) if q]
            self._bg = {"kn": KneserNey(self.order, self.discount).fit(seqs), "copies": {" ".join(words(q)) for q in seqs}}
        return self._bg

    def overlap(self, units: list[str], cm: dict[str, Any]) -> float:
        w = words(units)
        g = [tuple(w[i:i + self.novelty_n]) for i in range(len(w) - self.novelty_n + 1)]
        if not g:
            return 1.0 if " ".join(w) in cm["copies"] else 0.0
        return sum(x in cm["grams"] for x in g) / len(g)

    def realise(self, units: list[str], cm: dict[str, Any], rng: np.random.Generator):
        """Units -> (text, spans, missing labels): placeholders become real mentions of their label."""
        buf, spans, pos = [], [], 0
        units = list(units)
        if units:  # no leading blank lines or space: a text starts at its first unit (indentation stays)
            first = units[0].lstrip("\n")
            units[0] = first[1:] if first.startswith(" ") else first
        for u in units:
            body = u.split(ENT)[1] if ENT in u else u
            if buf and buf[-1] and (buf[-1][-1].isalnum() or buf[-1][-1] == "_") and (body[:1].isalnum() or ENT in u) and u == u.lstrip():
                u = " " + u  # a unit that followed punctuation in its real text: never glue it to a word
            if ENT in u:
                ws, label, _ = u.split(ENT)
                opts = cm["mentions"].get(label) or []
                if not opts:
                    continue
                value = opts[int(rng.integers(len(opts)))]
                buf.append(ws)
                pos += len(ws)
                spans.append({"start": pos, "end": pos + len(value), "label": label, "text": value})
                buf.append(value)
                pos += len(value)
            else:
                buf.append(u)
                pos += len(u)
        return "".join(buf), spans

    # -- the local causal language model (optional) ---------------------------------------------
    def _load_lm(self):
        if self._lm is None:
            from pathlib import Path

            path = Path(str(self.lm_path)).expanduser()
            if not path.is_dir():
                raise ConfigError(f"generator.model.path: {path} is not a folder with a saved model (save_pretrained)")
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError:
                raise ConfigError("generator.model.path: a local language model needs transformers "
                                  "(pip install 'synthgen-rare[text-lm]')") from None
            try:
                tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                lm = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
            except (OSError, ValueError) as e:
                raise ConfigError(f"generator.model.path: cannot load a causal LM from {path} ({str(e).splitlines()[0]})") from None
            lm.eval()
            torch.set_num_threads(1)
            self._lm = (tok, lm)
        return self._lm

    def _lm_sample(self, cm, rng, tseed: int) -> tuple[list[str], list[str]]:
        import torch

        tok, lm = self._load_lm()
        m = self.model
        sep = str(m.get("separator", "\n%\n"))
        pool = cm["pool"]
        k = min(int(m.get("examples", 3)), len(pool))
        pick = [pool[int(i)] for i in rng.choice(len(pool), size=k, replace=False)]
        prompt = sep.join(s.data for s in pick) + sep
        ids = tok(prompt, return_tensors="pt")["input_ids"][:, -int(m.get("max_prompt_tokens", 512)):]
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id if tok.eos_token_id is not None else 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tseed)
            with torch.no_grad():
                out = lm.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                  max_new_tokens=int(m.get("max_new_tokens", 80)), temperature=float(m.get("temperature", 1.0)),
                                  top_k=int(m.get("top_k", 50)), pad_token_id=pad)
        text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        text = text.split(sep)[0].split(sep.strip())[0].strip() if sep.strip() else text.split(sep)[0].strip()
        return tokenize(text), [s.id for s in pick]

    # -- generation ---------------------------------------------------------------------------
    def _make(self, label, index, rng, seed):
        self._check()
        cm = self.class_model(label)
        bg = self.background_model()
        best = None
        parents: list[str] = []
        used = 0
        for t in range(self.max_tries):
            used = t + 1
            if self.lm_path:
                units, par = self._lm_sample(cm, rng, sample_seed(seed, label, index, f"torch{t}"))
            else:
                units, par = cm["kn"].sample(rng, self.max_units, bg and bg["kn"], self.background), []
            if len(units) < self.min_units and t + 1 < self.max_tries:
                continue
            if not units or " ".join(words(units)) in (bg["copies"] if bg else cm["copies"]):
                continue
            ov = self.overlap(units, cm)
            if best is None or ov < best[1]:
                best, parents = (units, ov, t + 1), par
            if ov <= self.max_overlap and len(units) >= self.min_units:
                break
        if best is None:
            raise InsufficientDataError(f"class '{label}': every one of {self.max_tries} candidates copied a real text "
                                        f"(too few real texts for order {self.order}; lower generator.order)")
        units, ov, _ = best
        text, spans = self.realise(units, cm, rng)
        params = {"mode": "lm" if self.lm_path else "ngram", "tries": used, "overlap": round(float(ov), 4),
                  "n_units": len(units), "novel": bool(ov <= self.max_overlap)}
        if bg:
            params["background"] = self.background
        return text, {"spans": spans}, parents, params
