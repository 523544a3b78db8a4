"""ImageFolder: one sub-folder per class, images inside.  Read and write (with ``manifest.jsonl``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ..dataset import Dataset
from ..errors import DatasetError
from ..sample import Sample
from .common import IMAGE_EXTENSIONS, annotations_from_json, atomic_dir, dumps, read_image, sample_bytes, sample_stem, sha256_bytes, unique_path
from .manifest import CORE_KEYS, MANIFEST, provenance_of, read_manifest, record, sample_from_record


class LazyImageSample(Sample):
    """A sample that keeps only its id, label, file and the offset of its manifest line: pixels are
    decoded from its file, and annotations and provenance parsed from the manifest line, each time
    they are read (never kept).

    Used for datasets synthgen wrote itself, so that validating or merging 100,000 images needs a few
    hundred bytes per sample plus one image at a time.
    """

    def __init__(self, manifest: Path, offset: int, rec: dict, path: Path):  # noqa: D107 - not the dataclass __init__
        self._at = (manifest, offset)
        self.id = rec["id"]
        self.label = str(rec["label"])
        self.modality = "image"
        extra = {k: v for k, v in rec.items() if k not in CORE_KEYS}
        self.meta = {"file": rec.get("file"), "path": str(path), **({"extra": extra} if extra else {})}

    def _rec(self) -> dict:
        with open(self._at[0], "rb") as f:
            f.seek(self._at[1])
            return json.loads(f.readline())

    @property
    def data(self):  # type: ignore[override]
        return read_image(self.meta["path"])

    @property
    def annotations(self):  # type: ignore[override]
        return annotations_from_json(self._rec().get("annotations") or {})

    @property
    def provenance(self):  # type: ignore[override]
        return provenance_of(self._rec())


def read_imagefolder(path: str, classes: list[str] | None = None, lazy: bool = False) -> Dataset:
    """Read ``path/<class>/<image>``.  If ``manifest.jsonl`` exists, its labels and provenance are used.

    ``lazy=True`` (only with a manifest) checks that every file exists but decodes images on access.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: dataset path does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset path is not a folder")
    if (root / MANIFEST).exists():
        return _read_with_manifest(root, lazy)
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DatasetError(f"{root}: no class sub-folders (expected {root}/<class>/<image>)")
    if classes is not None:
        missing = [c for c in classes if c not in found]
        if missing:
            raise DatasetError(f"{root}: class folder '{missing[0]}' not found")
        found = list(classes)
    samples: list[Sample] = []
    for cls in found:
        files = sorted(p for p in (root / cls).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DatasetError(f"{root / cls}: class '{cls}' has no images")
        for f in files:
            rel = f.relative_to(root).as_posix()
            samples.append(Sample(id=rel, data=read_image(f), label=cls, meta={"file": rel, "path": str(f)}))
    return Dataset(samples, found, str(root), "imagefolder", "image", "classification")


def _read_lazy(root: Path) -> list[Sample]:
    samples: list[Sample] = []
    manifest = root / MANIFEST
    with open(manifest, "rb") as fh:
        n, offset = 0, 0
        for line in iter(fh.readline, b""):
            n, at = n + 1, offset
            offset += len(line)
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{root / MANIFEST}:{n}: invalid JSON ({e.msg})") from None
            f = root / r["file"]
            if not f.exists():
                raise DatasetError(f"{f}: listed in {root / MANIFEST} but missing")
            samples.append(LazyImageSample(manifest, at, r, f))
    return samples


def _read_with_manifest(root: Path, lazy: bool = False) -> Dataset:
    if lazy:
        samples = _read_lazy(root)
        classes = sorted({s.label for s in samples} | {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")})
        return Dataset(samples, classes, str(root), "imagefolder", "image", "classification")
    recs = read_manifest(root / MANIFEST)
    samples = []
    for r in recs:
        f = root / r["file"]
        samples.append(sample_from_record(r, read_image(f)))
        samples[-1].meta["path"] = str(f)
    classes = sorted({s.label for s in samples} | {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")})
    return Dataset(samples, classes, str(root), "imagefolder", "image", "classification")


def write_imagefolder(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None) -> Path:
    """Write samples as ``out/<label>/<id>.png`` plus ``manifest.jsonl``, atomically.

    ``extra(sample) -> dict`` adds keys to each manifest line.
    """
    out_path = Path(out)
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        for c in classes:
            (tmp / c).mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        # manifest lines are written as the files are, so memory does not grow with the sample count
        with open(tmp / MANIFEST, "w", encoding="utf-8", newline="\n") as man:
            for s in samples:
                data, ext = sample_bytes(s)
                rel = unique_path(seen, f"{s.label}/{sample_stem(s)}", ext)
                (tmp / s.label).mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)
                man.write(dumps(record(s, rel, sha256_bytes(data), **(extra(s) if extra else {}))) + "\n")
    return out_path
