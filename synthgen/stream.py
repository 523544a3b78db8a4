"""Streaming, resumable generation: samples are staged one file at a time; the stage manifest is the checkpoint.

Layout inside a run folder while generating::

    .stage/manifest.jsonl          one line per finished sample: id, label, index, file, sha256
    .stage/samples/<label>-<hash>/<index>.npz   the finished sample (written to a temp name, then renamed)

A sample counts as done only when its line is in the manifest and its file has that hash; a torn
last line, a temp file or a file without a line is discarded on restart.  When every planned sample
is staged, the final dataset is written in plan order by the format's writer (atomically, in one
rename), so a resumed run gives exactly the files a clean run gives.  Memory stays flat: samples are
written as they come and read back one at a time.

A run folder is data, never code: a staged sample is an ``.npz`` holding its arrays and one JSON
document for everything else (:func:`pack_sample`), read back with ``allow_pickle=False``.  A planted
or corrupt stage file is at worst a sample that fails its hash check and is generated again.
"""
from __future__ import annotations

import hashlib
import json
import io
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .errors import DatasetError
from .faults import checkpoint
from .io.paths import encoded_dir, safe_join
from .sample import Provenance, Sample

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
                    try:
                        p = safe_join(self.root, str(rec["file"]))
                    except DatasetError:  # a stage line pointing outside the stage: not ours, regenerate
                        continue
                    if p.is_file() and _sha(p) == rec["sha256"]:
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
        path = self.root / self.done[(label, int(index))]
        try:
            return unpack_sample(path.read_bytes())
        except (ValueError, KeyError, TypeError, OSError) as e:
            raise DatasetError(f"{path}: unreadable stage file ({type(e).__name__}); delete {self.root} to regenerate") from None

    def iter_plan(self, order: Sequence[tuple[str, int]]) -> Iterator[Sample]:
        for label, i in order:
            if not self.is_done(label, i):
                raise DatasetError(f"{self.root}: sample {i} of class '{label}' is missing from the stage")
            yield self.load(label, i)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def stage_sample(root: Path, sample: Sample, index: int) -> dict[str, Any]:
    rel = f"samples/{encoded_dir(sample.label)}/{index:08d}.npz"  # hashed, so "a b" and "a_b" stay apart
    path = safe_join(root, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    data = pack_sample(sample)
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    checkpoint("stage.mid-commit")
    return {"id": sample.id, "label": sample.label, "index": int(index), "file": rel,
            "sha256": hashlib.sha256(data).hexdigest()}


# --- data-only sample files -----------------------------------------------------------------------
# Containers become tagged JSON lists (["d", [[k, v], ...]], ["l", [...]], ["t", [...]]), arrays and
# numpy scalars become ["a", i] pointing at npz member a<i>; JSON scalars stay as they are, floats
# included (Python's JSON writes them exactly).  No object is ever rebuilt from a type name.

def _pack(obj: Any, arrays: list) -> Any:
    import numpy as np

    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.ndarray, np.generic)):
        a = np.asarray(obj)
        if a.dtype.hasobject:
            raise TypeError(f"object array of shape {a.shape}")
        arrays.append(a)
        return ["a", len(arrays) - 1]
    if isinstance(obj, dict):
        return ["d", [[_pack(k, arrays), _pack(v, arrays)] for k, v in obj.items()]]
    if isinstance(obj, tuple):
        return ["t", [_pack(v, arrays) for v in obj]]
    if isinstance(obj, list):
        return ["l", [_pack(v, arrays) for v in obj]]
    raise TypeError(f"cannot stage a value of type {type(obj).__name__}")


def _unpack(obj: Any, arrays) -> Any:
    if not isinstance(obj, list):
        return obj
    tag, body = obj
    if tag == "a":
        a = arrays[f"a{int(body)}"]
        return a[()] if a.ndim == 0 and not isinstance(a, str) else a
    if tag == "d":
        return {_unpack(k, arrays): _unpack(v, arrays) for k, v in body}
    if tag == "t":
        return tuple(_unpack(v, arrays) for v in body)
    if tag == "l":
        return [_unpack(v, arrays) for v in body]
    raise ValueError(f"unknown tag {tag!r}")


