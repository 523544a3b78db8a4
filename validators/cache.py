"""Featurize a dataset once and keep the matrix on disk, keyed by content hash.

The key of a matrix is the sha256 of (the featurizer's identity, the content hash of every sample in
order).  A sample's content hash covers its data (dtype, shape and bytes of an array, or the UTF-8 of
a string) and nothing else, so renaming files or re-reading a dataset from another format hits the
same cache entry.  Entries are written atomically (temporary file, then rename), so parallel runs
can share one cache folder.  ``cache_dir=None`` turns caching off.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from synthgen.sample import Sample

DEFAULT_CACHE = "~/.cache/synthgen/features"


def content_hash(sample: Sample) -> str:
    """sha256 of a sample's data (arrays: dtype, shape and bytes; strings: UTF-8; dict: canonical JSON)."""
    h = hashlib.sha256()
    d = sample.data
    if isinstance(d, np.ndarray):
        h.update(f"nd|{d.dtype.str}|{d.shape}|".encode())
        h.update(np.ascontiguousarray(d).tobytes())
    elif isinstance(d, str):
        h.update(b"str|" + d.encode("utf-8"))
    elif isinstance(d, dict):  # point clouds with attributes
        from synthgen.io.common import dumps

        for k in sorted(d):
            v = d[k]
            h.update(f"|{k}|".encode())
            if isinstance(v, np.ndarray):
                h.update(f"{v.dtype.str}|{v.shape}|".encode())
                h.update(np.ascontiguousarray(v).tobytes())
            else:
                h.update(dumps(v).encode())
    else:
        h.update(repr(d).encode())
    return h.hexdigest()


def featurizer_identity(featurizer: Any) -> str:
    """Class path, version and constructor parameters: anything that changes the output changes this."""
    cls = type(featurizer)
    key = getattr(featurizer, "cache_key", None)
    params = {k: v for k, v in sorted(vars(featurizer).items()) if not k.startswith("_") and isinstance(v, (int, float, str, bool, type(None), list, tuple))}
    return f"{cls.__module__}.{cls.__qualname__}|{getattr(featurizer, 'version', '')}|{key}|{params}"


_POOL_STATE: dict[str, Any] = {}


def _prepare(featurizer: Any, samples: Sequence[Sample]) -> None:
    """Let a featurizer that decides its space from the first data it sees (``prepare``, e.g. the
    ``auto`` image featurizer) decide now: its identity, hence the cache key, depends on the choice."""
    prepare = getattr(featurizer, "prepare", None)
    if callable(prepare) and len(samples):
        prepare(samples)


def _featurize_slice(bounds: tuple[int, int]) -> np.ndarray:
    f, samples = _POOL_STATE["featurizer"], _POOL_STATE["samples"]
    return np.asarray(f.transform(samples[bounds[0]:bounds[1]]), dtype=np.float64)


def parallel_transform(featurizer: Any, samples: list[Sample], workers: int = 1, chunk: int = 256) -> np.ndarray:
    """``featurizer.transform`` over ``samples`` in ``workers`` forked processes, rows in order.

    Slices are contiguous and concatenated in order, so the matrix is identical to ``workers=1``.
    Featurizers that hold a torch model (``parallel_safe = False``) run in this process.  A featurizer
    that chooses its space from the data (``prepare(samples)``) chooses here, before any fork.
    """
    _prepare(featurizer, samples)
    n = len(samples)
    if workers <= 1 or n < 2 * chunk or not getattr(featurizer, "parallel_safe", True):
        return np.asarray(featurizer.transform(samples), dtype=np.float64)
    import multiprocessing as mp

    bounds = [(i, min(n, i + chunk)) for i in range(0, n, chunk)]
    _POOL_STATE.update(featurizer=featurizer, samples=samples)
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_featurize_slice, bounds)
    finally:
        _POOL_STATE.clear()
    return np.vstack(parts)


class FeatureCache:
    """``transform(featurizer, samples)`` with an on-disk cache; counts hits and misses for the report.

    ``workers`` > 1 featurizes in that many processes (same matrix as one process).
    """

    def __init__(self, cache_dir: str | os.PathLike | None = DEFAULT_CACHE, workers: int = 1):
        self.workers = max(1, int(workers or 1))
        self.dir = Path(os.path.expanduser(str(cache_dir))) if cache_dir else None
        self.hits = 0
        self.misses = 0
        self.keys: dict[str, str] = {}  # dataset content keys, for the report (deterministic)

    def key(self, featurizer: Any, samples: Sequence[Sample]) -> str:
        h = hashlib.sha256(featurizer_identity(featurizer).encode())
        for s in samples:
            h.update(content_hash(s).encode())
        return h.hexdigest()

    def transform(self, featurizer: Any, samples: Sequence[Sample], name: str | None = None) -> np.ndarray:
        """Features of ``samples`` (rows in order); ``name`` labels the dataset key in :meth:`info`."""
        samples = list(samples)
        if self.dir is None or not samples:  # no cache: nothing to key, so nothing is hashed
            self.misses += 1
            return parallel_transform(featurizer, samples, self.workers)
        _prepare(featurizer, samples)  # before the key: a data-chosen space is part of it
        key = self.key(featurizer, samples)
        if name:
            self.keys[name] = key
        path = self.dir / key[:2] / f"{key}.npy"
        if path.exists():
            try:
                x = np.load(path, allow_pickle=False)
                if x.shape[0] == len(samples):
                    self.hits += 1
                    return x
            except (OSError, ValueError):
                pass  # a corrupt entry is recomputed and replaced
        self.misses += 1
        x = parallel_transform(featurizer, samples, self.workers)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f".{key}.{os.getpid()}.tmp.npy"
            np.save(tmp, x, allow_pickle=False)
            os.replace(tmp, path)
        except OSError:  # a read-only cache folder never fails a validation
            pass
        return x

    def info(self) -> dict[str, Any]:
        """Deterministic summary for report.json (hit counts vary between runs and are left out; the
        content keys of the featurized sets exist only with a cache: without one nothing is hashed)."""
        return {"dir": str(self.dir) if self.dir else None, "keys": dict(sorted(self.keys.items()))}
