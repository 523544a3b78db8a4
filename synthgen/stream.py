"""Streaming, resumable generation: samples are staged one file at a time; the stage manifest is the checkpoint.

Layout inside a run folder while generating::

    .stage/manifest.jsonl          one line per finished sample: id, label, index, file, sha256
    .stage/samples/<label>/<index>.pkl   the finished sample (written to a temp name, then renamed)

A sample counts as done only when its line is in the manifest and its file has that hash; a torn
last line, a temp file or a file without a line is discarded on restart.  When every planned sample
is staged, the final dataset is written in plan order by the format's writer (atomically, in one
rename), so a resumed run gives exactly the files a clean run gives.  Memory stays flat: samples are
written as they come and read back one at a time.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .errors import DatasetError
from .io.common import safe_name
from .sample import Sample

STAGE = ".stage"


class Stage:
    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir) / STAGE
        self.manifest = self.root / "manifest.jsonl"
        self.done: dict[tuple[str, int], str] = {}  # (label, index) -> staged file (relative)

    # -- checkpoint ---------------------------------------------------------------------------
    def open(self) -> "Stage":
        """Create or recover the stage: keep verified samples, drop everything else."""
        (self.root / "samples").mkdir(parents=True, exist_ok=True)
        good: list[str] = []
        if self.manifest.exists():
            with open(self.manifest, encoding="utf-8") as f:
                for line in f:
                    if not line.endswith("\n"):
                        break  # torn last line
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        break
                    p = self.root / rec["file"]
                    if p.exists() and _sha(p) == rec["sha256"]:
                        self.done[(rec["label"], int(rec["index"]))] = rec["file"]
                        good.append(line)
        keep = {self.root / f for f in self.done.values()}
        for p in (self.root / "samples").rglob("*"):
            if p.is_file() and p not in keep:
                p.unlink()
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text("".join(good), encoding="utf-8")
        os.replace(tmp, self.manifest)
        return self

    def is_done(self, label: str, index: int) -> bool:
        return (label, int(index)) in self.done

    # -- writing ------------------------------------------------------------------------------
    def write_sample(self, sample: Sample, index: int) -> dict[str, Any]:
        """Write one sample file (temp name, then rename); returns its manifest line (not yet appended)."""
        return stage_sample(self.root, sample, index)

    def commit(self, recs: list[dict[str, Any]]) -> None:
        """Append finished samples' lines in one write, flushed to disk.

        Sample files are not fsynced one by one: after a crash a file whose bytes did not reach the
        disk fails its hash check on restart and is generated again.
        """
        if not recs:
            return
        with open(self.manifest, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))
            f.flush()
            os.fsync(f.fileno())
        for rec in recs:
            self.done[(rec["label"], int(rec["index"]))] = rec["file"]

    # -- reading ------------------------------------------------------------------------------
    def load(self, label: str, index: int) -> Sample:
        with open(self.root / self.done[(label, int(index))], "rb") as f:
            return pickle.load(f)

    def iter_plan(self, order: Sequence[tuple[str, int]]) -> Iterator[Sample]:
        for label, i in order:
            if not self.is_done(label, i):
                raise DatasetError(f"{self.root}: sample {i} of class '{label}' is missing from the stage")
            yield self.load(label, i)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def stage_sample(root: Path, sample: Sample, index: int) -> dict[str, Any]:
    tag = hashlib.blake2b(sample.label.encode(), digest_size=4).hexdigest()  # "a b" and "a_b" stay apart
    rel = f"samples/{safe_name(sample.label)}-{tag}/{index:08d}.pkl"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    data = pickle.dumps(sample, protocol=pickle.HIGHEST_PROTOCOL)
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return {"id": sample.id, "label": sample.label, "index": int(index), "file": rel,
            "sha256": hashlib.sha256(data).hexdigest()}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# --- workers ------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(generator, stage_root: str, seed: int) -> None:
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[v] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    _WORKER.update(generator=generator, root=Path(stage_root), seed=seed)


def _work(task: tuple[str, int, list[int]]) -> list[dict[str, Any]]:
    label, n, indices = task
    g, root, seed = _WORKER["generator"], _WORKER["root"], _WORKER["seed"]
    return [stage_sample(root, s, s.provenance.index) for s in g.generate(label, n, seed, indices=indices)]


def chunks(indices: Iterable[int], size: int) -> Iterator[list[int]]:
    buf: list[int] = []
    for i in indices:
        buf.append(i)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


def run_generation(generator, todo: list[tuple[str, int, Sequence[int]]], seed: int, stage: Stage, workers: int = 1,
                   chunk: int = 16, progress: bool = True) -> int:
    """Generate every ``(label, n, indices)`` not yet staged; returns how many were generated now."""
    from tqdm import tqdm

    from .errors import InsufficientDataError

    tasks = []
    for label, n, idx in todo:
        missing = [i for i in idx if not stage.is_done(label, i)]
        tasks.extend((label, n, c) for c in chunks(missing, chunk))
    total = sum(len(t[2]) for t in tasks)
    bar = tqdm(total=total, desc="generate", unit="sample", disable=None if progress else True, file=sys.stderr)
    try:
        if workers <= 1:
            for label, n, idx in tasks:
                recs = [stage.write_sample(s, s.provenance.index) for s in generator.generate(label, n, seed, indices=idx)]
                stage.commit(recs)
                bar.update(len(recs))
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(generator, str(stage.root), seed)) as pool:
                for recs in pool.imap(_work, tasks):
                    stage.commit(recs)
                    bar.update(len(recs))
    except InsufficientDataError as e:
        raise DatasetError(f"generator: {e}") from None
    finally:
        bar.close()
    return total
