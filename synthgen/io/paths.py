"""Path safety, the one layer every reader and writer uses: a folder name per class label, joins that
cannot leave their root, and reads that stay inside the dataset.

Class names and sample ids come from data (COCO category names, manifest labels, KITTI object
types), so a label such as ``../../x``, ``/etc/x`` or ``a\\x00b`` must never become a path outside the
dataset folder.  Writers name class folders with :func:`class_dirs` (or :func:`class_dir` for a label
first met while streaming) and build every final path with :func:`safe_join`.  The exact label stays
in ``manifest.jsonl``; folder names are only names.  Readers check every file they open with
:func:`inside_root`, which refuses names that leave the dataset and symbolic links out of it
(unless ``follow_symlinks``).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..errors import DatasetError
from .common import safe_name

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")
_ENCODED = re.compile(r".*-[0-9a-f]{8}", re.IGNORECASE)
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
# names a dataset root already holds, or that format detection (synthgen.io.formats) looks for
_LAYOUT = {"manifest.jsonl", "merge.json", "annotations.json", "data.yaml", "data.jsonl", "classes.json", "points.npz", "velodyne"}


def _plain(label: str) -> bool:
    """A name that is safe as a folder on Linux, macOS and Windows, is no file or marker of a dataset
    layout, and cannot be mistaken for an encoded one (those end in ``-`` and 8 hex digits)."""
    return (bool(_PLAIN.fullmatch(label)) and not label.endswith(".") and not _ENCODED.fullmatch(label)
            and label.split(".")[0].upper() not in _RESERVED and label.casefold() not in _LAYOUT)


def encoded_dir(label: str) -> str:
    """``<readable part>-<8 hex digits of blake2b(label)>``: starts with a letter or digit, at most 69 characters."""
    tag = hashlib.blake2b(label.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{safe_name(label).lstrip('._-')[:60] or 'class'}-{tag}"


def class_dirs(labels) -> dict[str, str]:
    """A folder name per label, the same whatever the order of ``labels``.

    A plain name (letters, digits, ``._-``; not a Windows device name, nor a layout name such as
    ``manifest.jsonl`` or ``velodyne``) that no other label equals case-insensitively keeps its own
    name, so ordinary ImageFolder datasets look as torchvision expects; every other label gets
    :func:`encoded_dir`.  No two labels share a folder, even on a
    case-insensitive file system: plain names never look encoded, and encoded names differ by hash
    (a 32-bit hash clash between two same-looking labels is refused rather than merged).
    """
    labels = sorted(set(labels))
    folds: dict[str, int] = {}
    for label in labels:
        folds[label.casefold()] = folds.get(label.casefold(), 0) + 1
    dirs = {label: label if _plain(label) and folds[label.casefold()] == 1 else encoded_dir(label) for label in labels}
    _check_unique(dirs)
    return dirs


def class_dir(dirs: dict[str, str], label: str) -> str:
    """The folder of ``label``, adding a label not yet in ``dirs`` (from :func:`class_dirs`): it keeps
    its plain name when no folder in ``dirs`` has it case-insensitively, else gets the encoded name."""
    if label not in dirs:
        taken = {d.casefold() for d in dirs.values()} | {k.casefold() for k in dirs}
        dirs[label] = label if _plain(label) and label.casefold() not in taken else encoded_dir(label)
        _check_unique(dirs)
    return dirs[label]


def _check_unique(dirs: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for label, d in sorted(dirs.items()):
        other = seen.setdefault(d.casefold(), label)
        if other != label:
            raise DatasetError(f"class names {other!r} and {label!r} map to the same folder {d!r}; rename one of them")


def safe_join(root: str | os.PathLike, *parts: str | os.PathLike) -> Path:
    """``root / parts``, resolved (symlinks followed), or a DatasetError unless it lies strictly inside
    the resolved ``root``.  NUL bytes, absolute parts and ``..`` components are refused outright."""
    base = os.path.realpath(root)
    joined = os.path.join(str(root), *(str(p) for p in parts))
    for p in map(str, parts):
        if "\x00" in p or PurePosixPath(p).is_absolute() or PureWindowsPath(p).anchor or ".." in re.split(r"[\\/]", p):
            raise DatasetError(f"{joined!r}: unsafe path part {p!r} (absolute, '..' or NUL would leave {str(root)!r})")
    path = os.path.realpath(joined)
    if path == base or os.path.commonpath([base, path]) != base:
        raise DatasetError(f"{joined!r}: resolves to {path!r}, which is not inside {base!r}")
    return Path(path)


def inside_root(root: str | Path, path: str | Path, follow_symlinks: bool = False) -> Path:
    """``path`` when it lies inside the dataset folder ``root``, else a DatasetError naming it.

    A name taken from the data (``..``, an absolute path) may never leave ``root``; a symbolic link
    that leads out of it is refused unless ``follow_symlinks``, so a link cannot smuggle files from
    elsewhere on the machine into a training set.
    """
    root, path = Path(root), Path(path)
    base = os.path.abspath(root)
    try:
        lexical = os.path.abspath(path)
        real_base = os.path.realpath(root)
        real = os.path.realpath(path)
    except ValueError:  # an embedded NUL byte
        raise DatasetError(f"{path!r}: not a valid file name") from None
    if os.path.commonpath([base, lexical]) != base:
        raise DatasetError(f"{path}: lies outside the dataset folder {root}")
    if follow_symlinks or os.path.commonpath([real_base, real]) == real_base:
        return path
    link, cur = path, Path(root)
    for part in Path(os.path.relpath(lexical, base)).parts:
        cur = cur / part
        if cur.is_symlink() and os.path.commonpath([real_base, os.path.realpath(cur)]) != real_base:
            link = cur
            break
    raise DatasetError(f"{link}: symbolic link to {os.path.realpath(link)} leads outside the dataset folder {root} "
                       "(set follow_symlinks=true to read it)")
