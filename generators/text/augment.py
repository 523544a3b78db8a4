"""``generator=text_augment``: label-preserving edits of real texts of the class (EDA and more).

Operations (Wei and Zou 2019, "EDA", plus three for entity-labeled text):

* ``synonym``: replace up to ``alpha`` x words words by a WordNet synonym (offline, see wordnet.py)
* ``insert``: insert a synonym of a random word at a random word position, ``alpha`` x words times
* ``swap``: swap two random words, ``alpha`` x words times
* ``delete``: delete each word with probability ``alpha`` (at least one word stays)
* ``entity``: replace entity mentions (spans) by a Faker value of the same type (or, for labels
  Faker has no provider for, by another real mention of that label)
* ``typo``: keyboard typos (a QWERTY neighbour or two swapped letters) at rate ``typo_rate`` per letter
* ``casing``: the whole text lower-, upper- or first-letter-cased

Each sample picks ``n_ops`` operations (weights in ``ops``) among those that apply to its parent;
parents to which no operation applies (a one-word text, say) are never drawn, and a class with no
such parent raises :class:`~synthgen.errors.InsufficientDataError` (``synthgen run`` then marks the
class INCOMPUTABLE and generates the others).

Language: WordNet is English.  Each class's language is ``generator.language`` or, with ``auto``,
detected from its real texts (:mod:`synthgen.language`).  An English class gets WordNet synonyms; a
class in another language gets synonyms from the LibreOffice thesaurus Debian ships for it
(``mythes-<lang>``, read by thesaurus.py) when installed; otherwise (or when the language is
unknown) ``synonym`` and ``insert`` are skipped for that class with one warning line on stderr, and
provenance records why.  The other operations apply to any language; ``locale: auto`` picks the
Faker locale of the class language for ``entity``.
Word-level operations only touch words outside entity spans; every edit goes through
:mod:`synthgen.textedit` (the edit engine the stress suites use too: one QWERTY neighbour map, one
case rule), so spans move with each edit and always satisfy ``text[start:end] == span["text"]``.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from synthgen import language as lang_mod
from synthgen.config import plain
from synthgen.errors import ConfigError, InsufficientDataError
from synthgen.seeding import sample_seed
from synthgen.textedit import NEIGHBOURS, apply_edit, free_words, inside_any, match_case, neighbour_key

from ..base import BaseGenerator
from . import thesaurus
from .template import make_faker
from .wordnet import DEFAULT_PATH as WORDNET_PATH
from .wordnet import synonyms

OPS = ("synonym", "insert", "swap", "delete", "entity", "typo", "casing")
DEFAULT_OPS = {"synonym": 1.0, "insert": 1.0, "swap": 1.0, "delete": 1.0, "entity": 1.0, "typo": 0.5, "casing": 0.25}

# Faker method per entity label (labels from text_template's defaults)
ENTITY_PROVIDERS = {
    "PERSON": "name", "ADDRESS": "address", "LOCATION": "city", "ORG": "company", "DATE": "date", "EMAIL": "email",
    "PHONE": "phone_number", "IBAN": "iban", "SWIFT": "swift", "CREDIT_CARD": "credit_card_number",
    "ID_NUMBER": "ssn", "IP_ADDRESS": "ipv4", "URL": "url", "USERNAME": "user_name",
}

STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because been before being below
between both but by can did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only
or other our ours ourselves out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where which while who whom why will
with you your yours yourself yourselves""".split())

_WARNED: set[tuple[str, str]] = set()  # (class, language) already warned about


