"""Per-sample seeding: sample ``i`` of class ``label`` draws all its randomness from ``(seed, label, i)``.

Nothing here depends on how the work is split, so 1 shard or 8 shards, one process or many, give the
same samples.  Never use a global RNG or a default-argument RNG.
"""
from __future__ import annotations

import hashlib

import numpy as np


def sample_seed(seed: int, label: str, index: int, stream: str = "") -> int:
    """A 63-bit integer seed derived from (seed, label, index[, stream]) by hashing.

    ``stream`` separates independent uses inside one sample (e.g. "params" and "noise").
    """
    key = f"{int(seed)}\x1f{label}\x1f{int(index)}\x1f{stream}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & ((1 << 63) - 1)


def sample_rng(seed: int, label: str, index: int, stream: str = "") -> np.random.Generator:
    """A NumPy Generator that belongs to one sample and nobody else (``default_rng(s)`` is exactly
    ``Generator(PCG64(s))``; built directly it costs 12 us instead of 18)."""
    return np.random.Generator(np.random.PCG64(sample_seed(seed, label, index, stream)))


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for a named sub-task (a bootstrap, a permutation test), not tied to a sample."""
    key = "\x1f".join([str(int(seed)), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & ((1 << 63) - 1)


def torch_generator(seed: int, label: str, index: int, device: str = "cpu", stream: str = ""):
    """A ``torch.Generator`` seeded from (seed, label, index); torch is imported lazily."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(sample_seed(seed, label, index, stream))
    return g
