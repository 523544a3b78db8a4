"""CoNLL-2003 BIO export of span-labeled text (and its reader, for round trips).

Four space-separated columns per token, ``TOKEN POS CHUNK NER``; POS and chunk tags are unknown
here and written as ``-X-`` and ``O``, so the file loads in any CoNLL-2003 reader (the NER column
is what matters).  The file starts with ``-DOCSTART- -X- -X- O``; each sample is one sentence block
ended by a blank line.  Tokens are words and single punctuation marks; a token that overlaps a span
gets ``B-LABEL`` (first) or ``I-LABEL``.  Whitespace and line breaks are not kept (CoNLL has none).
Tokens are cut at span boundaries (``Anna's`` with the span ``Anna`` gives ``Anna`` + ``'s``), so
entity boundaries are never moved; a span that covers no token (only whitespace) is an error naming
the sample.

    python -m synthgen.io.conll <jsonl folder or file> <out.conll>
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Iterable

from ..errors import DatasetError
from ..sample import Sample
from .common import check_label, read_text, write_bytes_atomic

TOKEN_RE = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]", re.UNICODE)
DOCSTART = "-DOCSTART- -X- -X- O"


def bio_tokens(text: str, spans: list[dict[str, Any]], where: str = "") -> list[tuple[str, str]]:
    """``[(token, tag)]`` for one text; tokens inside a span are re-cut at its boundaries."""
    bounds = sorted({sp["start"] for sp in spans} | {sp["end"] for sp in spans})
    toks = []
    for m in TOKEN_RE.finditer(text):
        s, e = m.span()
        cuts = [b for b in bounds if s < b < e]
        pts = [s, *cuts, e]
        toks.extend((a, b) for a, b in zip(pts[:-1], pts[1:]))
    # whitespace-only spans and spans over whitespace are errors; overlapping spans keep the first
    out = []
    ordered = sorted(spans, key=lambda d: (d["start"], -d["end"]))
    owner: list[dict | None] = []
    for s, e in toks:
        sp = next((x for x in ordered if x["start"] <= s and e <= x["end"]), None)
        owner.append(sp)
    seen_first: set[int] = set()
    for (s, e), sp in zip(toks, owner):
        if sp is None:
            out.append((text[s:e], "O"))
            continue
        k = id(sp)
        tag = ("I-" if k in seen_first else "B-") + sp["label"]
        seen_first.add(k)
        out.append((text[s:e], tag))
    for sp in ordered:
        if id(sp) not in seen_first:
            raise DatasetError(f"{where}: span [{sp['start']}, {sp['end']}) {sp['label']} covers no token")
    return out


def to_conll(samples: Iterable[Sample]) -> str:
    lines = [DOCSTART, ""]
    for s in samples:
        if not isinstance(s.data, str):
            raise DatasetError(f"sample {s.id}: CoNLL export needs text, got {type(s.data).__name__}")
        for tok, tag in bio_tokens(s.data, s.annotations.get("spans", []), f"sample {s.id}"):
            lines.append(f"{tok} -X- O {tag}")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_conll(samples: Iterable[Sample], classes: list[str] | None, out: str) -> Path:
    """Write ``out`` (a file) atomically."""
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(p, to_conll(samples).encode("utf-8"))
    return p


def read_conll(path: str) -> list[tuple[list[str], list[str]]]:
    """``[(tokens, tags)]`` per sentence; a bad line is an error naming file and line."""
    p = Path(path)
    out, toks, tags = [], [], []
    for n, line in enumerate(read_text(p).split("\n"), 1):
        if not line.strip():
            if toks:
                out.append((toks, tags))
                toks, tags = [], []
            continue
        cols = line.split(" ")
        if cols[0] == "-DOCSTART-":
            continue
        if len(cols) < 2:
            raise DatasetError(f"{p}:{n}: expected 'TOKEN ... TAG'")
        tag = cols[-1]
        if not (tag == "O" or tag[:2] in ("B-", "I-")):
            raise DatasetError(f"{p}:{n}: bad BIO tag {tag!r}")
        if tag != "O":
            check_label(tag[2:], f"{p}:{n}: tag {tag!r}")
        toks.append(cols[0])
        tags.append(tag)
    if toks:
        out.append((toks, tags))
    return out


def entities(tokens: list[str], tags: list[str]) -> list[tuple[str, str]]:
    """``[(label, "tok tok ...")]`` decoded from BIO tags (an ``I-`` without its ``B-`` starts an entity)."""
    ents: list[list] = []
    cur = None
    for t, g in zip(tokens, tags):
        if g == "O":
            cur = None
            continue
        lab = g[2:]
        if g.startswith("B-") or cur is None or cur[0] != lab:
            cur = [lab, [t]]
            ents.append(cur)
        else:
            cur[1].append(t)
    return [(lab, " ".join(ws)) for lab, ws in ents]


def main(argv: list[str] | None = None) -> int:
    from .jsonl import export_main

    return export_main(argv, "conll", write_conll, "samples", "out.conll")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
