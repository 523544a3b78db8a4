"""``synthgen stress``: write a stress suite of a base dataset (real or synthetic) in its own format."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import plain
from ..errors import ConfigError
from ..io.common import dumps, write_bytes_atomic
from .suite import build_suite, drop_not_applicable, parse_suite, suite_size

SUITE_SCHEMA = "synthgen/stress-suite"
SUITE_SCHEMA_VERSION = 1


def _seed(cfg) -> int:
    try:
        return int(cfg.get("seed", 0))
    except (TypeError, ValueError):
        raise ConfigError(f"seed: must be an integer, got {cfg.get('seed')!r}") from None


def load_base(cfg):
    """The base dataset: ``base.path`` (any written dataset, e.g. a run's synthetic/) or the ``dataset`` group."""
    from ..pipeline import load_dataset, read_any

    base = cfg.get("base") or {}
    if base.get("path"):
        ds = read_any(str(base["path"]), base.get("format", "auto"), "base.path")
        ds.require_nonempty()
        return ds
    ds, _ = load_dataset(cfg.get("dataset"))
    return ds


def stress_job(cfg, out_dir: Path) -> dict[str, Any]:
    from tqdm import tqdm

    from ..generate import write_dataset

    seed = _seed(cfg)
    ds = load_base(cfg)
    settings, entries = parse_suite(cfg.get("stress"), ds.modality)
    entries = drop_not_applicable(ds, settings, entries)
    n_base, total = suite_size(ds, settings, entries, seed)
    with tqdm(total=total, desc="stress", unit="sample", disable=None, file=sys.stderr) as bar:
        samples = build_suite(ds, settings, entries, seed, progress=bar.update)
    requested = (cfg.get("output") or {}).get("format", "auto")
    if requested == "auto" and ds.modality == "points" and len({len(s.data) for s in samples}) > 1:
        requested = "ply"  # dropout/upsampling corruptions change point counts: one file per cloud keeps them
    fmt = write_dataset(samples, ds, out_dir / "suite", requested, output=cfg.get("output"))
    info = {
        "schema": SUITE_SCHEMA, "schema_version": SUITE_SCHEMA_VERSION, "synthgen_version": __version__,
        "name": settings["name"], "benchmark": settings["benchmark"], "baseline": settings["baseline"],
        "modality": ds.modality, "task": ds.task, "format": fmt, "seed": seed, "base": ds.source,
        "n_base": n_base, "n_samples": len(samples), "include_clean": settings["include_clean"],
        "classes": list(ds.classes), "corruptions": [e.to_dict() for e in entries],
    }
    if "language" in settings:  # text suites: the language and the English-only corruptions left out
        info["language"] = settings["language_detected"]
        info["not_applicable"] = settings["not_applicable"]
    write_bytes_atomic(out_dir / "suite.json", (json.dumps(json.loads(dumps(info)), indent=2, sort_keys=True) + "\n").encode())
    w = max([10] + [len(e.corruption.name) for e in entries] + [len(n) for n in settings.get("not_applicable") or {}])
    print(f"{'corruption':<{w}}  {'benchmark':<18}  {'expect':<11}  severities  samples", flush=True)
    for e in entries:
        print(f"{e.corruption.name:<{w}}  {e.corruption.benchmark:<18}  {e.expect:<11}  {','.join(map(str, e.severities)):<10}  {n_base * len(e.severities)}", flush=True)
    for name, why in (settings.get("not_applicable") or {}).items():
        print(f"{name:<{w}}  n/a: {why}", flush=True)
    print(f"suite: {out_dir / 'suite'} ({len(samples)} samples from {n_base} base samples, {fmt})", flush=True)
    return {"suite": str(out_dir / "suite"), "n_samples": len(samples), "n_base": n_base, "format": fmt, "info": plain(info)}
