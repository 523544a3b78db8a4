"""Seeded random corruption of every readable format: a read either succeeds or raises one
DatasetError line, prints nothing (open3d's console output included), and never writes anything
or changes its input.

Each format gets a small valid dataset from synthgen's own writers; each case mutates one of its files
(truncate at a random offset, flip bytes, poke ASCII characters that keep text decodable, duplicate
or delete a line), reads, checks, and restores the file.
"""
from __future__ import annotations

import hashlib
import os
import random
import traceback
from pathlib import Path

import pytest

from synthgen.errors import DatasetError

from .reader_datasets import FORMATS, build, read

CASES_PER_FORMAT = 200  # seeded truncations, byte flips and line edits per format
POKE = b'0123456789-+.eE,:;"{}[]() \\/nNaIifu'


def _snapshot(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` with a hash of its bytes."""
    out = {}
    for d, dirs, files in os.walk(root):
        out.update({os.path.join(d, x) + "/": "" for x in dirs})
        out.update({os.path.join(d, x): hashlib.sha256(Path(d, x).read_bytes()).hexdigest() for x in files})
    return out


def _mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random corruption of ``data`` and its description."""
    op = rng.choice(["truncate", "flip", "poke", "dup_line", "del_line"])
    if not data:
        return b"x", "fill"
    if op == "truncate":
        at = rng.randrange(len(data))
        return data[:at], f"truncate at {at}"
    if op in ("flip", "poke"):
        buf = bytearray(data)
        spots = [rng.randrange(len(buf)) for _ in range(rng.randint(1, 4))]
        for i in spots:
            buf[i] = buf[i] ^ rng.randrange(1, 256) if op == "flip" else rng.choice(POKE)
        return bytes(buf), f"{op} at {spots}"
    lines = data.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    if op == "dup_line":
        return b"".join(lines[: i + 1] + lines[i:]), f"duplicate line {i + 1}"
    return b"".join(lines[:i] + lines[i + 1:]), f"delete line {i + 1}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_corrupt_input_is_read_or_refused_in_one_line(tmp_path, capfd, fmt):
    path = build(fmt, tmp_path / "data")
    files = sorted(p for p in (tmp_path / "data").rglob("*") if p.is_file())
    failures = []
    for case in range(CASES_PER_FORMAT):
        seed = FORMATS.index(fmt) * 1000 + case
        rng = random.Random(seed)
        target = rng.choice(files)
        original = target.read_bytes()
        mutated, what = _mutate(original, rng)
        target.write_bytes(mutated)
        before = _snapshot(tmp_path)
        where = f"seed {seed}: {what} of {target.relative_to(tmp_path)}"
        try:
            read(fmt, path)
        except DatasetError as e:
            msg = str(e)
            if not msg or "\n" in msg:
                failures.append(f"{where}: DatasetError is not one line: {msg!r}")
        except Exception as e:  # noqa: BLE001 - any other type is the failure this test looks for
            frame = traceback.extract_tb(e.__traceback__)[-1]
            failures.append(f"{where}: {type(e).__name__}: {e} (at {frame.filename}:{frame.lineno})")
        if _snapshot(tmp_path) != before:
            failures.append(f"{where}: the read changed files under {tmp_path}")
        printed = capfd.readouterr()
        if printed.out or printed.err:
            failures.append(f"{where}: the read printed {(printed.out + printed.err)[:200]!r}")
        target.write_bytes(original)
    assert not failures, f"{len(failures)} of {CASES_PER_FORMAT} corruptions misbehaved:\n" + "\n".join(failures)
