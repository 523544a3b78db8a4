"""JSONL text datasets: one JSON object per line with ``text``, ``label`` and ``spans``.

Written layout (atomic, byte-identical for identical samples)::

    out/data.jsonl      {"id", "label", "spans": [{"start", "end", "label", "text"}], "text"} per line
    out/manifest.jsonl  the usual manifest line per sample (sha256 of the UTF-8 text, provenance)
    out/classes.json    the class list, in order (keeps classes that have no sample)

Reading accepts such a folder or any ``.jsonl`` file of objects with ``text`` and ``label`` (``id``
and ``spans`` optional).  Every span must satisfy ``text[start:end] == span["text"]``; a line that
breaks this is an error naming the file and line.  A path ``pkg://package/relative/file.jsonl`` reads
a file shipped inside an installed package.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ..dataset import Dataset
from ..errors import DatasetError
from ..sample import Sample
from .common import atomic_dir, check_label, dumps, loads, read_text, sha256_bytes
from .paths import inside_root
from .manifest import MANIFEST, provenance_of, read_manifest, record, write_manifest

DATA = "data.jsonl"
CLASSES = "classes.json"


def resolve_path(path: str | Path) -> Path:
    """A filesystem path; ``pkg://pkg.name/rel/path`` points inside an installed package."""
    s = str(path)
    if s.startswith("pkg://"):
        from importlib.resources import files

        pkg, _, rel = s[len("pkg://"):].partition("/")
        try:
            return Path(str(files(pkg).joinpath(rel)))
        except ModuleNotFoundError:
            raise DatasetError(f"{s}: package '{pkg}' is not installed") from None
    return Path(s).expanduser()


def check_spans(text: str, spans: Any, where: str) -> list[dict[str, Any]]:
    """Validate and normalise spans (sorted by start, end); errors name ``where`` (file:line or sample id)."""
    if spans is None:
        return []
    if not isinstance(spans, list):
        raise DatasetError(f"{where}: 'spans' must be a list")
    out = []
    for j, sp in enumerate(spans):
        if not isinstance(sp, dict) or not {"start", "end", "label"} <= set(sp):
            raise DatasetError(f"{where}: spans[{j}] needs start, end and label")
        s, e = sp["start"], sp["end"]
        if not (isinstance(s, int) and isinstance(e, int)) or isinstance(s, bool) or isinstance(e, bool) or not 0 <= s < e <= len(text):
            raise DatasetError(f"{where}: spans[{j}] has offsets [{s}, {e}) outside the text (length {len(text)})")
        if "text" in sp and sp["text"] != text[s:e]:
            raise DatasetError(f"{where}: spans[{j}] text {sp['text']!r} != text[{s}:{e}] {text[s:e]!r}")
        out.append({"start": s, "end": e, "label": str(sp["label"]), "text": text[s:e]})
    out.sort(key=lambda d: (d["start"], d["end"], d["label"]))
    return out


def _line(s: Sample) -> dict[str, Any]:
    spans = check_spans(s.data, s.annotations.get("spans", []), f"sample {s.id}")
    return {"id": s.id, "text": s.data, "label": s.label, "spans": spans}


