"""The one text edit engine: edits that keep character spans exact, shared by generators and stress suites.

A span is ``{"start", "end", "label", "text"}`` with ``text == data[start:end]``.  Every edit is a
replacement ``(start, end, new)`` of ``data[start:end]``; :func:`apply_edits` applies any number of
non-overlapping edits at once and moves every span with the text (albumentations' "targets": the
same edit moves every annotation):

* an edit before a span shifts it (an insertion at its start goes before it);
* an edit after a span leaves it (an insertion at its end stays outside);
* an edit inside a span grows or shrinks it; a span emptied by its edits is dropped with its label;
* an edit that cuts across a span boundary is refused (``ValueError``).

Callers choose edits with :func:`tokens` (``protect=False``: tokens inside a span may be edited,
tokens cutting a boundary may not; ``protect=True``: only tokens outside every span) and
:func:`free_words`.  Character edits use one QWERTY neighbour map (:data:`NEIGHBOURS`) and one case
rule (:func:`match_case`).  Nothing here draws randomness except through the ``numpy`` Generator it
is given, so an edit is deterministic for a given Generator state.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

import numpy as np

# words with inner apostrophes/hyphens ("isn't", "well-known"), or single non-space characters
TOKEN_RE = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]", re.UNICODE)
WORD_RE = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*$", re.UNICODE)

Edit = tuple[int, int, str]


# --- spans move with the text ------------------------------------------------------------------

def crosses(start: int, end: int, spans: list[dict[str, Any]]) -> bool:
    """True if replacing ``[start, end)`` would cut a span boundary (neither outside nor inside it)."""
    if start == end:  # an insertion never cuts a span
        return False
    for sp in spans:
        s, e = int(sp["start"]), int(sp["end"])
        if not (end <= s or start >= e or (s <= start and end <= e)):
            return True
    return False


def inside_any(start: int, end: int, spans: list[dict[str, Any]]) -> bool:
    """True when ``[start, end)`` overlaps any span (the edit would touch a protected span)."""
    return any(start < sp["end"] and sp["start"] < end for sp in spans)


def apply_edits(text: str, spans: list[dict[str, Any]], edits: Iterable[Edit]) -> tuple[str, list[dict[str, Any]]]:
    """Apply non-overlapping replacements ``(start, end, new)``; returns the new text and moved spans."""
    edits = sorted(((int(a), int(b), str(new)) for a, b, new in edits), key=lambda e: (e[0], e[1]))
    pos, out = 0, []
    for a, b, new in edits:
        if not pos <= a <= b <= len(text):
            raise ValueError(f"edit [{a}, {b}) outside text of length {len(text)} or overlapping the previous edit")
        out += [text[pos:a], new]
        pos = b
    out.append(text[pos:])
    new_text = "".join(out)
    moved = []
    for sp in spans:
        s, e = int(sp["start"]), int(sp["end"])
        ns, ne = s, e
        for a, b, new in edits:
            d = len(new) - (b - a)
            if b <= s:
                ns, ne = ns + d, ne + d  # before the span
            elif a >= e:
                continue  # after the span
            elif s <= a and b <= e:
                ne += d  # inside the span
            else:
                raise ValueError(f"edit [{a}, {b}) cuts across span [{s}, {e}) {sp.get('label')}")
        if ne <= ns:
            continue  # the entity was deleted entirely: its label goes with it
        moved.append({**sp, "start": ns, "end": ne, "text": new_text[ns:ne]})
    return new_text, moved


def apply_edit(text: str, spans: list[dict[str, Any]], start: int, end: int, new: str) -> tuple[str, list[dict[str, Any]]]:
    """Replace ``text[start:end]`` by ``new`` (one edit of :func:`apply_edits`)."""
    return apply_edits(text, spans, [(start, end, new)])


def check(text: str, spans: list[dict[str, Any]]) -> None:
    """Raise ``ValueError`` unless every span is in range and its text matches (an invariant every
    edit keeps; usable on a user's own edited data, so not an ``assert`` that ``python -O`` drops)."""
    for sp in spans:
        if not 0 <= sp["start"] < sp["end"] <= len(text):
            raise ValueError(f"span {sp} lies outside the text (length {len(text)})")
        if text[sp["start"]:sp["end"]] != sp["text"]:
            raise ValueError(f"span {sp} reads {text[sp['start']:sp['end']]!r} in the text")


# --- what may be edited ------------------------------------------------------------------------

def tokens(text: str, spans: list[dict[str, Any]] | None = None, protect: bool = False) -> list[Edit]:
    """``(start, end, token)`` of every token (words and punctuation) an edit may replace.

    Tokens that would cut a span boundary are left out; with ``protect`` every token overlapping a
    span is left out too (entity text stays as it is).
    """
    spans = spans or []
    keep = (lambda a, b: not inside_any(a, b, spans)) if protect else (lambda a, b: not crosses(a, b, spans))
    return [(m.start(), m.end(), m.group()) for m in TOKEN_RE.finditer(text) if keep(m.start(), m.end())]


def free_words(text: str, spans: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Alphabetic word tokens that overlap no span (the ones word-level edits may touch)."""
    return [(a, b) for a, b, t in tokens(text, spans, protect=True) if WORD_RE.match(t)]


# --- one keyboard, one case rule -----------------------------------------------------------------

KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Letters next to each letter on a QWERTY keyboard: the 3x3 block around it, rows in order.

    The letter entries of nlpaug's ``res/char/keyboard/en.json`` (KeyboardAug), in the same order
    (row above, same row, row below; left to right).  Digits and punctuation are left out so that a
    typo never changes where a word starts or ends.
    """
    out = {}
    for r, row in enumerate(KEYBOARD):
        for c, ch in enumerate(row):
            near = [KEYBOARD[r + dr][c + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                    if (dr, dc) != (0, 0) and 0 <= r + dr < len(KEYBOARD) and 0 <= c + dc < len(KEYBOARD[r + dr])]
            out[ch] = "".join(near)
    return out


NEIGHBOURS: dict[str, str] = _neighbours()


def match_case(src: str, new: str) -> str:
    """``new`` cased like ``src``: ALL CAPS (two letters or more) stays all caps, a capital first letter stays."""
    if len(src) > 1 and src.isupper():
        return new.upper()
    if src[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def neighbour_key(ch: str, rng: np.random.Generator) -> str:
    """A QWERTY neighbour of the letter ``ch``, in its case (one draw from ``rng``)."""
    near = NEIGHBOURS[ch.lower()]
    return match_case(ch, near[int(rng.integers(len(near)))])


def swap_chars(s: str, i: int) -> str:
    """``s`` with characters ``i`` and ``i + 1`` swapped."""
    return s[:i] + s[i + 1] + s[i] + s[i + 2:]
