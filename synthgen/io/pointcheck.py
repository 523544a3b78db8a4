"""Checks on PLY and PCD files before open3d reads them, and a trap for open3d's console output.

open3d allocates whatever point count a header claims and reports a failed read only on the console
(RPly's ``RPly: ...`` lines on stderr, ``[Open3D WARNING] Read PLY failed`` on stdout), handing back
the uninitialised buffer.  So the header is parsed here first and checked against the file size, and
the read runs inside :func:`console_captured`, whose lines become the gist of a one-line error.
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import re
import struct
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import DatasetError

MAX_HEADER = 1 << 16
PLY_FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")
PLY_SIZES = {"char": 1, "int8": 1, "uchar": 1, "uint8": 1, "short": 2, "int16": 2, "ushort": 2, "uint16": 2,
             "int": 4, "int32": 4, "uint": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}
PCD_SIZES = {"F": (4, 8), "I": (1, 2, 4, 8), "U": (1, 2, 4, 8)}  # the TYPE/SIZE pairs open3d reads
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _header(path: Path, last: str) -> tuple[list[str], int]:
    """The header lines up to the one starting with ``last`` and the byte offset where data begins."""
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER)
    lines, offset = [], 0
    for raw in head.splitlines(keepends=True):
        offset += len(raw)
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise DatasetError(f"{path}: header line {len(lines) + 1} is not ASCII text (corrupt file)") from None
        lines.append(line)
        if line.split(" ")[0] == last:
            return lines, offset
    raise DatasetError(f"{path}: no '{last}' line in the first {MAX_HEADER // 1024} KiB (truncated or not a point file)")


def _data_lines(path: Path, offset: int, need: int) -> int:
    """How many non-empty lines follow ``offset`` (counting stops at ``need``)."""
    n = 0
    with open(path, "rb") as f:
        f.seek(offset)
        for line in f:
            n += bool(line.strip())
            if n >= need:
                break
    return n


def _check_data(path: Path, offset: int, what: str, lines: int | None = None, nbytes: int | None = None) -> None:
    """At least ``lines`` non-empty text lines (ascii) or ``nbytes`` bytes (binary) must follow ``offset``."""
    if lines is not None:
        found = _data_lines(path, offset, lines)
        if found < lines:
            raise DatasetError(f"{path}: header declares {what} ({lines} lines) but only {found} data lines follow "
                               "(truncated or corrupt)")
        return
    have = os.path.getsize(path) - offset
    if nbytes > have:
        raise DatasetError(f"{path}: header declares {what} ({nbytes} bytes) but only {have} bytes of data follow "
                           "(truncated or corrupt)")


def check_ply(path: Path) -> int:
    """Parse a PLY header and check it against the file; returns the vertex count."""
    lines, offset = _header(path, "end_header")
    if lines[0] != "ply":
        raise DatasetError(f"{path}: not a PLY file (it does not start with 'ply')")
    fmt, elements = None, []  # elements: [name, count, bytes per row (at least), property names]
    for n, line in enumerate(lines[1:-1], 2):
        w = line.split()
        if not w or w[0] in ("comment", "obj_info"):
            continue
        if w[0] == "format" and len(w) == 3 and w[1] in PLY_FORMATS:
            fmt = w[1]
        elif w[0] == "element" and len(w) == 3 and w[2].isdigit():
            elements.append([w[1], int(w[2]), 0, []])
        elif w[0] == "property" and elements and len(w) == 3 and w[1] in PLY_SIZES:
            elements[-1][2] += PLY_SIZES[w[1]]
            elements[-1][3].append(w[2])
        elif w[0] == "property" and elements and len(w) == 5 and w[1] == "list" and w[2] in PLY_SIZES and w[3] in PLY_SIZES:
            elements[-1][2] += PLY_SIZES[w[2]]  # the list length; its items may be none
            elements[-1][3].append(w[4])
        else:
            raise DatasetError(f"{path}: header line {n} is not valid PLY: {line[:60]!r}")
    if fmt is None:
        raise DatasetError(f"{path}: PLY header has no 'format ascii|binary_little_endian|binary_big_endian 1.0' line")
    vertex = next((e for e in elements if e[0] == "vertex"), None)
    if vertex is None:
        raise DatasetError(f"{path}: PLY header has no 'element vertex' (no points)")
    missing = [c for c in "xyz" if c not in vertex[3]]
    if missing:
        raise DatasetError(f"{path}: vertex element has no {', '.join(missing)} property (points need x, y and z)")
    if vertex[1] == 0:
        raise DatasetError(f"{path}: header declares 0 points")
    what = f"{vertex[1]} vertices"
    if fmt == "ascii":
        _check_data(path, offset, what, lines=sum(e[1] for e in elements))
    else:
        _check_data(path, offset, what, nbytes=sum(e[1] * e[2] for e in elements))
    return vertex[1]


def check_pcd(path: Path) -> int:
    """Parse a PCD header and check it against the file; returns the point count."""
    lines, offset = _header(path, "DATA")
    keys: dict[str, list[str]] = {}
    for line in lines:
        w = line.split()
        if w and not w[0].startswith("#"):
            keys[w[0].upper()] = w[1:]
    fields = keys.get("FIELDS", [])
    missing = [c for c in "xyz" if c not in fields]
    if missing:
        raise DatasetError(f"{path}: PCD FIELDS has no {', '.join(missing)} (points need x, y and z)")
    try:
        sizes = [int(v) for v in keys["SIZE"]]
        types = keys["TYPE"]
        counts = [int(v) for v in keys.get("COUNT", ["1"] * len(fields))]
        points = int(keys["POINTS"][0]) if "POINTS" in keys else int(keys["WIDTH"][0]) * int(keys["HEIGHT"][0])
        data = keys["DATA"][0].lower()
    except (KeyError, IndexError, ValueError):
        raise DatasetError(f"{path}: PCD header needs FIELDS, SIZE, TYPE, POINTS (or WIDTH and HEIGHT) and DATA") from None
    if len(sizes) != len(fields) or len(types) != len(fields) or len(counts) != len(fields) or min(counts) < 1 or points < 0:
        raise DatasetError(f"{path}: PCD header needs one SIZE, TYPE and positive COUNT per field")
    bad = next((f"{f} ({t}{s})" for f, t, s in zip(fields, types, sizes) if s not in PCD_SIZES.get(t, ())), None)
    if bad:
        raise DatasetError(f"{path}: PCD field {bad} has an unsupported TYPE/SIZE (F4, F8, I1-I8 or U1-U8)")
    if points == 0:
        raise DatasetError(f"{path}: header declares 0 points")
    row = sum(s * c for s, c in zip(sizes, counts))
    if data == "binary_compressed":
        with open(path, "rb") as f:
            f.seek(offset)
            sizes_raw = f.read(8)
        if len(sizes_raw) < 8:
            raise DatasetError(f"{path}: compressed PCD data is missing (truncated)")
        packed, unpacked = struct.unpack("<II", sizes_raw)
        have = os.path.getsize(path) - offset - 8
        if unpacked != points * row or packed > have:
            raise DatasetError(f"{path}: compressed PCD data ({packed} of {have} bytes, {unpacked} unpacked) does not match "
                               f"{points} points of {row} bytes (truncated or corrupt)")
    elif data == "ascii":
        _check_data(path, offset, f"{points} points", lines=points)
    elif data == "binary":
        _check_data(path, offset, f"{points} points", nbytes=points * row)
    else:
        raise DatasetError(f"{path}: unknown PCD DATA {data!r} (ascii, binary or binary_compressed)")
    return points


def gist(message: str) -> str:
    """The first line of an open3d message without colour codes and C++ source locations."""
    line = (_ANSI.sub("", message).strip().splitlines() or [""])[0]
    return re.sub(r"\(.*?\) \S+\.cpp:\d+:\s*|^\S+\.cpp:\d+:\s*", "", line)


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (what C/C++ code printed) before the descriptors move back."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, TypeError):  # no handle on the process's C library (Windows): skip the flush
        pass


@contextlib.contextmanager
def console_captured() -> Iterator[list[str]]:
    """Keep what open3d prints off the terminal: file descriptors 1 and 2 (C/C++ code) go to a
    temporary file and ``sys.stdout``/``sys.stderr`` (open3d's Python logger) to a buffer; the yielded
    list receives the non-empty lines (see :func:`gist`) on exit.

    The redirection is process-wide while it lasts: output of other threads is caught too.
    """
    lines: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    py = io.StringIO()
    try:
        with tempfile.TemporaryFile() as tmp, contextlib.redirect_stdout(py), contextlib.redirect_stderr(py):
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            try:
                yield lines
            finally:
                _flush_c_stdio()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                tmp.seek(0)
                text = tmp.read().decode("utf-8", "replace") + py.getvalue()
                lines.extend(gist(line) for line in text.splitlines() if line.strip())
    finally:
        os.close(saved[0])
        os.close(saved[1])