def write_jsonl(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None) -> Path:
    """Write text samples as ``out/data.jsonl`` + ``manifest.jsonl`` + ``classes.json``, atomically.

    ``extra(sample) -> dict`` adds keys to each manifest line.
    """
    out_path = Path(out)
    samples = list(samples)
    for s in samples:
        if not isinstance(s.data, str):
            raise DatasetError(f"sample {s.id}: JSONL holds text, got {type(s.data).__name__}")
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        recs, seen = [], set()
        with open(tmp / DATA, "w", encoding="utf-8", newline="\n") as f:
            for n, s in enumerate(samples, 1):
                if s.id in seen:
                    raise DatasetError(f"sample {s.id}: duplicate id")
                seen.add(s.id)
                line = _line(s)
                f.write(dumps(line) + "\n")
                s_ann = dict(s.annotations)
                s_ann["spans"] = line["spans"]
                rec = record(Sample(s.id, s.data, s.label, s_ann, s.provenance, "text", s.meta), DATA,
                             sha256_bytes(s.data.encode("utf-8")), line=n, **(extra(s) if extra else {}))
                recs.append(rec)
        write_manifest(tmp / MANIFEST, recs)
        labels = list(classes) + sorted({s.label for s in samples} - set(classes))
        (tmp / CLASSES).write_text(json.dumps(labels, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_path


def _read_lines(f: Path) -> list[tuple[int, dict[str, Any]]]:
    out = []
    try:
        fh = open(f, encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{f}: file not found") from None
    with fh:
        try:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                obj = loads(line, f"{f}:{n}")
                if not isinstance(obj, dict):
                    raise DatasetError(f"{f}:{n}: expected a JSON object")
                out.append((n, obj))
        except UnicodeDecodeError as e:
            raise DatasetError(f"{f}: not UTF-8 ({e.reason})") from None
    return out


def read_jsonl(path: str, classes: list[str] | None = None, task: str = "auto", follow_symlinks: bool = False) -> Dataset:
    """Read a JSONL folder (``data.jsonl`` [+ ``manifest.jsonl``]) or a single ``.jsonl`` file.

    ``task``: ``auto`` (``ner`` if any sample has spans, else ``classification``), ``ner`` or
    ``classification``.  In a folder, symbolic links out of it are refused unless ``follow_symlinks``.
    """
    p = resolve_path(path)
    if not p.exists():
        raise DatasetError(f"{p}: dataset path does not exist")
    if task not in ("auto", "ner", "classification"):
        from ..errors import ConfigError

        raise ConfigError(f"dataset.task: must be auto, ner or classification, got {task!r}")
    folder = p.is_dir()
    f = p / DATA if folder else p
    if folder and not f.exists():
        raise DatasetError(f"{p}: no {DATA} in this folder")
    if folder:
        for name in (DATA, MANIFEST, CLASSES):
            inside_root(p, p / name, follow_symlinks)
    manifest = {}
    if folder and (p / MANIFEST).exists():
        manifest = {r["id"]: r for r in read_manifest(p / MANIFEST)}
    elif not folder and p.name == DATA and (p.parent / MANIFEST).exists():  # a folder's data.jsonl named directly:
        inside_root(p.parent, p.parent / MANIFEST, follow_symlinks)  # its manifest still says what is synthetic
        manifest = {r["id"]: r for r in read_manifest(p.parent / MANIFEST)}
    samples: list[Sample] = []
    seen: set[str] = set()
    for n, obj in _read_lines(f):
        where = f"{f}:{n}"
        text, label = obj.get("text"), obj.get("label")
        if not isinstance(text, str):
            raise DatasetError(f"{where}: 'text' must be a string")
        if label is None or isinstance(label, (dict, list)):
            raise DatasetError(f"{where}: 'label' must be a string")
        sid = str(obj.get("id", f"{f.stem}-{n:06d}"))
        label = check_label(label, f"{where}: sample {sid}")
        if sid in seen:
            raise DatasetError(f"{where}: duplicate id '{sid}'")
        seen.add(sid)
        spans = check_spans(text, obj.get("spans"), where)
        rec = manifest.get(sid)
        prov, meta = None, {"file": str(f), "line": n}
        if rec is not None:
            if rec.get("sha256") and rec["sha256"] != sha256_bytes(text.encode("utf-8")):
                raise DatasetError(f"{where}: text of '{sid}' does not match its sha256 in {p / MANIFEST}")
            prov = provenance_of(rec)
            meta["extra"] = {k: v for k, v in rec.items() if k not in ("id", "file", "sha256", "label", "annotations",
                                                                     "origin", "provenance", "line")}
        samples.append(Sample(sid, text, label, {"spans": spans}, prov, "text", meta))
    if not samples:
        raise DatasetError(f"{f}: no samples")
    found = sorted({s.label for s in samples})
    if classes is not None:
        cls = [str(c) for c in classes]
        for s in samples:
            if s.label not in cls:
                raise DatasetError(f"{s.meta['file']}:{s.meta['line']}: label '{s.label}' is not in dataset.classes")
    elif folder and (p / CLASSES).exists():
        cls = loads(read_text(p / CLASSES), str(p / CLASSES))
        if not isinstance(cls, list) or not all(isinstance(c, str) and c.strip() for c in cls):
            raise DatasetError(f"{p / CLASSES}: expected a list of non-empty class names")
        cls += [c for c in found if c not in cls]
    else:
        cls = found
    if task == "auto":
        task = "ner" if any(s.annotations["spans"] for s in samples) else "classification"
    return Dataset(samples, cls, str(p), "jsonl", "text", task)


def export_main(argv, module: str, writer, noun: str, target: str) -> int:
    """The ``python -m synthgen.io.<module> <jsonl folder or file> <target>`` exporters share this."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(f"usage: python -m synthgen.io.{module} <jsonl folder or file> <{target}>", file=sys.stderr)
        return 2
    try:
        ds = read_jsonl(args[0])
        writer(ds.samples, ds.classes, args[1])
    except DatasetError as e:
        print(f"synthgen: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(ds)} {noun} to {args[1]}")
    return 0
