"""Character spans that stay exact under edits.

A span is ``{"start", "end", "label", "text"}`` with ``text == data[start:end]``.  Every edit of a
text goes through :func:`apply_edit`, which replaces ``data[start:end]`` and moves the spans:
spans before the edit stay, spans after it shift, a span that contains the edit grows or shrinks
with it.  An edit that cuts across a span boundary is refused (``ValueError``): callers choose
edits inside or outside entities, never across them.
"""
from __future__ import annotations

import re
from typing import Any

# words (with inner apostrophes/hyphens), or single non-space characters
TOKEN_RE = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]", re.UNICODE)
WORD_RE = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*$", re.UNICODE)


def apply_edit(text: str, spans: list[dict[str, Any]], start: int, end: int, new: str) -> tuple[str, list[dict[str, Any]]]:
    """Replace ``text[start:end]`` by ``new``; returns the new text and recomputed spans."""
    if not 0 <= start <= end <= len(text):
        raise ValueError(f"edit [{start}, {end}) outside text of length {len(text)}")
    delta = len(new) - (end - start)
    out_text = text[:start] + new + text[end:]
    out = []
    for sp in spans:
        s, e = sp["start"], sp["end"]
        if end <= s:
            ns, ne = s + delta, e + delta  # before the span (an insertion at its start goes before it)
        elif start >= e:
            ns, ne = s, e  # after the span (insertion at its end stays outside)
        elif s <= start and end <= e:
            ns, ne = s, e + delta  # inside the span
        else:
            raise ValueError(f"edit [{start}, {end}) cuts across span [{s}, {e}) {sp.get('label')}")
        if ne <= ns:
            continue  # the entity was deleted entirely: its label goes with it
        out.append({**sp, "start": ns, "end": ne, "text": out_text[ns:ne]})
    return out_text, out


def tokens(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every token (words and punctuation)."""
    return [m.span() for m in TOKEN_RE.finditer(text)]


def inside_any(start: int, end: int, spans: list[dict[str, Any]]) -> bool:
    """True when ``[start, end)`` overlaps any span."""
    return any(start < sp["end"] and sp["start"] < end for sp in spans)


def free_words(text: str, spans: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Alphabetic word tokens that overlap no span (the ones word-level edits may touch)."""
    words = [m.span() for m in TOKEN_RE.finditer(text) if WORD_RE.match(m.group())]
    if not spans:
        return words
    bounds = sorted((sp["start"], sp["end"]) for sp in spans)
    return [(s, e) for s, e in words if not any(s < b and a < e for a, b in bounds)]


def check(text: str, spans: list[dict[str, Any]]) -> None:
    """Raise ``AssertionError`` unless every span is in range and its text matches."""
    for sp in spans:
        assert 0 <= sp["start"] < sp["end"] <= len(text), sp
        assert text[sp["start"]:sp["end"]] == sp["text"], (sp, text[sp["start"]:sp["end"]])
