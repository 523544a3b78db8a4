"""Text perturbations in the style of CheckList (Ribeiro et al., ACL 2020).

Each perturbation edits whole tokens (or the whitespace between them) and is marked *invariant*
(a model's prediction must not change) or *directional* (it should change).  Severity is the share
of eligible tokens touched: ``SHARES[severity - 1]`` (10 % to 50 %), at least one when any token is
eligible; the share actually touched is recorded.

Character spans (``annotations["spans"] = [{"start", "end", "label", "text"}]``) stay aligned: every
edit is a replacement of ``text[a:b]`` applied by :mod:`synthgen.textedit`, the edit engine the text
generators use too (one tokeniser, one QWERTY neighbour map, one case rule); spans move with the
text, an edit that would cut across a span boundary is never chosen, and each span's ``text`` is
refreshed from the new string.

Language: ``contractions`` and ``negation`` know English only (English contraction pairs, English
auxiliaries and "not").  A suite whose base texts are not English (``stress.language``, or with
``auto`` the language detected from the base texts by :mod:`synthgen.language`) leaves them out as
*not applicable*: no samples, the reason in ``suite.json`` and in the clean samples' provenance, so
``synthgen evaluate`` shows them as ``n/a`` instead of counting an untouched text as 0 % failure.

Names, locations and numbers are changed with Faker, one instance seeded per sample (the Faker
version is recorded in provenance, since its output for a seed changes between releases).  Entities
are the spans labelled as persons/locations when the sample has spans; otherwise tokens found in
Faker's own first-name, last-name, country and US-state lists.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

import numpy as np

from ..textedit import NEIGHBOURS, apply_edits, crosses, match_case, neighbour_key, swap_chars, tokens
from .corruptions import register

SHARES = (0.1, 0.2, 0.3, 0.4, 0.5)
FAKER = ("numpy", "Faker")
PERSON_LABELS = {"PER", "PERSON", "NAME", "B-PER", "I-PER"}
LOCATION_LABELS = {"LOC", "GPE", "LOCATION", "CITY", "COUNTRY", "B-LOC", "I-LOC"}

# corruptions whose rules are English: name -> what they know
ENGLISH_ONLY = {
    "contractions": "English contraction pairs (is not <-> isn't)",
    "negation": "English auxiliaries and 'not'/'n't'",
}


def not_applicable(names: Iterable[str], texts: Iterable[str], language: str = "auto"):
    """``(detection, {corruption: reason})`` for the English-only corruptions among ``names`` when the
    texts are not (known to be) English; ``language``: ``auto`` or a code (:mod:`synthgen.language`)."""
    from ..language import resolve

    det = resolve(language, texts)
    if det.code == "en":
        return det, {}
    how = "set in stress.language" if language != "auto" else f"detected: {det.describe()}"
    out = {}
    for n in names:
        if n in ENGLISH_ONLY:
            out[n] = (f"not applicable: knows only {ENGLISH_ONLY[n]}; the suite's language is {det.code} ({how})"
                      + ("; set stress.language=en if the texts are English" if det.code == "unknown" else ""))
    return det, out


# --- edits and span alignment (the engine is synthgen.textedit) ---------------------------------


def _apply(text: str, ann: dict[str, Any], edits: Iterable[tuple[int, int, str]]) -> tuple[str, dict[str, Any]]:
    """Apply the edits with :func:`synthgen.textedit.apply_edits`; ``ann["spans"]`` moves with the text."""
    spans = list(ann.get("spans") or [])
    new_text, new_spans = apply_edits(text, spans, edits)
    ann = dict(ann)
    if spans:
        ann["spans"] = new_spans
    return new_text, ann


def _pick(eligible: list, severity: int, rng: np.random.Generator) -> list:
    if not eligible:
        return []
    n = max(1, int(round(SHARES[severity - 1] * len(eligible))))
    idx = np.sort(rng.choice(len(eligible), size=min(n, len(eligible)), replace=False))
    return [eligible[i] for i in idx]


def _params(touched: int, eligible: int, **kw) -> dict[str, Any]:
    return {"touched": touched, "eligible": eligible, "share": (touched / eligible) if eligible else 0.0, **kw}


def _token_perturb(text, ann, severity, rng, change, predicate=lambda t: True):
    spans = ann.get("spans") or []
    elig = [t for t in tokens(text, spans) if predicate(t[2])]
    chosen = _pick(elig, severity, rng)
    edits = []
    for a, b, tok in chosen:
        new = change(tok, rng)
        if new != tok:
            edits.append((a, b, new))
    new_text, new_ann = _apply(text, ann, edits)
    return new_text, new_ann, _params(len(edits), len(elig))


# --- typos, casing, punctuation, whitespace -----------------------------------------------------

def _is_word(t: str) -> bool:
    return t[:1].isalpha() and len(t) >= 2


@register("text", "typo", "checklist", table={"share of words": SHARES})
def typo_swap(text, ann, severity, rng, **_):
    """Swap two adjacent characters inside a word (CheckList ``add_typos``)."""
    def change(tok, rng):
        pos = [i for i in range(len(tok) - 1) if tok[i] != tok[i + 1]]
        return swap_chars(tok, pos[int(rng.integers(0, len(pos)))])

    return _token_perturb(text, ann, severity, rng, change, lambda t: _is_word(t) and len(set(t)) > 1)


@register("text", "typo", "checklist", table={"share of words": SHARES})
def typo_keyboard(text, ann, severity, rng, **_):
    """Replace one letter of a word with a QWERTY neighbour (case kept)."""
    def change(tok, rng):
        idx = [i for i, ch in enumerate(tok) if ch.lower() in NEIGHBOURS]
        if not idx:
            return tok
        i = idx[int(rng.integers(0, len(idx)))]
        return tok[:i] + neighbour_key(tok[i], rng) + tok[i + 1:]

    return _token_perturb(text, ann, severity, rng, change, _is_word)


@register("text", "casing", "checklist", table={"share of words": SHARES})
def casing(text, ann, severity, rng, **_):
    """Upper-, lower- or title-case words."""
    def change(tok, rng):
        modes = [m for m in (tok.upper(), tok.lower(), tok.title()) if m != tok]
        return modes[int(rng.integers(0, len(modes)))] if modes else tok

    return _token_perturb(text, ann, severity, rng, change, lambda t: t[:1].isalpha())


@register("text", "punctuation", "checklist", table={"share of punctuation marks": SHARES})
def punctuation(text, ann, severity, rng, **_):
    """Remove or swap punctuation marks; text without any gets a trailing mark."""
    spans = ann.get("spans") or []
    elig = [t for t in tokens(text, spans) if re.fullmatch(r"[^\w\s]", t[2])]
    if not elig:
        mark = [".", "!", "?"][int(rng.integers(0, 3))]
        end = len(text.rstrip())
        new_text, new_ann = _apply(text, ann, [(end, end, mark)])
        return new_text, new_ann, _params(1, 1, added=mark)
    edits = []
    for a, b, tok in _pick(elig, severity, rng):
        if tok in ".!?" and rng.random() < 0.5:
            edits.append((a, b, {".": "!", "!": ".", "?": "."}[tok]))
        else:
            edits.append((a, b, ""))
    new_text, new_ann = _apply(text, ann, edits)
    return new_text, new_ann, _params(len(edits), len(elig))


@register("text", "whitespace", "checklist", table={"share of gaps between tokens": SHARES})
def whitespace(text, ann, severity, rng, **_):
    """Widen gaps between tokens (double spaces, tabs, a line break)."""
    spans = ann.get("spans") or []
    gaps = [(m.start(), m.end()) for m in re.finditer(r"\s+", text) if 0 < m.start() and m.end() < len(text)]
    gaps = [g for g in gaps if not crosses(g[0], g[1], spans)]
    chosen = _pick(gaps, severity, rng)
    kinds = ["  ", "   ", "\t", " \n"]
    edits = [(a, b, text[a:b] + kinds[int(rng.integers(0, len(kinds)))][1:] if text[a:b] == " " else kinds[int(rng.integers(0, len(kinds)))])
             for a, b in chosen]
    new_text, new_ann = _apply(text, ann, edits)
    return new_text, new_ann, _params(len(edits), len(gaps))


# --- contractions, look-alikes ------------------------------------------------------------------

CONTRACTIONS = {
    "is not": "isn't", "are not": "aren't", "was not": "wasn't", "were not": "weren't", "do not": "don't",
    "does not": "doesn't", "did not": "didn't", "have not": "haven't", "has not": "hasn't", "had not": "hadn't",
    "will not": "won't", "would not": "wouldn't", "can not": "can't", "cannot": "can't", "could not": "couldn't",
    "should not": "shouldn't", "must not": "mustn't", "I am": "I'm", "you are": "you're", "we are": "we're",
    "they are": "they're", "it is": "it's", "that is": "that's", "there is": "there's", "he is": "he's",
    "she is": "she's", "I have": "I've", "you have": "you've", "we have": "we've", "they have": "they've",
    "I will": "I'll", "you will": "you'll", "we will": "we'll", "they will": "they'll", "let us": "let's",
    "what is": "what's", "who is": "who's", "I would": "I'd", "you would": "you'd",
}
EXPANSIONS = {v: k for k, v in CONTRACTIONS.items() if k != "cannot"}


@register("text", "contraction", "checklist", table={"share of contractible phrases": SHARES})
def contractions(text, ann, severity, rng, **_):
    """Contract expanded phrases ("is not" -> "isn't") and expand contracted ones (CheckList)."""
    spans = ann.get("spans") or []
    keys = sorted(list(CONTRACTIONS) + list(EXPANSIONS), key=len, reverse=True)
    pat = re.compile(r"\b(" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in keys) + r")(?![\w'’])", re.IGNORECASE)
    elig = []
    for m in pat.finditer(text):
        if crosses(m.start(), m.end(), spans):
            continue
        key = re.sub(r"\s+", " ", m.group()).replace("’", "'")
        table = {k.lower(): v for k, v in {**CONTRACTIONS, **EXPANSIONS}.items()}
        new = table.get(key.lower())
        if new:
            elig.append((m.start(), m.end(), match_case(m.group(), new)))
    edits = _pick(elig, severity, rng)
    new_text, new_ann = _apply(text, ann, edits)
    return new_text, new_ann, _params(len(edits), len(elig))


HOMOGLYPHS = {"a": "а", "c": "с", "e": "е", "i": "і", "j": "ј", "o": "о", "p": "р", "s": "ѕ", "x": "х", "y": "у",
              "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "I": "І", "K": "К", "M": "М", "O": "О", "P": "Р",
              "T": "Т", "X": "Х", "Y": "У"}


@register("text", "unicode", "checklist", table={"share of words": SHARES})
def homoglyphs(text, ann, severity, rng, **_):
    """Replace one Latin letter per word with its Cyrillic look-alike (same length, so offsets hold)."""
    def change(tok, rng):
        idx = [i for i, ch in enumerate(tok) if ch in HOMOGLYPHS]
        if not idx:
            return tok
        i = idx[int(rng.integers(0, len(idx)))]
        return tok[:i] + HOMOGLYPHS[tok[i]] + tok[i + 1:]

    return _token_perturb(text, ann, severity, rng, change, lambda t: any(ch in HOMOGLYPHS for ch in t))


# --- Faker entity changes -----------------------------------------------------------------------

_LISTS: dict[str, set[str]] = {}


def _faker(rng: np.random.Generator):
    from faker import Faker

    f = Faker("en_US")
    f.seed_instance(int(rng.integers(0, 2**62)))
    return f


def _lists() -> dict[str, set[str]]:
    if not _LISTS:
        from faker.providers.address.en_US import Provider as Addr
        from faker.providers.person.en_US import Provider as Person

        _LISTS["first"] = set(Person.first_names)
        _LISTS["last"] = set(Person.last_names)
        _LISTS["place"] = set(Addr.states) | {c for c in Addr.countries if " " not in c}
    return _LISTS


def _entity_edits(text, ann, kind: str):
    """Candidate entity locations: labelled spans when present, else dictionary matches."""
    spans = ann.get("spans") or []
    labels = PERSON_LABELS if kind == "person" else LOCATION_LABELS
    if spans:
        return [(int(s["start"]), int(s["end"]), s["text"] if "text" in s else text[int(s["start"]):int(s["end"])])
                for s in spans if str(s.get("label", "")).upper() in labels]
    lists = _lists()
    out = []
    toks = tokens(text)
    i = 0
    while i < len(toks):
        a, b, t = toks[i]
        if kind == "person" and t in lists["first"]:
            if i + 1 < len(toks) and toks[i + 1][2] in lists["last"]:
                out.append((a, toks[i + 1][1], text[a:toks[i + 1][1]]))
                i += 2
                continue
            out.append((a, b, t))
        elif kind == "person" and t in lists["last"] and t[:1].isupper() and i > 0 and toks[i - 1][2] in ("Mr", "Mrs", "Ms", "Dr"):
            out.append((a, b, t))
        elif kind == "location" and t in lists["place"]:
            out.append((a, b, t))
        i += 1
    return out


def _replace_entities(text, ann, severity, rng, kind, make):
    elig = _entity_edits(text, ann, kind)
    chosen = _pick(elig, severity, rng)
    f = _faker(rng)
    edits = []
    for a, b, old in chosen:
        new = make(f, old)
        for _ in range(5):
            if new != old:
                break
            new = make(f, old)
        edits.append((a, b, new))
    new_text, new_ann = _apply(text, ann, edits)
    return new_text, new_ann, _params(len(edits), len(elig), replaced=[[o, n] for (_, _, o), (_, _, n) in zip(chosen, edits)])


@register("text", "entity", "checklist", libraries=FAKER, table={"share of person names": SHARES})
def change_names(text, ann, severity, rng, **_):
    """Replace person names with Faker names (one token -> first name, two or more -> full name)."""
    return _replace_entities(text, ann, severity, rng, "person",
                             lambda f, old: f.first_name() if len(old.split()) == 1 else f"{f.first_name()} {f.last_name()}")


@register("text", "entity", "checklist", libraries=FAKER, table={"share of locations": SHARES})
def change_locations(text, ann, severity, rng, **_):
    """Replace locations with Faker cities, states or countries."""
    def make(f, old):
        r = f.random_int(0, 2)
        return f.city() if r == 0 else (f.state() if r == 1 else f.country())

    return _replace_entities(text, ann, severity, rng, "location", make)


@register("text", "entity", "checklist", libraries=FAKER, table={"share of numbers": SHARES})
def change_numbers(text, ann, severity, rng, **_):
    """Replace numbers with another of similar size (within +-20 %, as CheckList), keeping the decimals."""
    spans = ann.get("spans") or []
    elig = [(m.start(), m.end(), m.group()) for m in re.finditer(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])", text)
            if not crosses(m.start(), m.end(), spans)]
    chosen = _pick(elig, severity, rng)
    f = _faker(rng)
    edits = []
    for a, b, tok in chosen:
        dec = len(tok.split(".")[1]) if "." in tok else 0
        v = float(tok)
        lo, hi = v * 0.8, v * 1.2
        new = tok
        for _ in range(10):
            if dec:
                new = f"{f.pyfloat(min_value=lo, max_value=max(hi, lo + 10 ** -dec)):.{dec}f}"
            else:
                new = str(f.random_int(int(np.floor(lo)), max(int(np.ceil(hi)), int(np.floor(lo)) + 2)))
            if new != tok:
                break
        edits.append((a, b, new))
    new_text, new_ann = _apply(text, ann, edits)
    return new_text, new_ann, _params(len(edits), len(elig), replaced=[[e[2], n[2]] for e, n in zip(chosen, edits)])


# --- directional --------------------------------------------------------------------------------

AUX = {"is", "are", "was", "were", "am", "can", "could", "will", "would", "should", "do", "does", "did", "has", "have", "had", "must"}


@register("text", "negation", "checklist", expect="directional")
def negation(text, ann, severity, rng, **_):
    """Negate one clause: insert "not" after an auxiliary verb, or remove an existing "not"/"n't".

    Directional: the prediction is expected to change (e.g. sentiment).  Negating more clauses would
    cancel out, so exactly one is touched at every severity.
    """
    spans = ann.get("spans") or []
    toks = tokens(text)
    elig = []
    for i, (a, b, t) in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.lower() == "not" and i > 0 and not crosses(toks[i - 1][1], b, spans):
            elig.append((toks[i - 1][1], b, ""))  # the "not" and the space before it
        elif re.fullmatch(r"\w+n['’]t", t, re.IGNORECASE) and t.lower() not in ("can't", "won't") and not crosses(a, b, spans):
            elig.append((a, b, t[:-3]))
        elif t.lower() in AUX and not crosses(a, b, spans) and not (nxt and nxt[2].lower() == "not"):
            elig.append((b, b, " not"))
    if not elig:
        return text, dict(ann), _params(0, 0)
    edit = elig[int(rng.integers(0, len(elig)))]
    new_text, new_ann = _apply(text, ann, [edit])
    return new_text, new_ann, _params(1, len(elig))
