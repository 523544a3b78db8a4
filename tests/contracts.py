"""Conformance suites every generator and validator must pass (shared by all modalities).

Use from a test module::

    from tests.contracts import check_generator, check_validator
    def test_contract(): check_generator(lambda: MyGenerator(...), real_dataset, labels=["a"], n=6)
"""
from __future__ import annotations

import inspect
import json
from typing import Callable, Sequence

import numpy as np
import pytest

from synthgen.errors import ConfigError, InsufficientDataError
from synthgen.io.common import dumps
from synthgen.io.manifest import record
from synthgen.protocols import Generator
from synthgen.sample import Sample


def data_bytes(s: Sample) -> bytes:
    """A canonical byte form of a sample's data and annotations, for equality checks."""
    d = s.data
    if isinstance(d, np.ndarray):
        head = f"{d.dtype}{d.shape}".encode()
        body = np.ascontiguousarray(d).tobytes()
    elif isinstance(d, str):
        head, body = b"str", d.encode()
    else:
        head, body = type(d).__name__.encode(), dumps(d).encode()
    return head + body + dumps(s.annotations).encode()


def check_generator(make: Callable[[], object], real, labels: Sequence[str], n: int = 6, seed: int = 7) -> None:
    """Protocol, params, provenance, determinism, shard invariance and error handling."""
    g = make()
    assert isinstance(g, Generator), "must implement synthgen.protocols.Generator"
    assert g.modality in ("image", "text", "points")
    # constructor only stores parameters: every __init__ argument is readable back
    sig = inspect.signature(type(g).__init__)
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        assert hasattr(g, name), f"{type(g).__name__} must store constructor argument '{name}' as an attribute"
    assert g.fit(real) is g, "fit must return self"
    for label in labels:
        first = list(g.generate(label, n, seed))
        assert len(first) == n
        ids = [s.id for s in first]
        assert len(set(ids)) == n, "sample ids must be unique"
        for i, s in enumerate(first):
            assert isinstance(s, Sample)
            assert s.label == label and s.modality == g.modality
            p = s.provenance
            assert p is not None, "synthetic samples carry provenance"
            assert p.seed == seed and p.index == i and p.label == label
            assert p.generator and "." in p.generator and p.generator_version
            assert len(p.config_digest) == 64
            assert isinstance(p.parents, tuple)
            assert isinstance(p.params, dict)
            assert p.libraries and all(isinstance(v, str) for v in p.libraries.values())
            json.loads(dumps(record(s, "x", "0" * 64)))  # manifest line is valid JSON
        # determinism: a fresh instance, same seed -> identical bytes
        g2 = make().fit(real)
        again = list(g2.generate(label, n, seed))
        assert [data_bytes(a) for a in first] == [data_bytes(b) for b in again], "same seed must give identical samples"
        assert [a.provenance.to_dict() for a in first] == [b.provenance.to_dict() for b in again]
        # shard invariance: any subset of indices reproduces exactly those samples
        for shards in (2, 3):
            parts = []
            for k in range(shards):
                idx = range(n * k // shards, n * (k + 1) // shards)
                parts.extend(g2.generate(label, n, seed, indices=idx))
            assert [data_bytes(a) for a in first] == [data_bytes(b) for b in parts], f"{shards} shards differ from one run"
        odd = list(g2.generate(label, n, seed, indices=[n - 1, 0]))
        assert data_bytes(odd[0]) == data_bytes(first[-1]) and data_bytes(odd[1]) == data_bytes(first[0])
        # another seed gives other samples
        other = list(g2.generate(label, n, seed + 1))
        assert [data_bytes(a) for a in first] != [data_bytes(b) for b in other], "seed must matter"
    with pytest.raises(ConfigError):
        list(g.generate(labels[0], -1, seed))


def check_validator(v, dim: int = 4, n: int = 120, seed: int = 0) -> None:
    """Typed results in [0, 1], identical data passes, shifted data fails, too little data is incomputable."""
    rng = np.random.default_rng(seed)
    names = [f"f{j}" for j in range(dim)]
    x = rng.normal(size=(n, dim))
    same = rng.normal(size=(n, dim))
    shifted = rng.normal(size=(n, dim)) + 1.5
    res = v.validate({"a": x, "b": x, "c": x[:3]}, {"a": same, "b": shifted, "c": same}, names, seed=seed)
    a, b, c = res.per_class["a"], res.per_class["b"], res.per_class["c"]
    assert a.status == "pass" and a.passed, a
    assert b.status == "fail" and not b.passed, b
    assert c.status == "incomputable" and c.reason and c.score is None
    for r in (a, b):
        assert 0.0 <= r.score <= 1.0 and np.isfinite(r.statistic) and np.isfinite(r.threshold)
        assert (r.score >= 0.5) == r.passed
        if r.p_value is not None:
            assert 0.0 < r.p_value <= 1.0
    json.loads(dumps(res.to_dict()))
    again = v.validate({"a": x, "b": x, "c": x[:3]}, {"a": same, "b": shifted, "c": same}, names, seed=seed)
    assert dumps(again.to_dict()) == dumps(res.to_dict()), "validators must be deterministic for a seed"


def check_insufficient(exc_type=InsufficientDataError):
    return exc_type
