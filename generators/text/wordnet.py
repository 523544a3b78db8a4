"""Synonyms from the Princeton WordNet 3.0 database files, read offline.

Debian's ``wordnet-base`` package installs them in ``/usr/share/wordnet`` (``data.noun``,
``data.verb``, ``data.adj``, ``data.adv``).  Each data line is one synset: ``offset lex_filenum
ss_type w_cnt word lex_id [word lex_id ...] ...`` with ``w_cnt`` in hexadecimal.  Two words are
synonyms when they share a synset.  The table is built once per process and path.
"""
from __future__ import annotations

import functools
from pathlib import Path

from synthgen.errors import ConfigError

DEFAULT_PATH = "/usr/share/wordnet"
POS_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


def _lemma(w: str) -> str:
    if w.endswith(")") and "(" in w:  # adjective markers: word(a), word(p), word(ip)
        w = w[: w.index("(")]
    return w.replace("_", " ")


@functools.lru_cache(maxsize=4)
def synonyms(path: str = DEFAULT_PATH) -> dict[str, tuple[str, ...]]:
    """``word (lowercase) -> sorted synonyms`` (multi-word lemmas have spaces, the word itself excluded)."""
    root = Path(path).expanduser()
    files = [root / f for f in POS_FILES]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise ConfigError(f"generator.wordnet_path: {missing[0]} not found (install Debian's 'wordnet-base' or point "
                          f"wordnet_path at a WordNet 3.0 dict folder)")
    table: dict[str, set[str]] = {}
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  "):  # licence header
                    continue
                parts = line.split(" ", 4 + 2 * 255)
                try:
                    n = int(parts[3], 16)
                except (IndexError, ValueError):
                    continue
                words = [_lemma(parts[4 + 2 * k]) for k in range(n)]
                if len(words) < 2:
                    continue
                for w in words:
                    table.setdefault(w.lower(), set()).update(x for x in words if x.lower() != w.lower())
    return {k: tuple(sorted(v)) for k, v in table.items() if v}
