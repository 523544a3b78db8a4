"""ImageFolder: one sub-folder per class, images inside.  Read and write (with ``manifest.jsonl``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ..dataset import Dataset
from ..errors import DatasetError
from ..sample import Sample
from .common import (IMAGE_EXTENSIONS, annotations_from_json, atomic_dir, check_label, dumps, read_image, sample_bytes,
                     sample_stem, sha256_bytes, unique_path)
from .manifest import CORE_KEYS, MANIFEST, parse_record, provenance_of, read_manifest, record, sample_from_record
from .paths import class_dir, class_dirs, inside_root, safe_join


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
        return annotations_from_json(self._rec().get("annotations") or {}, f"{self._at[0]}: sample {self.id}")

    @property
    def provenance(self):  # type: ignore[override]
        return provenance_of(self._rec())


def read_imagefolder(path: str, classes: list[str] | None = None, lazy: bool = False, follow_symlinks: bool = False) -> Dataset:
    """Read ``path/<class>/<image>``.  If ``manifest.jsonl`` exists, its labels and provenance are used.

    ``lazy=True`` (only with a manifest) checks that every file exists but decodes images on access.
    Symbolic links that lead out of ``path`` are refused unless ``follow_symlinks``.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: dataset path does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset path is not a folder")
    if (root / MANIFEST).exists():
        return _read_with_manifest(root, lazy, follow_symlinks)
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
            label = check_label(cls, str(f))
            image = read_image(inside_root(root, f, follow_symlinks))
            samples.append(Sample(id=rel, data=image, label=label, meta={"file": rel, "path": str(f)}))
    return Dataset(samples, found, str(root), "imagefolder", "image", "classification")


def _read_lazy(root: Path, follow_symlinks: bool = False) -> list[Sample]:
    samples: list[Sample] = []
    manifest = inside_root(root, root / MANIFEST, follow_symlinks)
    with open(manifest, "rb") as fh:
        n, offset = 0, 0
        for line in iter(fh.readline, b""):
            n, at = n + 1, offset
            offset += len(line)
            if not line.strip():
                continue
            r = parse_record(line, f"{manifest}:{n}")
            f = inside_root(root, root / r["file"], follow_symlinks)
            if not f.exists():
                raise DatasetError(f"{f}: listed in {root / MANIFEST} but missing")
            samples.append(LazyImageSample(manifest, at, r, f))
    return samples


def _read_with_manifest(root: Path, lazy: bool = False, follow_symlinks: bool = False) -> Dataset:
    """Labels and classes come from the manifest alone: folder names may be encoded (see :mod:`.paths`)."""
    if lazy:
        samples = _read_lazy(root, follow_symlinks)
        return Dataset(samples, sorted({s.label for s in samples}), str(root), "imagefolder", "image", "classification")
    recs = read_manifest(inside_root(root, root / MANIFEST, follow_symlinks))
    samples = []
    for r in recs:
        f = inside_root(root, root / r["file"], follow_symlinks)
        samples.append(sample_from_record(r, read_image(f), where=f"{root / MANIFEST}: sample {r['id']}"))
        samples[-1].meta["path"] = str(f)
    classes = sorted({s.label for s in samples})
    return Dataset(samples, classes, str(root), "imagefolder", "image", "classification")


def write_imagefolder(samples: Iterable[Sample], classes: list[str], out: str, overwrite: bool = False, extra=None) -> Path:
    """Write samples as ``out/<class folder>/<id>.png`` plus ``manifest.jsonl``, atomically.

    The class folder is the label itself when that is a plain name, else a safe encoded name
    (:func:`synthgen.io.paths.class_dirs`); the manifest keeps the exact label.
    ``extra(sample) -> dict`` adds keys to each manifest line.
    """
    out_path = Path(out)
    dirs = class_dirs(classes)
    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        # class folders are made as samples arrive: an empty one would make the folder unreadable as a
        # dataset (ours and torchvision's ImageFolder refuse a class without samples)
        seen: set[str] = set()
        # manifest lines are written as the files are, so memory does not grow with the sample count
        with open(tmp / MANIFEST, "w", encoding="utf-8", newline="\n") as man:
            for s in samples:
                data, ext = sample_bytes(s)
                rel = unique_path(seen, f"{class_dir(dirs, s.label)}/{sample_stem(s)}", ext)
                path = safe_join(tmp, rel)
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(data)
                man.write(dumps(record(s, rel, sha256_bytes(data), **(extra(s) if extra else {}))) + "\n")
    return out_path
