"""The jobs behind the CLI commands: plan -> generate -> validate -> report -> merge.

Each ``*_job(cfg, out_dir)`` takes a composed Hydra config and the run folder and returns a small
summary dict (used by tests).  Errors are :class:`synthgen.errors.SynthgenError` with one-line
messages; the CLI turns them into exit code 2 and removes what the run wrote.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .config import build, plain
from .dataset import Dataset
from .errors import ConfigError, DatasetError, InsufficientDataError
from .generate import generate, write_dataset
from .plan import Plan, make_plan, shard_indices
from .validate import validate_and_report

log = logging.getLogger("synthgen")


def _echo(msg: str = "") -> None:
    print(msg, flush=True)


# --- datasets -----------------------------------------------------------------------------------

def _parse_keep(keep: Any, key: str) -> dict[str, int]:
    """``{"3": 40}`` or ``["3:40", ...]`` -> ``{"3": 40}``; bad entries name the key."""
    items = keep.items() if isinstance(keep, dict) else [str(e).rsplit(":", 1) if ":" in str(e) else (e, None) for e in keep]
    out = {}
    for label, n in items:
        try:
            n = int(n)
            if n < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: entry for class '{label}' needs a positive count (class:count), got {n!r}") from None
        out[str(label)] = n
    return out


def load_dataset(node: Any, key: str = "dataset") -> tuple[Dataset, Dataset | None]:
    """Instantiate the dataset reader and apply the optional long-tail cut.

    Returns ``(train, reference)``: ``reference`` holds the real samples cut away by
    ``longtail.keep`` when ``longtail.holdout`` is true (used as the validation reference, never as
    parents and never merged), else ``None``.
    """
    if node is None:
        raise ConfigError(f"{key}: missing (choose one, e.g. {key}=digits)")
    cfg = plain(node)
    longtail = cfg.pop("longtail", None)
    from omegaconf import OmegaConf

    ds = build(OmegaConf.create(cfg), key)
    if not isinstance(ds, Dataset):
        raise ConfigError(f"{key}._target_: must return a synthgen Dataset, got {type(ds).__name__}")
    ds.require_nonempty()
    for label, n in ds.counts().items():
        if n == 0:
            raise DatasetError(f"{ds.source}: class '{label}' has no samples")
    if not longtail or not longtail.get("keep"):
        return ds, None
    cut = _parse_keep(longtail["keep"], f"{key}.longtail.keep")
    rng = np.random.default_rng(int(longtail.get("seed", 0)))
    kept, held = [], []
    for label in cut:
        ds.check_class(label, f"{key}.longtail.keep")
    for label in ds.classes:
        members = [s for s in ds.samples if s.label == label]
        if label in cut:
            order = rng.permutation(len(members))
            keep_idx = set(order[: cut[label]].tolist())
            kept.extend(s for i, s in enumerate(members) if i in keep_idx)
            held.extend(s for i, s in enumerate(members) if i not in keep_idx)
        else:
            kept.extend(members)
    order = {id(s): i for i, s in enumerate(ds.samples)}
    kept.sort(key=lambda s: order[id(s)])
    train = ds.subset(kept)
    train.info["longtail"] = {"keep": cut, "holdout": bool(longtail.get("holdout", True))}
    reference = ds.subset(held) if longtail.get("holdout", True) else None
    return train, reference


def read_any(path: str, fmt: str = "auto", key: str = "synthetic.path") -> Dataset:
    """Read a dataset of any registered format (``auto``: detect it from the files)."""
    from .io import formats

    p = Path(str(path)).expanduser()
    if not p.exists():
        raise DatasetError(f"{p}: {key} does not exist")
    f = formats.detect(p) if fmt == "auto" else formats.get(fmt, f"{key.rsplit('.', 1)[0]}.format")
    return f.read(str(p))


# --- planning -----------------------------------------------------------------------------------

def plan_for(cfg: Any, train: Dataset) -> Plan:
    p = plain(cfg.get("policy") or {})
    allowed = {"target", "max_synthetic_fraction", "classes", "min_real", "rare_below"}
    for k in p:
        if k not in allowed:
            raise ConfigError(f"policy.{k}: unknown key (allowed: {', '.join(sorted(allowed))})")
    plan = make_plan(train.counts(), p.get("target", "max"), p.get("max_synthetic_fraction", 0.9),
                     p.get("classes"), p.get("min_real", 1))
    rare_below = p.get("rare_below")
    if rare_below is not None and p.get("classes") is None:
        from dataclasses import replace

        rows = tuple(r if r.real < float(rare_below) * r.target else replace(r, synthetic=0, note=f"not rare (>= {rare_below:g} x target)")
                     for r in plan.rows)
        plan = Plan(rows, {**plan.policy, "rare_below": rare_below})
    return plan


# --- jobs ---------------------------------------------------------------------------------------

def _seed(cfg) -> int:
    try:
        return int(cfg.seed)
    except (TypeError, ValueError):
        raise ConfigError(f"seed: must be an integer, got {cfg.get('seed')!r}") from None


def plan_job(cfg, out_dir: Path) -> dict[str, Any]:
    train, _ = load_dataset(cfg.get("dataset"))
    plan = plan_for(cfg, train)
    _echo(plan.table())
    (out_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n")
    return {"plan": plan.to_dict()}


def run_job(cfg, out_dir: Path) -> dict[str, Any]:
    seed = _seed(cfg)
    shard = cfg.get("shard")
    shard_indices(1, shard)  # validate early
    train, reference = load_dataset(cfg.get("dataset"))
    plan = plan_for(cfg, train)
    generator = build(cfg.get("generator"), "generator")
    if getattr(generator, "modality", train.modality) != train.modality:
        raise ConfigError(f"generator: makes {generator.modality} samples but dataset {train.source} holds {train.modality}")
    _echo(plan.table())
    if plan.total == 0:
        _echo("nothing to generate: every class meets the policy")
    generator.fit(train)
    synthetic = generate(generator, plan, seed, shard)
    fmt = write_dataset(synthetic, train, out_dir / "synthetic", (cfg.get("output") or {}).get("format", "auto"))
    (out_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n")
    summary: dict[str, Any] = {"plan": plan.to_dict(), "n_synthetic": len(synthetic), "synthetic": str(out_dir / "synthetic"), "format": fmt}
    if shard:
        _echo(f"shard {shard}: wrote {len(synthetic)} samples to {out_dir / 'synthetic'} (validate and merge after collecting shards)")
        return summary
    if not synthetic:
        return summary
    ref = reference if reference is not None else train
    run_info = {"command": "run", "seed": seed, "generator": generator.target, "generator_version": generator.version,
                "generator_config_digest": generator.config_digest, "dataset": train.source,
                "reference": "held-out real samples (dataset.longtail.holdout)" if reference is not None else "real training samples",
                "synthgen_version": __version__}
    report = validate_and_report(cfg, out_dir, ref, synthetic, run_info, plan)
    summary["report"] = report
    _echo(f"report: {out_dir / 'report.html'}")
    m = cfg.get("merge") or {}
    if m.get("into"):
        from .merge import merge

        res = merge(m["into"], train, synthetic, report, report_path=str(out_dir / "report.json"),
                    force=bool(m.get("force", False)), reason=m.get("reason"), fmt=m.get("format", "auto"))
        summary["merge"] = res
        _print_merge(res)
    return summary


def _print_merge(res: dict[str, Any]) -> None:
    added = ", ".join(f"{k}: {v}" for k, v in res["added"].items()) or "nothing new"
    state = "new version" if res.get("new_version") else "unchanged, still"
    _echo(f"training set: {res['into']} ({state} {res['version']}; added {added})")
    if res["left_out"]:
        _echo("left out (failed the gate): " + ", ".join(f"{k} ({v})" for k, v in res["left_out"].items()))


def validate_job(cfg, out_dir: Path) -> dict[str, Any]:
    seed = _seed(cfg)
    syn_cfg = cfg.get("synthetic") or {}
    if not syn_cfg.get("path"):
        raise ConfigError("synthetic.path: missing (the synthetic dataset to validate)")
    train, reference = load_dataset(cfg.get("dataset"))
    ref = reference if reference is not None else train
    syn = read_any(syn_cfg["path"], syn_cfg.get("format", "auto"))
    for s in syn.samples:
        if s.label not in ref.classes:
            raise DatasetError(f"{syn.source}: sample {s.id} has class '{s.label}', which is not in the real dataset {ref.source}")
    run_info = {"command": "validate", "seed": seed, "generator": None, "dataset": ref.source, "synthetic": syn.source,
                "synthgen_version": __version__}
    report = validate_and_report(cfg, out_dir, ref, syn.samples, run_info, None)
    _echo(f"report: {out_dir / 'report.html'}")
    return {"report": report}


def merge_job(cfg, out_dir: Path) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from .merge import merge

    if not cfg.get("run_dir"):
        raise ConfigError("run_dir: missing (the folder of a finished `synthgen run`)")
    run_dir = Path(str(cfg.run_dir)).expanduser()
    for need in (".hydra/config.yaml", "report.json", "synthetic"):
        if not (run_dir / need).exists():
            raise DatasetError(f"{run_dir / need}: not found (run_dir must be a finished synthgen run)")
    m = cfg.get("merge") or {}
    if not m.get("into"):
        raise ConfigError("merge.into: missing (the training-set folder to write)")
    run_cfg = OmegaConf.load(run_dir / ".hydra/config.yaml")
    train, _ = load_dataset(run_cfg.get("dataset"), "dataset")
    syn = read_any(str(run_dir / "synthetic"), "auto", "run_dir")
    report = json.loads((run_dir / "report.json").read_text())
    res = merge(m["into"], train, syn.samples, report, report_path=str(run_dir / "report.json"),
                force=bool(m.get("force", False)), reason=m.get("reason"), fmt=m.get("format", "auto"))
    _print_merge(res)
    return {"merge": res}


JOBS: dict[str, Any] = {
    "run": run_job,
    "plan": plan_job,
    "validate": validate_job,
    "merge": merge_job,
    # later commands live in their own modules, imported when used
    "stress": "synthgen.stress:stress_job",
    "evaluate": "synthgen.evaluate:evaluate_job",
}


def get_job(command: str):
    job = JOBS[command]
    if isinstance(job, str):
        import importlib

        mod, fn = job.split(":")
        job = getattr(importlib.import_module(mod), fn)
    return job
