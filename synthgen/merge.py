"""Atomic, versioned, idempotent merge of accepted synthetic samples into a training set.

Layout of a training set folder::

    <into>/CURRENT            the name of the current version ("v0003"), replaced atomically
    <into>/versions/v0001/    an immutable dataset (ImageFolder or COCO) with manifest.jsonl and MERGE.json
    <into>/versions/v0002/    ...

A merge builds the new version in a hidden staging folder, flushes it to disk, renames it into
``versions/`` and only then points ``CURRENT`` at it (``os.replace``).  Killed at any moment, the
training set that ``CURRENT`` names is either the old version or the new one.  Sample ids make it
idempotent: a sample already in the current version is not added again, and a merge that adds
nothing writes no new version.  The real input is only ever read.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

from .dataset import Dataset
from .errors import ConfigError, MergeError
from .io.common import dumps, fsync_tree, sha256_file, write_bytes_atomic
from .sample import Sample

CURRENT = "CURRENT"
VERSIONS = "versions"


def current_version(into: str | Path) -> Path | None:
    into = Path(into)
    cur = into / CURRENT
    if not cur.exists():
        return None
    name = cur.read_text().strip()
    path = into / VERSIONS / name
    if not path.is_dir():
        raise MergeError(f"{cur}: names version '{name}', which does not exist")
    return path


def read_training_set(into: str | Path) -> Dataset:
    """The current version of a training set, read through its manifest."""
    path = current_version(into)
    if path is None:
        raise MergeError(f"{into}: not a synthgen training set (no {CURRENT} file)")
    return _read_version(path)


def _read_version(path: Path) -> Dataset:
    from .io import formats

    return formats.detect(path).read(str(path))


@contextmanager
def _lock(into: Path):
    into.mkdir(parents=True, exist_ok=True)
    with open(into / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MergeError(f"{into}: another merge holds the lock") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _next_version(into: Path) -> str:
    vdir = into / VERSIONS
    nums = [int(p.name[1:]) for p in vdir.glob("v[0-9]*") if p.name[1:].isdigit()] if vdir.exists() else []
    return f"v{(max(nums) + 1 if nums else 1):04d}"


def _cleanup_staging(into: Path) -> None:
    for pattern in (".staging-*", "..staging-*"):
        for p in into.glob(pattern):
            shutil.rmtree(p, ignore_errors=True)


def merge(
    into: str | Path,
    real: Dataset,
    synthetic: Iterable[Sample],
    report: dict[str, Any],
    report_path: str | None = None,
    force: bool = False,
    reason: str | None = None,
    fmt: str = "auto",
    _pause_before_publish: float = 0.0,
) -> dict[str, Any]:
    """Merge the synthetic samples whose class passed the report's gate (or all, if forced).

    Returns a summary: the version written (or the current one when nothing was new), samples added
    per class, classes left out and why.
    """
    into = Path(into).expanduser()
    if force and not (reason and str(reason).strip()):
        raise ConfigError("merge.reason: required when merge.force=true (it is written to the manifest)")
    if into.exists() and any(into.iterdir()) and not (into / CURRENT).exists() and not (into / VERSIONS).exists():
        raise MergeError(f"{into}: folder exists and is not a synthgen training set; choose an empty or new folder")
    if real.source and Path(real.source).exists() and Path(real.source).resolve() in (into.resolve(), *into.resolve().parents):
        raise MergeError(f"merge.into: {into} lies inside the real dataset {real.source}; real data is never modified")
    classes = report.get("classes", {})
    report_sha = hashlib.sha256(dumps(report).encode()).hexdigest()
    if report_path:  # recorded relative to the training set, so identical runs give identical manifests
        report_path = os.path.relpath(os.path.abspath(report_path), os.path.abspath(into))
    # samples the gate's filter dropped (outside the real support) never enter a training set
    dropped = {d["id"] for d in (report.get("filter") or {}).get("dropped", [])}
    accepted, left_out = {}, {}
    for label, c in classes.items():
        if c["verdict"] == "pass":
            accepted[label] = {"verdict": "pass"}
        elif force:
            accepted[label] = {"verdict": c["verdict"], "forced": True, "reason": str(reason)}
        else:
            left_out[label] = c["verdict"]
    with _lock(into):
        _cleanup_staging(into)
        cur = current_version(into)
        base = _read_version(cur) if cur is not None else real
        present = {s.id for s in base.samples}
        added: list[Sample] = []
        for s in synthetic:
            if s.label in accepted and s.id not in present and s.id not in dropped:
                s.meta.setdefault("extra", {})["admitted_by"] = {
                    "report": report_path, "report_sha256": report_sha, **accepted[s.label]}
                added.append(s)
                present.add(s.id)
        per_class: dict[str, int] = {}
        for s in added:
            per_class[s.label] = per_class.get(s.label, 0) + 1
        summary = {"into": str(into), "added": per_class, "left_out": left_out,
                   "forced": sorted(k for k, v in accepted.items() if v.get("forced"))}
        if cur is not None and not added:
            summary.update(version=cur.name, new_version=False)
            return summary
        name = _next_version(into)
        from .io import formats

        if fmt == "auto":
            f = formats.FORMATS.get(base.format) or formats.output_format(base.modality, base.task)
        else:
            f = formats.output_format(base.modality, base.task, fmt, "merge.format")
        staging = into / f".staging-{name}-{os.getpid()}"
        samples = list(base.samples) + added
        classes_all = list(base.classes) + [c for c in classes if c not in base.classes]
        kw = {"categories": base.info["categories"]} if f.name == "coco" and base.info.get("categories") else {}
        f.write(samples, classes_all, str(staging), **kw)
        meta = {"version": name, "previous": cur.name if cur else None, "report": report_path,
                "report_sha256": report_sha, "added": per_class, "left_out": left_out,
                "forced": {k: v["reason"] for k, v in accepted.items() if v.get("forced")},
                "n_samples": len(samples)}
        (staging / "MERGE.json").write_text(dumps(meta) + "\n")
        fsync_tree(staging)
        (into / VERSIONS).mkdir(exist_ok=True)
        if _pause_before_publish:
            import time

            time.sleep(_pause_before_publish)
        os.replace(staging, into / VERSIONS / name)
        write_bytes_atomic(into / CURRENT, (name + "\n").encode())
        summary.update(version=name, new_version=True, manifest_sha256=sha256_file(into / VERSIONS / name / "manifest.jsonl"))
        return summary