def pack_sample(sample: Sample) -> bytes:
    """A sample as ``.npz`` bytes: its arrays plus one JSON document (no pickle anywhere)."""
    import numpy as np

    arrays: list = []
    try:
        doc = {"id": sample.id, "label": sample.label, "modality": sample.modality,
               "data": _pack(sample.data, arrays), "annotations": _pack(sample.annotations, arrays),
               "provenance": _pack(sample.provenance.to_dict() if sample.provenance else None, arrays),
               "meta": _pack(sample.meta, arrays)}
    except TypeError as e:  # a generator put something that is not data into a sample: a bug, say where
        raise TypeError(f"sample {sample.id}: {e}") from None
    buf = io.BytesIO()
    np.savez(buf, __doc__=np.array(json.dumps(doc, sort_keys=True)), **{f"a{i}": a for i, a in enumerate(arrays)})
    return buf.getvalue()


def unpack_sample(data: bytes) -> Sample:
    """Inverse of :func:`pack_sample`; reads with ``allow_pickle=False``."""
    import numpy as np

    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        doc = json.loads(str(z["__doc__"][()]))
        arrays = {k: z[k] for k in z.files if k != "__doc__"}
    prov = _unpack(doc["provenance"], arrays)
    meta = _unpack(doc["meta"], arrays)
    if not isinstance(meta, dict):
        raise ValueError("meta is not a mapping")
    meta.pop("path", None)  # writers copy the bytes of meta["path"]: a staged sample never points at a file
    return Sample(id=doc["id"], data=_unpack(doc["data"], arrays), label=doc["label"],
                  annotations=_unpack(doc["annotations"], arrays),
                  provenance=Provenance.from_dict(prov) if prov else None, modality=doc["modality"], meta=meta)


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


def _work(task: tuple[str, int, list[int]]) -> tuple[list[dict[str, Any]], str | None]:
    """One chunk in a worker: its stage records, or the class's InsufficientDataError message."""
    from .errors import InsufficientDataError

    label, n, indices = task
    g, root, seed = _WORKER["generator"], _WORKER["root"], _WORKER["seed"]
    try:
        return [stage_sample(root, s, s.provenance.index) for s in g.generate(label, n, seed, indices=indices)], None
    except InsufficientDataError as e:
        return [], str(e)


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
                   chunk: int = 16, progress: bool = True) -> tuple[int, dict[str, str]]:
    """Generate every ``(label, n, indices)`` not yet staged.

    Returns ``(samples generated now, {class: why})``: a class whose generator raises
    ``InsufficientDataError`` on any of its samples (not only the first) is given up, its remaining
    chunks skipped, and the reason returned, so one class the generator cannot fill does not abort the
    job.  The caller drops that class's staged samples and marks it INCOMPUTABLE.  Whether a class fails
    depends only on the seed and the data, so a resumed run fails the same class the same way.
    """
    from tqdm import tqdm

    from .errors import InsufficientDataError

    tasks = []
    for label, n, idx in todo:
        missing = [i for i in idx if not stage.is_done(label, i)]
        tasks.extend((label, n, c) for c in chunks(missing, chunk))
    total = sum(len(t[2]) for t in tasks)
    failed: dict[str, str] = {}
    made = 0
    bar = tqdm(total=total, desc="generate", unit="sample", disable=None if progress else True, file=sys.stderr)

    def give_up(label: str, why: str, n_left: int) -> None:
        failed[label] = why.removeprefix(f"class '{label}': ")
        bar.update(n_left)

    try:
        if workers <= 1:
            for label, n, idx in tasks:
                if label in failed:
                    bar.update(len(idx))
                    continue
                try:
                    recs = [stage.write_sample(s, s.provenance.index) for s in generator.generate(label, n, seed, indices=idx)]
                except InsufficientDataError as e:
                    give_up(label, str(e), len(idx))
                    continue
                stage.commit(recs)
                made += len(recs)
                bar.update(len(recs))
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(generator, str(stage.root), seed)) as pool:
                for (label, _, idx), (recs, why) in zip(tasks, pool.imap(_work, tasks)):
                    if why is not None or label in failed:
                        if why is not None and label not in failed:
                            give_up(label, why, len(idx))
                        else:
                            bar.update(len(idx))
                        continue
                    stage.commit(recs)
                    made += len(recs)
                    bar.update(len(recs))
    finally:
        bar.close()
    return made, failed
