"""Debian's ``fortunes`` collection as a labeled text dataset: one class per fortune file.

``/usr/share/games/fortunes/<category>`` holds entries separated by lines containing only ``%``.
The ``.dat`` index files and the ``.u8`` symlinks are skipped; categories are the file names.  The
Debian ``fortunes`` package (1:1.99.1-7.3, bookworm) ships 43 categories and 15,217 texts, from
``pratchett`` (2 texts) to ``people`` (1,251): a natural long tail.  Install it with
``apt-get install fortunes`` (``make setup`` does).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..dataset import Dataset
from ..errors import ConfigError, DatasetError
from ..sample import Sample

DEFAULT_PATH = "/usr/share/games/fortunes"


def split_fortunes(text: str) -> list[str]:
    """Entries of one fortune file: blocks between lines that hold only ``%`` (trailing newline stripped)."""
    out, cur = [], []
    for line in text.split("\n"):
        if line.rstrip("\r") == "%":
            out.append("\n".join(cur))
            cur = []
        else:
            cur.append(line.rstrip("\r"))
    out.append("\n".join(cur))
    return [e.strip("\n") for e in out if e.strip()]


def fortune_files(path: str | Path = DEFAULT_PATH) -> list[Path]:
    """The category files under ``path`` (regular files only, no ``.dat`` indexes or ``.u8`` links)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: fortunes folder not found (install Debian's 'fortunes' package: apt-get install fortunes)")
    files = sorted(p for p in root.iterdir()
                   if p.is_file() and not p.is_symlink() and p.suffix not in (".dat", ".u8") and not p.name.startswith("."))
    if not files:
        raise DatasetError(f"{root}: no fortune files")
    return files


def read_fortunes(path: str = DEFAULT_PATH, categories: Iterable[str] | None = None, min_chars: int = 1,
                  max_chars: int | None = None) -> Dataset:
    """All (or the selected) categories as a ``text``/``classification`` Dataset.

    ``min_chars``/``max_chars`` drop entries outside that length (e.g. long ASCII art); a category
    left empty by them is an error naming it.
    """
    files = {p.name: p for p in fortune_files(path)}
    if categories is not None:
        cats = [str(c) for c in categories]
        for c in cats:
            if c not in files:
                raise ConfigError(f"dataset.categories: no fortune file '{c}' in {path} (found: {', '.join(files)})")
    else:
        cats = list(files)
    if int(min_chars) < 1:
        raise ConfigError(f"dataset.min_chars: must be >= 1, got {min_chars}")
    samples: list[Sample] = []
    for c in cats:
        f = files[c]
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DatasetError(f"{f}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        kept = 0
        for i, entry in enumerate(split_fortunes(text)):
            if len(entry) < int(min_chars) or (max_chars is not None and len(entry) > int(max_chars)):
                continue
            samples.append(Sample(id=f"{c}/{i:05d}", data=entry, label=c, annotations={"spans": []}, modality="text",
                                  meta={"file": str(f), "entry": i}))
            kept += 1
        if kept == 0:
            raise DatasetError(f"{f}: category '{c}' has no entries between min_chars={min_chars} and max_chars={max_chars}")
    return Dataset(samples, cats, str(Path(path).expanduser()), "fortunes", "text", "classification",
                   {"min_chars": int(min_chars), "max_chars": max_chars})
