"""Atomic, versioned, idempotent merge of accepted synthetic samples into a training set.

Layout of a training set folder::

    <into>/CURRENT            the name of the current version ("v0003"), replaced atomically
    <into>/versions/v0001/    an immutable dataset (ImageFolder, COCO, YOLO, ...) with manifest.jsonl and MERGE.json
    <into>/versions/v0002/    ...

A merge takes the folder's lock (a concurrent merge waits, then fails cleanly), finishes or undoes
what a killed merge left, builds the new version in a hidden staging folder, flushes it to disk,
renames it into ``versions/`` and only then points ``CURRENT`` at it (``os.replace``).  Killed at any
moment, the training set that ``CURRENT`` names is either the old version or the new one, and the
next merge recovers: staging is removed, and a version renamed into place before the kill is
published rather than written a second time.  Sample ids make it idempotent: a sample already in
the current version is not added again, and a merge that adds nothing writes no new version.  The
real input is only ever read.  Crash tests kill it at named points (:mod:`synthgen.faults`).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

from .dataset import Dataset
from .errors import ConfigError, MergeError
from .faults import checkpoint
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
    if _version_number(name) is None:
        raise MergeError(f"{cur}: names {name[:40]!r}, which is not a version (v0001, v0002, ...)")
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
    """A version of the training set.  ImageFolder versions (synthgen's own, with a manifest) are read
    lazily: the next version copies their files' bytes, so merging never decodes the current version."""
    from .io import formats

    f = formats.detect(path)
    return f.read(str(path), lazy=True) if f.name == "imagefolder" else f.read(str(path))


OWN = (".lock", ".staging-*", "..staging-*", ".CURRENT.tmp-*", ".audit*", "audit.jsonl")  # what merge itself leaves here


def _is_own(name: str) -> bool:
    from fnmatch import fnmatch

    return name in (CURRENT, VERSIONS) or any(fnmatch(name, pat) for pat in OWN)


@contextmanager
def _lock(into: Path, timeout: float):
    """Hold the training set's lock; wait up to ``timeout`` seconds for another merge to finish."""
    import time

    into.mkdir(parents=True, exist_ok=True)
    with open(into / ".lock", "a+") as f:
        deadline, told = time.monotonic() + max(0.0, float(timeout)), False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    f.seek(0)
                    holder = f.read().strip() or "unknown"
                    raise MergeError(f"{into}: another merge (pid {holder}) still holds the lock after {timeout:g} s; "
                                     "nothing was written, run the merge again when it has finished") from None
                if not told:
                    print(f"synthgen: waiting for another merge into {into} to finish", file=sys.stderr, flush=True)
                    told = True
                time.sleep(0.05)
        try:
            f.truncate(0)
            f.write(f"{os.getpid()}\n")
            f.flush()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _version_number(name: str) -> int | None:
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else None


def _next_version(into: Path) -> str:
    vdir = into / VERSIONS
    nums = [n for p in vdir.iterdir() if (n := _version_number(p.name)) is not None] if vdir.exists() else []
    return f"v{(max(nums) + 1 if nums else 1):04d}"


def _recover(into: Path) -> None:
    """Finish or undo what a killed merge left (called under the lock).

    Staging folders and temporary ``CURRENT`` files are removed.  A version folder newer than
    ``CURRENT`` was complete and flushed when it was renamed into ``versions/`` (the rename is the
    last step before ``CURRENT`` moves), so a merge killed between the two is rolled forward: the
    rerun finds its samples present and adds nothing, instead of publishing the same content twice.
    A newer folder that does not follow the current version (no ``MERGE.json`` naming it as previous)
    was never published and is removed.
    """
    for pattern in (".staging-*", "..staging-*", ".CURRENT.tmp-*"):
        for p in into.glob(pattern):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    vdir = into / VERSIONS
    if not vdir.is_dir():
        return
    cur = current_version(into)
    cur_n = _version_number(cur.name) if cur else 0
    newer = sorted((n, p) for p in vdir.iterdir() if (n := _version_number(p.name)) is not None and n > cur_n)
    head = cur.name if cur else None
    for _n, p in newer:
        try:
            meta = json.loads((p / "MERGE.json").read_text())
        except (OSError, ValueError):
            meta = None
        if meta is not None and meta.get("previous") == head and (p / "manifest.jsonl").exists():
            # the killed merge may not have logged it: the audit log says who published it
            from . import audit

            audit.record_recovered(into, p.name, meta)
            write_bytes_atomic(into / CURRENT, (p.name + "\n").encode())
            head = p.name
        else:
            shutil.rmtree(p, ignore_errors=True)


def _protected_roots(real: Dataset) -> list[Path]:
    """Folders of the real dataset: its root (or the folder of its annotation file) and image folders."""
    roots = set()
    if real.source and Path(real.source).exists():
        src = Path(real.source).resolve()
        roots.add(src if src.is_dir() else src.parent)
    for s in real.samples:
        p = (s.meta or {}).get("path")
        if p:
            roots.add(Path(p).resolve().parent)
    return sorted(roots)


def _check_target(into: Path, real: Dataset) -> None:
    if into.exists() and not into.is_dir():
        raise MergeError(f"merge.into: {into} is a file, not a folder")
    target = into.resolve()
    for root in _protected_roots(real):
        if root == target or root in target.parents:
            raise MergeError(f"merge.into: {into} lies inside the real dataset {real.source}; real data is never modified")
    if into.exists():
        foreign = sorted(p.name for p in into.iterdir() if not _is_own(p.name))
        if foreign and not (into / CURRENT).exists() and not (into / VERSIONS).exists():
            raise MergeError(f"{into}: folder exists and is not a synthgen training set (holds {foreign[0]!r}); "
                             "choose an empty or new folder")


def merge(
    into: str | Path,
    real: Dataset,
    synthetic: Iterable[Sample],
    report: dict[str, Any],
    report_path: str | None = None,
    force: bool = False,
    reason: str | None = None,
    fmt: str = "auto",
    lock_timeout: float = 60.0,
    output: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge the synthetic samples whose class passed the report's gate (or all, if forced).

    A concurrent merge into the same folder waits up to ``lock_timeout`` seconds for the lock, then
    fails without writing.  Returns a summary: the version written (or the current one when nothing
    was new), samples added per class, classes left out and why.  ``audit``: the command's context
    (:func:`synthgen.audit.context`) for the entry a new version gets in the training set's audit log.
    ``output``: the run's ``output`` config, whose ``output.kitti`` block the KITTI writer takes.
    """
    into = Path(into).expanduser()
    if force and not (reason and str(reason).strip()):
        raise ConfigError("merge.reason: required when merge.force=true (it is written to the manifest)")
    _check_target(into, real)
    classes = report.get("classes", {})
    report_sha = hashlib.sha256(dumps(report).encode()).hexdigest()
    if report_path:  # recorded relative to the training set, so identical runs give identical manifests
        report_path = os.path.relpath(os.path.abspath(report_path), os.path.abspath(into))
    # samples the gate's filter dropped (outside the real support) never enter a training set
    dropped = {d["id"] for d in (report.get("filter") or {}).get("dropped", [])}
    accepted, left_out = {}, {}
    for label, c in classes.items():
        if c.get("admitted", c["verdict"] == "pass"):  # the gate decides admission; merge obeys it
            accepted[label] = {"verdict": c["verdict"]}
        elif force:
            accepted[label] = {"verdict": c["verdict"], "forced": True, "reason": str(reason)}
        else:
            left_out[label] = c["verdict"]
    checkpoint("merge.before-lock")
    with _lock(into, lock_timeout):
        _recover(into)
        cur = current_version(into)
        base = _read_version(cur) if cur is not None else real
        present = {s.id for s in base.samples}
        added: list[Sample] = []
        for s in synthetic:
            gated = _gated_label(s)
            if gated in accepted and s.id not in present and s.id not in dropped:
                s.meta.setdefault("extra", {})["admitted_by"] = {
                    "report": report_path, "report_sha256": report_sha, **accepted[gated]}
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
        checkpoint("merge.before-staging")
        classes_all = list(base.classes) + [c for c in classes if c not in base.classes]
        from .generate import writer_options

        kw = writer_options(f.name, output)
        if f.name in ("coco", "yolo") and base.info.get("categories"):  # class ids stay the real dataset's
            kw["categories"] = base.info["categories"]
        f.write(_killable(samples), classes_all, str(staging), **kw)
        meta = {"version": name, "previous": cur.name if cur else None, "report": report_path,
                "report_sha256": report_sha, "added": per_class, "left_out": left_out,
                "forced": {k: v["reason"] for k, v in accepted.items() if v.get("forced")},
                "n_samples": len(samples)}
        (staging / "MERGE.json").write_text(dumps(meta) + "\n")
        fsync_tree(staging)
        (into / VERSIONS).mkdir(exist_ok=True)
        checkpoint("merge.before-publish")
        os.replace(staging, into / VERSIONS / name)
        _fsync_dir(into / VERSIONS)
        checkpoint("merge.after-publish")
        # logged before CURRENT moves: a kill in between is recovered (and logged) by _recover
        from . import audit as _audit

        _audit.record_version(into, name, meta, report, added, real if cur is None else None, audit)
        write_bytes_atomic(into / CURRENT, (name + "\n").encode())
        _fsync_dir(into)
        summary.update(version=name, new_version=True, manifest_sha256=sha256_file(into / VERSIONS / name / "manifest.jsonl"))
        return summary


def _gated_label(s: Sample) -> str:
    """The class whose gate verdict admits ``s``: the one it was generated (and validated) as, also when
    a reviewer relabeled it (``synthgen review``: it then merges under the new label)."""
    before = (((s.meta or {}).get("extra") or {}).get("review") or {}).get("before") or {}
    return str(before.get("label", s.label))


def _killable(samples: list[Sample]):
    """The samples, with the ``merge.mid-write`` kill point halfway through (tests only)."""
    for i, s in enumerate(samples):
        if i == len(samples) // 2:
            checkpoint("merge.mid-write")
        yield s


def _fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename is durable only once its folder is flushed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