class TextAugment(BaseGenerator):
    """EDA-style augmentation of real texts of the class, with spans kept exact."""

    modality = "text"
    version = "3"  # 2: typos draw from the shared QWERTY map (synthgen.textedit), in nlpaug's order; 3: per-class
    # language (WordNet for English only, MyThes thesauri for others) and parents with no applicable op never drawn
    probe_classes = True  # cheap to try one sample per class: synthgen run marks a class it cannot make INCOMPUTABLE
    short_name = "textaug"
    libraries = ("faker",)

    def __init__(self, ops: dict[str, float] | None = None, n_ops: list[int] | tuple[int, int] = (1, 2), alpha: float = 0.1,
                 typo_rate: float = 0.03, locale: str = "auto", wordnet_path: str = WORDNET_PATH,
                 entity_providers: dict[str, str] | None = None, language: str = "auto",
                 thesaurus_dir: str = thesaurus.DEFAULT_DIR):
        self.ops = plain(ops) if ops is not None else dict(DEFAULT_OPS)
        self.n_ops = list(plain(n_ops))
        self.alpha = float(alpha)
        self.typo_rate = float(typo_rate)
        self.locale = str(locale)
        self.wordnet_path = str(wordnet_path)
        self.entity_providers = plain(entity_providers) or {}
        self.language = str(language)
        self.thesaurus_dir = str(thesaurus_dir)
        self._checked = False
        self._faker = None
        self._fakers: dict[str, Any] = {}
        self._table_now: dict[str, tuple[str, ...]] = {}

    # -- set-up -------------------------------------------------------------------------------
    def check(self) -> None:
        if self._checked:
            return
        if not isinstance(self.ops, dict) or not self.ops:
            raise ConfigError("generator.ops: must map operation names to weights")
        for k, w in self.ops.items():
            if k not in OPS:
                raise ConfigError(f"generator.ops.{k}: unknown operation (known: {', '.join(OPS)})")
            if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
                raise ConfigError(f"generator.ops.{k}: weight must be a number >= 0, got {w!r}")
        if not any(w > 0 for w in self.ops.values()):
            raise ConfigError("generator.ops: at least one operation needs a positive weight")
        if len(self.n_ops) != 2 or not all(isinstance(v, int) for v in self.n_ops) or not 1 <= self.n_ops[0] <= self.n_ops[1]:
            raise ConfigError(f"generator.n_ops: must be [min, max] with 1 <= min <= max, got {self.n_ops}")
        if not 0.0 < self.alpha <= 1.0:
            raise ConfigError(f"generator.alpha: must be in (0, 1], got {self.alpha}")
        if not 0.0 < self.typo_rate <= 1.0:
            raise ConfigError(f"generator.typo_rate: must be in (0, 1], got {self.typo_rate}")
        self._language = lang_mod.check_language(self.language, "generator.language")
        if self.locale != "auto":
            make_faker(self.locale)  # an unknown locale is an error now, not at the first entity
        if (self.ops.get("synonym", 0) > 0 or self.ops.get("insert", 0) > 0) and self._language in ("auto", "en"):
            synonyms(self.wordnet_path)
        self._checked = True

    def faker(self, locale: str | None = None):
        loc = locale or (self.locale if self.locale != "auto" else "en_US")
        if loc not in self._fakers:
            self._fakers[loc] = make_faker(loc)
        return self._fakers[loc]

    # -- the language of a class: which synonyms, which Faker locale ---------------------------
    def language_info(self, texts: list[str], where: str) -> dict[str, Any]:
        """Language, synonym source and Faker locale for these texts (``where`` names them in the warning)."""
        self.check()
        det = lang_mod.resolve(self._language, texts)
        code = det.code
        info: dict[str, Any] = {"language": code, "language_source": "auto" if self._language == "auto" else "config"}
        if self._language == "auto":
            info["language_confidence"] = round(det.confidence, 4)
        info["faker_locale"] = self.locale if self.locale != "auto" else lang_mod.FAKER_LOCALES.get(code, "en_US")
        wants = [op for op in ("synonym", "insert") if self.ops.get(op, 0) > 0]
        if code == "en":
            info["synonyms"] = "wordnet"
        else:
            path = thesaurus.find(code, self.thesaurus_dir) if code != lang_mod.UNKNOWN else None
            if path is not None:
                info["synonyms"] = f"mythes:{path}"
            else:
                info["synonyms"] = None
                if code == lang_mod.UNKNOWN:
                    why = (f"language {det.describe()}; WordNet is English only: set generator.language=en "
                           f"if the texts are English")
                else:
                    why = (f"language '{code}': WordNet is English only and no thesaurus for '{code}' is installed "
                           f"(apt-get install mythes-{code}, read from {self.thesaurus_dir})")
                info["skipped_ops"] = {op: why for op in wants}
                if wants and (where, code) not in _WARNED:  # once per process, however many folds refit
                    _WARNED.add((where, code))
                    print(f"synthgen: warning: text_augment: {where}: {' and '.join(wants)} skipped: {why}",
                          file=sys.stderr, flush=True)
        return info

    def class_language(self, label: str) -> dict[str, Any]:
        cache = self.__dict__.setdefault("_languages", {})
        if label not in cache:
            texts = [s.data for s in self.real_.samples if s.label == label and isinstance(s.data, str)] \
                if getattr(self, "real_", None) is not None else []
            cache[label] = self.language_info(texts, f"class '{label}'")
        return cache[label]

    def _use(self, info: dict[str, Any]) -> None:
        """Make ``info``'s synonym table the one the operations read."""
        src = info.get("synonyms")
        self._stop_now = STOPWORDS | lang_mod.STOPWORDS.get(info.get("language", ""), frozenset())
        if not (self.ops.get("synonym", 0) > 0 or self.ops.get("insert", 0) > 0):
            self._table_now = {}
        elif src == "wordnet":
            self._table_now = synonyms(self.wordnet_path)
        elif src:
            self._table_now = thesaurus.synonyms(src.split(":", 1)[1])
        else:
            self._table_now = {}

    def fit(self, real) -> "TextAugment":
        self.check()
        self.real_ = real
        for k in ("_candidates", "_languages", "_parents", "_text_languages"):
            self.__dict__.pop(k, None)
        mentions: dict[str, set[str]] = {}
        for s in real.samples:
            for sp in s.annotations.get("spans", []):
                mentions.setdefault(sp["label"], set()).add(sp["text"])
        self.mentions_ = {k: sorted(v) for k, v in mentions.items()}
        return self

    # -- operations: each takes (text, spans, rng) and returns (text, spans, detail) ------------
    def _syn(self):
        return self._table_now

    def _synonym_words(self, text, spans):
        table = self._syn()
        stop = getattr(self, "_stop_now", STOPWORDS)
        return [(s, e) for s, e in free_words(text, spans) if text[s:e].lower() not in stop and text[s:e].lower() in table]

    def op_synonym(self, text, spans, rng):
        cands = self._synonym_words(text, spans)
        n = max(1, int(round(self.alpha * len(free_words(text, spans)))))
        done = []
        for s, e in sorted((cands[i] for i in rng.permutation(len(cands))[:n]), reverse=True):
            word = text[s:e]
            opts = self._syn()[word.lower()]
            new = match_case(word, opts[int(rng.integers(len(opts)))])
            text, spans = apply_edit(text, spans, s, e, new)
            done.append([word, new])
        return text, spans, {"replaced": done[::-1]}

    def op_insert(self, text, spans, rng):
        n = max(1, int(round(self.alpha * len(free_words(text, spans)))))
        done = []
        for _ in range(n):
            cands = self._synonym_words(text, spans)
            words = free_words(text, spans)
            if not cands or not words:
                break
            s, e = cands[int(rng.integers(len(cands)))]
            opts = self._syn()[text[s:e].lower()]
            new = opts[int(rng.integers(len(opts)))]
            at = words[int(rng.integers(len(words)))][0]
            text, spans = apply_edit(text, spans, at, at, new + " ")
            done.append([at, new])
        return text, spans, {"inserted": done}

    def op_swap(self, text, spans, rng):
        n = max(1, int(round(self.alpha * len(free_words(text, spans)))))
        done = []
        for _ in range(n):
            words = free_words(text, spans)
            if len(words) < 2:
                break
            i, j = sorted(int(v) for v in rng.choice(len(words), size=2, replace=False))
            (a0, a1), (b0, b1) = words[i], words[j]
            wa, wb = text[a0:a1], text[b0:b1]
            text, spans = apply_edit(text, spans, b0, b1, wa)
            text, spans = apply_edit(text, spans, a0, a1, wb)
            done.append([wa, wb])
        return text, spans, {"swapped": done}

    def op_delete(self, text, spans, rng):
        words = free_words(text, spans)
        drop = [w for w in words if rng.random() < self.alpha]
        if len(drop) >= len(words):
            drop = drop[:-1]
        if not drop and len(words) > 1:
            drop = [words[int(rng.integers(len(words)))]]
        done = []
        for s, e in sorted(drop, reverse=True):
            word = text[s:e]
            if e < len(text) and text[e] == " " and not inside_any(e, e + 1, spans):
                e += 1
            elif s > 0 and text[s - 1] == " " and not inside_any(s - 1, s, spans):
                s -= 1
            text, spans = apply_edit(text, spans, s, e, "")
            done.append(word)
        return text, spans, {"deleted": done[::-1]}

    def op_entity(self, text, spans, rng, fake):
        order = sorted(range(len(spans)), key=lambda k: -spans[k]["start"])
        pick = [k for k in order if rng.random() < 0.5] or [order[int(rng.integers(len(order)))]]
        done = []
        for k in sorted(pick, key=lambda k: -spans[k]["start"]):
            sp = spans[k]
            others = [o for j, o in enumerate(spans) if j != k]
            if inside_any(sp["start"], sp["end"], others):
                continue  # overlapping entities: replacing one would cut the other
            label = sp["label"]
            method = self.entity_providers.get(label, ENTITY_PROVIDERS.get(label))
            if method is not None:
                fn = getattr(fake, str(method), None)
                if not callable(fn):
                    raise ConfigError(f"generator.entity_providers.{label}: Faker has no method {method!r}")
                new = str(fn())
            else:
                pool = [m for m in self.mentions_.get(label, []) if m != sp["text"]] if hasattr(self, "mentions_") else []
                if not pool:
                    continue
                new = pool[int(rng.integers(len(pool)))]
            if not new:
                continue
            old = sp["text"]
            text, spans = apply_edit(text, spans, sp["start"], sp["end"], new)
            done.append([label, old, new])
        return text, spans, {"replaced": done[::-1]}

    def op_typo(self, text, spans, rng):
        done = []
        letters = [i for s, e in free_words(text, spans) for i in range(s, e) if text[i].lower() in NEIGHBOURS]
        hits = [i for i in letters if rng.random() < self.typo_rate]
        if not hits and letters:
            hits = [letters[int(rng.integers(len(letters)))]]
        for i in sorted(hits, reverse=True):
            ch = text[i]
            if rng.random() < 0.25 and i + 1 < len(text) and text[i + 1].lower() in NEIGHBOURS and not inside_any(i, i + 2, spans):
                new = text[i + 1] + ch  # two letters swapped
                text, spans = apply_edit(text, spans, i, i + 2, new)
                done.append([i, ch + new[0], new])
                continue
            sub = neighbour_key(ch, rng)
            text, spans = apply_edit(text, spans, i, i + 1, sub)
            done.append([i, ch, sub])
        return text, spans, {"typos": done[::-1]}

    def op_casing(self, text, spans, rng):
        mode = ("lower", "upper", "first")[int(rng.integers(3))]
        if mode == "first":
            i = next((k for k, c in enumerate(text) if c.isalpha()), None)
            if i is None:
                return text, spans, {"mode": mode}
            new = text[i].lower() if text[i].isupper() else text[i].upper()
            if len(new) != 1:
                new = text[i]
            text, spans = apply_edit(text, spans, i, i + 1, new)
            return text, spans, {"mode": mode}
        cuts = sorted({0, len(text)} | {sp["start"] for sp in spans} | {sp["end"] for sp in spans})
        for a, b in reversed(list(zip(cuts[:-1], cuts[1:]))):
            seg = text[a:b]
            new = seg.lower() if mode == "lower" else seg.upper()
            if new != seg:
                text, spans = apply_edit(text, spans, a, b, new)
        return text, spans, {"mode": mode}

    # -- one augmented text ----------------------------------------------------------------------
    def applicable(self, text: str, spans: list[dict[str, Any]]) -> list[str]:
        words = free_words(text, spans)
        ok = []
        for op, w in self.ops.items():
            if w <= 0:
                continue
            if op in ("synonym", "insert") and not self._synonym_words(text, spans):
                continue
            if op == "swap" and len(words) < 2:
                continue
            if op == "delete" and len(words) < 2:
                continue
            if op == "entity" and not spans:
                continue
            if op == "typo" and not any(text[i].lower() in NEIGHBOURS for s, e in words for i in range(s, e)):
                continue
            ok.append(op)
        return ok

    def augment(self, text: str, spans: list[dict[str, Any]], rng: np.random.Generator, faker_seed: int,
                ops: list[str] | None = None, label: str | None = None) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        """Apply ``ops`` (default: ``n_ops`` drawn by weight) in order; returns (text, spans, applied).

        The language (synonym source, Faker locale) is that of class ``label``, or, without a label,
        of ``text`` itself; ``synonym``/``insert`` asked for where no synonyms exist change nothing.
        """
        self.check()
        info = self.class_language(label) if label is not None else self._text_language(text)
        self._use(info)
        spans = [dict(sp) for sp in spans]
        if ops is None:
            cand = self.applicable(text, spans)
            if not cand:
                return text, spans, []
            w = np.array([float(self.ops[o]) for o in cand])
            k = int(rng.integers(self.n_ops[0], self.n_ops[1] + 1))
            ops = [cand[int(i)] for i in rng.choice(len(cand), size=min(k, len(cand)), replace=False, p=w / w.sum())]
        applied = []
        fake = None
        for op in ops:
            if op == "entity":
                if not spans:
                    continue
                if fake is None:
                    fake = self.faker(info["faker_locale"])
                    fake.seed_instance(faker_seed)
                text, spans, detail = self.op_entity(text, spans, rng, fake)
            else:
                text, spans, detail = getattr(self, f"op_{op}")(text, spans, rng)
            applied.append({"op": op, **detail})
        return text, spans, applied

    def _text_language(self, text: str) -> dict[str, Any]:
        cache = self.__dict__.setdefault("_text_languages", {})
        if text not in cache:
            if len(cache) > 4096:
                cache.clear()
            cache[text] = self.language_info([text], "text")
        return cache[text]

    def parents(self, label: str) -> list:
        """The class's real texts to which at least one operation applies (its language's operations)."""
        cache = self.__dict__.setdefault("_parents", {})
        pool = self.candidates(label)
        key = (label, id(pool))  # candidates change with guide(): so does this
        if key in cache:
            return cache[key]
        for s in pool:
            if not isinstance(s.data, str):
                raise ConfigError(f"generator: text_augment needs text samples, got {type(s.data).__name__} in {s.id}")
        info = self.class_language(label)
        self._use(info)
        ok = [s for s in pool if self.applicable(s.data, s.annotations.get("spans", []))]
        if not ok:
            ops = ", ".join(op for op, w in self.ops.items() if w > 0 and op not in info.get("skipped_ops", {}))
            raise InsufficientDataError(f"class '{label}': text_augment cannot change any of its {len(pool)} real texts "
                                        f"(no operation among {ops or 'none'} applies, e.g. one-word texts without spans)")
        cache[key] = ok
        return ok

    def _make(self, label, index, rng, seed):
        self.check()
        pool = self.parents(label)
        parent = pool[int(rng.integers(len(pool)))]
        fseed = sample_seed(seed, label, index, "faker")
        text, spans, applied = self.augment(parent.data, parent.annotations.get("spans", []), rng, fseed, label=label)
        ann = {k: v for k, v in parent.annotations.items() if k != "spans"}
        ann["spans"] = sorted(spans, key=lambda d: (d["start"], d["end"], d["label"]))
        info = self.class_language(label)
        params = {"parent": parent.id, "ops": applied, "locale": info["faker_locale"], "faker_seed": fseed,
                  **{k: v for k, v in info.items() if k != "faker_locale"}}
        return text, ann, [parent.id], params
