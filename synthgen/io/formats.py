"""The format registry: every on-disk format synthgen reads or writes, by name.

Each format is also an option of the Hydra config group ``output`` (``conf/output/<name>.yaml``: the
``format`` it selects and its writer's options under ``output.<name>``); :func:`writer_option_keys`
reads the options from there, and a test keeps the group and :data:`FORMATS` the same set.

Readers take a path and return a :class:`synthgen.dataset.Dataset`; writers take
``(samples, classes, out, **options)`` and write ``out`` atomically with a ``manifest.jsonl``.
Modules are imported lazily, so a format whose optional dependency is missing only fails when used.
"""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, DatasetError


@dataclass(frozen=True)
class Format:
    name: str
    modality: str
    module: str
    reader: str
    writer: str
    detect: Callable[[Path], bool]

    def _fn(self, attr: str):
        try:
            mod = importlib.import_module(self.module)
        except ImportError as e:
            raise ConfigError(f"format '{self.name}': cannot import {self.module} ({e})") from None
        return getattr(mod, attr)

    def read(self, path: str, **kw):
        return self._fn(self.reader)(path, **kw)

    def write(self, samples, classes, out, **kw):
        return self._fn(self.writer)(samples, classes, out, **kw)


def _has(*names: str) -> Callable[[Path], bool]:
    return lambda p: any((p / n).exists() for n in names) or p.name in names


FORMATS: dict[str, Format] = {
    "coco": Format("coco", "image", "synthgen.io.coco", "read_coco", "write_coco",
                   lambda p: (p / "annotations.json").exists() or p.suffix == ".json"),
    "jsonl": Format("jsonl", "text", "synthgen.io.jsonl", "read_jsonl", "write_jsonl",
                    lambda p: p.suffix == ".jsonl" and p.name != "manifest.jsonl" or (p / "data.jsonl").exists()),
    "kitti": Format("kitti", "points", "synthgen.io.kitti", "read_kitti", "write_kitti", _has("velodyne")),
    "npz": Format("npz", "points", "synthgen.io.npz", "read_npz", "write_npz",
                  lambda p: p.suffix == ".npz" or (p / "points.npz").exists()),
    "ply": Format("ply", "points", "synthgen.io.ply", "read_ply", "write_ply",
                  lambda p: p.is_dir() and any(p.glob("*/*.ply"))),
    "pcd": Format("pcd", "points", "synthgen.io.ply", "read_pcd", "write_pcd",
                  lambda p: p.is_dir() and any(p.glob("*/*.pcd"))),
    "yolo": Format("yolo", "image", "synthgen.io.yolo", "read_yolo", "write_yolo", lambda p: (p / "data.yaml").exists()),
    "imagefolder": Format("imagefolder", "image", "synthgen.io.imagefolder", "read_imagefolder", "write_imagefolder",
                          lambda p: p.is_dir()),
}

# default output format per (modality, task)
DEFAULT_OUTPUT = {
    ("image", "classification"): "imagefolder",
    ("image", "detection"): "coco",
    ("image", "segmentation"): "coco",
    ("image", "keypoints"): "coco",
    ("text", "classification"): "jsonl",
    ("text", "ner"): "jsonl",
    ("points", "classification"): "npz",
    ("points", "segmentation"): "ply",
    ("points", "detection"): "kitti",
}


def get(name: str, key: str = "format") -> Format:
    if name not in FORMATS:
        raise ConfigError(f"{key}: unknown format {name!r} (known: {', '.join(FORMATS)})")
    return FORMATS[name]


def detect(path: str | Path) -> Format:
    p = Path(path)
    for f in FORMATS.values():  # ordered: specific formats before the imagefolder fallback
        try:
            if f.detect(p):
                return f
        except OSError:
            continue
    raise DatasetError(f"{p}: cannot tell the dataset format; set the format explicitly")


def output_format(modality: str, task: str, requested: str = "auto", key: str = "output.format") -> Format:
    if requested and requested != "auto":
        f = get(requested, key)
        if f.modality != modality:
            raise ConfigError(f"{key}: format '{requested}' holds {f.modality} data, not {modality}")
        return f
    name = DEFAULT_OUTPUT.get((modality, task)) or DEFAULT_OUTPUT.get((modality, "classification"))
    if name is None:
        raise ConfigError(f"{key}: no default format for {modality}/{task}; set one explicitly")
    return get(name, key)


@functools.lru_cache(maxsize=None)
def writer_option_keys(name: str) -> tuple[str, ...]:
    """The writer options a format takes: the keys of the ``<name>:`` block of ``conf/output/<name>.yaml``."""
    import yaml

    import synthgen.conf

    path = Path(synthgen.conf.__file__).parent / "output" / f"{name}.yaml"
    if not path.is_file():
        return ()
    block = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(name)
    return tuple(block) if isinstance(block, dict) else ()

