"""Synonyms for languages other than English, from the LibreOffice thesauri Debian packages.

Debian's ``mythes-<lang>`` packages (``mythes-de``, ``mythes-fr``, ``mythes-es``, ``mythes-it``, ...)
install ``/usr/share/mythes/th_<lang>_<REGION>[_v2].dat`` in the MyThes format:

* line 1: the file's encoding (``ISO8859-1``, ``UTF-8``, ...);
* then one entry per word: ``word|n``, followed by ``n`` meaning lines ``(pos)|syn1|syn2|...``
  (``pos`` may be ``-``).  Synonyms may carry a note in parentheses (``necio (fig.)``,
  ``Begriff (Oberbegriff)``, ``(Antonym)``); notes are stripped and antonyms dropped.

:func:`synonyms` returns ``word (lowercase) -> sorted synonyms`` (the word itself excluded), the
same shape as :func:`generators.text.wordnet.synonyms`, so ``text_augment`` uses either.  The table
is read once per process and file.  :func:`find` says which file serves a language, or None.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from synthgen.errors import ConfigError

DEFAULT_DIR = "/usr/share/mythes"
NOTE_RE = re.compile(r"\s*\([^)]*\)")
ANTONYM_RE = re.compile(r"\((?:[^)]*\b(?:antonym|antónimo|antonimo|antonyme|gegenteil|gegensatz|contrario)\b[^)]*)\)", re.IGNORECASE)


def find(language: str, folder: str = DEFAULT_DIR) -> Path | None:
    """The thesaurus file for ``language`` (``th_<lang>_<LANG>*`` first, then any ``th_<lang>_*``), or None."""
    root = Path(folder).expanduser()
    if not language or language == "en" or not root.is_dir():
        return None
    files = sorted(p for p in root.glob(f"th_{language}_*.dat") if p.is_file())
    if not files:
        return None
    own = [p for p in files if p.name.startswith(f"th_{language}_{language.upper()}")]
    return (own or files)[0]


def _clean(syn: str) -> str | None:
    if ANTONYM_RE.search(syn):
        return None
    s = NOTE_RE.sub("", syn).strip()
    return s or None


@functools.lru_cache(maxsize=4)
def synonyms(path: str) -> dict[str, tuple[str, ...]]:
    """``word (lowercase) -> sorted synonyms`` of one MyThes ``.dat`` file."""
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"generator.thesaurus_dir: cannot read {p} ({e.strerror})") from None
    head, _, body = raw.partition(b"\n")
    enc = head.decode("ascii", "replace").strip().lower().replace("iso8859", "iso-8859") or "utf-8"
    try:
        text = body.decode(enc, errors="replace")
    except LookupError:
        raise ConfigError(f"generator.thesaurus_dir: {p}: unknown encoding {head.strip()!r} on its first line") from None
    lines = text.split("\n")
    table: dict[str, set[str]] = {}
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        i += 1
        word, sep, count = line.rpartition("|")
        if not sep or not count.strip().isdigit():
            continue
        n = int(count)
        key = word.strip().lower()
        out = table.setdefault(key, set())
        for meaning in lines[i:i + n]:
            for syn in meaning.rstrip("\r").split("|")[1:]:
                s = _clean(syn)
                if s and s.lower() != key:
                    out.add(s)
        i += n
    return {k: tuple(sorted(v)) for k, v in table.items() if v and k}
