"""``manifest.jsonl``: one line per sample of every written dataset.

Fields: ``id``, ``file`` (relative to the dataset root), ``sha256`` of the file, ``label``,
``annotations``, ``origin`` (``real`` or ``synthetic``) and ``provenance`` (``null`` for real samples;
for synthetic ones the generator target and version, config digest, seed, index, parent sample ids,
sampled parameters and library versions).  Extra keys (``admitted_by``, ``source``) may follow.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ..errors import DatasetError
from ..sample import Provenance, Sample
from .common import annotations_from_json, dumps

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


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: manifest not found")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path}:{n}: invalid JSON ({e.msg})") from None
    return out


def provenance_of(rec: dict[str, Any]) -> Provenance | None:
    p = rec.get("provenance")
    return Provenance.from_dict(p) if p else None


def sample_from_record(rec: dict[str, Any], data: Any, modality: str = "image") -> Sample:
    return Sample(
        id=rec["id"],
        data=data,
        label=str(rec["label"]),
        annotations=annotations_from_json(rec.get("annotations") or {}),
        provenance=provenance_of(rec),
        modality=modality,
        meta={"file": rec.get("file"), "extra": {k: v for k, v in rec.items() if k not in CORE_KEYS}},
    )
