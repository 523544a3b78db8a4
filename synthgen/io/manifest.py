"""``manifest.jsonl``: one line per sample of every written dataset.

Fields: ``id``, ``file`` (relative to the dataset root), ``sha256`` of the file, ``label``,
``annotations``, ``origin`` (``real`` or ``synthetic``) and ``provenance`` (``null`` for real samples;
for synthetic ones the generator target and version, config digest, seed, index, parent sample ids,
sampled parameters and library versions).  Extra keys (``admitted_by``, ``source``) may follow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..errors import DatasetError
from ..sample import Provenance, Sample
from .common import annotations_from_json, check_label, dumps, loads, malformed

MANIFEST = "manifest.jsonl"


CORE_KEYS = ("id", "file", "sha256", "label", "annotations", "origin", "provenance")


def record(sample: Sample, file: str, sha256: str, **extra: Any) -> dict[str, Any]:
    rec = {
        "id": sample.id,
        "file": file,
        "sha256": sha256,
        "label": sample.label,
        "annotations": sample.annotations,
        "origin": sample.origin,
        "provenance": sample.provenance.to_dict() if sample.provenance else None,
    }
    rec.update(sample.meta.get("extra", {}))
    rec.update(extra)
    return rec


def write_manifest(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(dumps(r) + "\n")


def parse_record(line: str | bytes, where: str) -> dict[str, Any]:
    """One manifest line as a record: an object with a string ``id`` and ``file`` and a non-empty
    ``label``, else a DatasetError naming ``where`` (file:line)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DatasetError(f"{where}: not UTF-8 text (byte {e.start})") from None
    r = loads(line, where)
    if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("id", "file")):
        raise DatasetError(f"{where}: expected an object with string 'id' and 'file'")
    check_label(r.get("label"), f"{where}: sample {r['id']}")
    return r


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a manifest (see :func:`parse_record`)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: manifest not found")
    with open(path, "rb") as f:
        return [parse_record(line, f"{path}:{n}") for n, line in enumerate(f, 1) if line.strip()]


def provenance_of(rec: dict[str, Any]) -> Provenance | None:
    p = rec.get("provenance")
    return Provenance.from_dict(p) if p else None


def sample_from_record(rec: dict[str, Any], data: Any, modality: str = "image", where: str | None = None) -> Sample:
    """The sample a manifest record describes; a malformed record is a DatasetError naming ``where``."""
    where = where or f"sample {rec.get('id')}"
    with malformed(where):
        return Sample(
            id=rec["id"],
            data=data,
            label=str(rec["label"]),
            annotations=annotations_from_json(rec.get("annotations") or {}, where),
            provenance=provenance_of(rec),
            modality=modality,
            meta={"file": rec.get("file"), "extra": {k: v for k, v in rec.items() if k not in CORE_KEYS}},
        )
