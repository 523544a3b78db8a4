"""The jobs behind the CLI commands: plan -> generate -> validate -> report -> merge.

Each ``*_job(cfg, out_dir)`` takes a composed Hydra config and the run folder and returns a small
summary dict (used by tests).  Errors are :class:`synthgen.errors.SynthgenError` with one-line
messages; the CLI turns them into exit code 2 and removes what the run wrote.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .config import build, load_run_config, plain
from .dataset import Dataset
from .errors import ConfigError, DatasetError
from .faults import checkpoint
from .generate import write_dataset
from .plan import Plan, make_plan, shard_indices
from .sample import Sample
from .validate import validate_and_report

log = logging.getLogger("synthgen")


def _echo(msg: str = "") -> None:
    print(msg, flush=True)


def shown(path: Any) -> str:
    """A path as the user should see it: relative to the working folder when it lies below it."""
    p = Path(str(path))
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


# --- datasets -----------------------------------------------------------------------------------

def _parse_keep(keep: Any, key: str) -> dict[str, int]:
    """``{"3": 40}``, ``["3:40", ...]`` or ``"3:40,5:40"`` -> ``{"3": 40}``; bad entries name the key."""
    if isinstance(keep, str):
        keep = [e.strip() for e in keep.split(",") if e.strip()]
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


def split_class(members: list[Sample], n_first: int, rng: np.random.Generator) -> tuple[list[Sample], list[Sample]]:
    """A random ``n_first`` of ``members`` and the rest (one ``rng.permutation``), each in their order."""
    first = set(rng.permutation(len(members))[:n_first].tolist())
    return [s for i, s in enumerate(members) if i in first], [s for i, s in enumerate(members) if i not in first]


def in_order(samples: list[Sample], ds: Dataset) -> list[Sample]:
    """``samples`` (a subset of ``ds``) in the dataset's own order."""
    order = {id(s): i for i, s in enumerate(ds.samples)}
    return sorted(samples, key=lambda s: order[id(s)])


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
    counts = ds.counts()
    for label, n in cut.items():
        ds.check_class(label, f"{key}.longtail.keep")
        if n > counts[label]:
            raise ConfigError(f"{key}.longtail.keep: class '{label}' has {counts[label]} samples in {ds.source}, cannot keep {n}")
    for label in ds.classes:
        members = [s for s in ds.samples if s.label == label]
        if label in cut:
            k, h = split_class(members, cut[label], rng)
            kept.extend(k)
            held.extend(h)
        else:
            kept.extend(members)
    train = ds.subset(in_order(kept, ds))
    train.info["longtail"] = {"keep": cut, "holdout": bool(longtail.get("holdout", True))}
    reference = ds.subset(held) if longtail.get("holdout", True) else None
    return train, reference


def read_any(path: str, fmt: str = "auto", key: str = "synthetic.path", lazy: bool = False) -> Dataset:
    """Read a dataset of any registered format (``auto``: detect it from the files).

    ``lazy``: for formats that support it (ImageFolder with a manifest), decode samples on access so
    memory stays flat however many there are.
    """
    from .io import formats

    p = Path(str(path)).expanduser()
    if not p.exists():
        raise DatasetError(f"{p}: {key} does not exist")
    f = formats.detect(p) if fmt == "auto" else formats.get(fmt, f"{key.rsplit('.', 1)[0]}.format")
    if lazy and f.name == "imagefolder" and (p / "manifest.jsonl").exists():
        return f.read(str(p), lazy=True)
    return f.read(str(p))


# --- planning -----------------------------------------------------------------------------------

def plan_for(cfg: Any, train: Dataset, guide: dict[str, Any] | None = None) -> Plan:
    """The plan of ``cfg.policy`` for ``train``; ``guide``: keyword arguments of
    :func:`synthgen.plan.model_guided` (the loop passes its refitted model and merged samples)."""
    p = plain(cfg.get("policy") or {})
    from .plan import GUIDED_KEYS

    allowed = {"target", "max_synthetic_fraction", "classes", "min_real", "rare_below", *GUIDED_KEYS}
    for k in p:
        if k not in allowed:
            raise ConfigError(f"policy.{k}: unknown key (allowed: {', '.join(sorted(allowed))})")
    guided = p.get("target") == "model"  # model-guided: the uniform plan at policy.fill, re-weighted
    plan = make_plan(train.counts(), (p.get("fill") or "max") if guided else p.get("target", "max"),
                     p.get("max_synthetic_fraction", 0.9), p.get("classes"), p.get("min_real", 1))
    rare_below = p.get("rare_below")
    if rare_below is not None and p.get("classes") is None:
        from dataclasses import replace

        rows = tuple(r if r.real < float(rare_below) * r.target else replace(r, synthetic=0, note=f"not rare (>= {rare_below:g} x target)")
                     for r in plan.rows)
        plan = Plan(rows, {**plan.policy, "rare_below": rare_below})
    if guided:
        from .plan import model_guided

        plan = model_guided(plan, cfg, train, **(guide or {}))
    return plan


# --- jobs ---------------------------------------------------------------------------------------

def plan_job(cfg, out_dir: Path) -> dict[str, Any]:
    train, _ = load_dataset(cfg.get("dataset"))
    plan = plan_for(cfg, train)
    _echo(plan.table())
    (out_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n")
    return {"plan": plan.to_dict()}


def _run_key(cfg, generator, plan: Plan, seed: int, shard: str | None, fmt: str) -> str:
    """What makes a run folder's samples what they are; a resume must match it."""
    from .config import digest
    from .generate import writer_options

    key = {"generator": generator.config_digest, "plan": plan.to_dict(), "seed": seed, "shard": shard,
           "format": fmt, "dataset": plain(cfg.get("dataset"))}
    options = writer_options(fmt, cfg.get("output"))
    if options:  # output.kitti: what the files hold (KITTI types, 2D boxes)
        key["writer"] = options
    return digest(key)


def produce(cfg, out_dir: Path, train: Dataset, plan: Plan, generator, seed: int,
            shard: str | None) -> tuple[Path | None, str, int, dict[str, str]]:
    """Generate the plan (or the shard's slice) into ``out_dir/synthetic``, resuming a killed run.

    Returns ``(folder, format name, samples generated in this call, {class: why})``; the last holds
    the classes the generator gave up on part-way (``InsufficientDataError``): their samples are not
    written and the caller marks them INCOMPUTABLE.  The folder is None when no class produced
    anything.  Nothing is regenerated when the folder is already complete for the same run key.
    """
    import shutil

    from .io.formats import output_format
    from .stream import STAGE, Stage, run_generation

    fmt = output_format(train.modality, train.task, (cfg.get("output") or {}).get("format", "auto")).name
    key = _run_key(cfg, generator, plan, seed, shard, fmt)
    synth_dir = out_dir / "synthetic"
    key_file = out_dir / ".synthetic.key"
    failed_file = out_dir / ".synthetic.incomputable.json"  # beside the key: what a complete run gave up on
    gave_up = json.loads(failed_file.read_text()) if failed_file.exists() else {"classes": {}, "written": True}
    if key_file.exists() and key_file.read_text().strip() == key and (synth_dir.exists() or not gave_up["written"]):
        failed = gave_up["classes"]
        _echo(f"synthetic data already complete in {shown(synth_dir)} (resumed run)")
        shutil.rmtree(out_dir / STAGE, ignore_errors=True)  # killed after the final rename
        return (synth_dir if synth_dir.exists() else None), fmt, 0, failed
    if synth_dir.exists():
        raise DatasetError(f"{synth_dir}: holds the output of a different run; use a new hydra.run.dir")
    for leftover in out_dir.glob(".synthetic.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    stage = Stage(out_dir)
    stage_key = stage.root / "run.key"
    if stage.root.exists() and (not stage_key.exists() or stage_key.read_text().strip() != key):
        raise DatasetError(f"{stage.root}: holds a partial run with another config; use a new hydra.run.dir")
    stage.open()
    stage_key.write_text(key + "\n")
    if stage.done:
        _echo(f"resuming: {len(stage.done)} samples already done")
    todo = [(r.label, r.synthetic, shard_indices(r.synthetic, shard)) for r in plan.rows if r.synthetic > 0]
    missing = sum(1 for label, _, idx in todo for i in idx if not stage.is_done(label, i))
    if missing:
        generator.fit(train)
    made, failed = run_generation(generator, todo, seed, stage, workers=int(cfg.get("workers", 1) or 1),
                                  chunk=int(cfg.get("chunk", 16) or 16))
    order = [(label, i) for label, _, idx in todo if label not in failed for i in idx]
    checkpoint("stage.before-final")
    failed_file.unlink(missing_ok=True)
    if failed:  # "written": false when no class is left, so no folder follows and the key alone marks the end
        failed_file.write_text(json.dumps({"classes": failed, "written": bool(order)}, indent=1, sort_keys=True) + "\n")
    key_file.write_text(key + "\n")  # before the rename: a complete folder always has its key
    if order:
        write_dataset(stage.iter_plan(order), train, synth_dir, fmt, output=cfg.get("output"))
    checkpoint("stage.after-final")
    stage.remove()
    return (synth_dir if order else None), fmt, made, failed


def incomputable(plan: Plan, failed: dict[str, str]) -> Plan:
    """The plan with each class in ``failed`` set to 0 samples and an ``INCOMPUTABLE: why`` note (the
    terminal line, the plan table, plan.json and the report all read it from there)."""
    import dataclasses

    rows = []
    for r in plan.rows:
        if r.label in failed and r.synthetic > 0:
            print(f"synthgen: class '{r.label}' is INCOMPUTABLE (nothing generated): {failed[r.label]}",
                  file=sys.stderr, flush=True)
            r = dataclasses.replace(r, synthetic=0, note=f"INCOMPUTABLE: {failed[r.label]}")
        rows.append(r)
    return dataclasses.replace(plan, rows=tuple(rows))


def run_job(cfg, out_dir: Path) -> dict[str, Any]:
    seed = int(cfg.seed)
    shard = cfg.get("shard")
    shard_indices(1, shard)  # validate early
    train, reference = load_dataset(cfg.get("dataset"))
    plan = plan_for(cfg, train)
    return run_planned(cfg, out_dir, train, reference, plan, seed, shard)


def probe_classes(generator, train: Dataset, plan: Plan, seed: int) -> Plan:
    """A class the generator cannot make a sample of becomes INCOMPUTABLE (0 to generate, the reason in
    its plan note, shown in the terminal and the report) instead of aborting the whole job.

    Asked only of generators that say trying one sample is cheap (``probe_classes = True``: the text
    generators); sample 0 of each planned class is made and dropped, so the plan, and with it the run
    key, is the same however often the run is resumed.
    """
    if not getattr(generator, "probe_classes", False) or plan.total == 0:
        return plan
    from .errors import InsufficientDataError

    generator.fit(train)
    failed = {}
    for r in plan.rows:
        if r.synthetic > 0:
            try:
                next(iter(generator.generate(r.label, r.synthetic, seed, indices=[0])))
            except InsufficientDataError as e:
                failed[r.label] = str(e).removeprefix(f"class '{r.label}': ")
    return incomputable(plan, failed)


def _none_generable(plan: Plan, shard: str | None) -> None:
    """Every planned class INCOMPUTABLE because the generator can make none of them: a failed run, one
    line and exit 2 (each class's reason is on the lines above it).  A shard is not failed by it: the
    other shards may hold what this one could not make (``collect`` joins them)."""
    stuck = [r for r in plan.rows if r.note.startswith("INCOMPUTABLE")]
    if stuck and not shard:
        more = f" (and {len(stuck) - 1} more planned classes)" if len(stuck) > 1 else ""
        raise DatasetError(f"generator: can make no planned class: class '{stuck[0].label}': "
                           f"{stuck[0].note.removeprefix('INCOMPUTABLE: ')}{more}")


def run_planned(cfg, out_dir: Path, train: Dataset, reference: Dataset | None, plan: Plan, seed: int,
                shard: str | None = None) -> dict[str, Any]:
    """``synthgen run`` after planning: generate (resumable), validate, report and merge into
    ``cfg.merge.into``.  ``synthgen loop`` runs each round through it with the round's own plan."""
    generator = build(cfg.get("generator"), "generator")
    if getattr(generator, "modality", train.modality) != train.modality:
        raise ConfigError(f"generator: makes {generator.modality} samples but dataset {train.source} holds {train.modality}")
    if plan.guidance is not None and hasattr(generator, "guide"):  # policy.target=model: weighted parents
        generator.guide(plan.guidance)
    plan = probe_classes(generator, train, plan, seed)
    _echo(plan.table())
    (out_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n")
    if plan.total == 0:  # nothing to write, validate or merge (an empty JSONL file would not read back)
        _none_generable(plan, shard)
        _echo("nothing to generate: every class meets the policy")
        return {"plan": plan.to_dict(), "n_synthetic": 0, "synthetic": None, "format": None, "generated_now": 0}
    synth_dir, fmt, made, failed = produce(cfg, out_dir, train, plan, generator, seed, shard)
    if failed:  # given up part-way: the class is out of this run, the rest goes on
        plan = incomputable(plan, failed)
        (out_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n")
    if synth_dir is None:
        _none_generable(plan, shard)
        _echo(f"shard {shard}: nothing generated: {', '.join(sorted(failed))} INCOMPUTABLE (see the notes above)")
        return {"plan": plan.to_dict(), "n_synthetic": 0, "synthetic": None, "format": None, "generated_now": made}
    synthetic = read_any(str(synth_dir), fmt, "synthetic", lazy=True).samples
    summary: dict[str, Any] = {"plan": plan.to_dict(), "n_synthetic": len(synthetic), "synthetic": str(synth_dir), "format": fmt,
                               "generated_now": made}
    if shard:
        _echo(f"shard {shard}: wrote {len(synthetic)} samples to {shown(synth_dir)} (join shards with `synthgen collect`)")
        from . import audit

        audit.record_run(out_dir, cfg, "run", summary, {"seed": seed, "generator": generator.target}, train, synthetic)
        return summary
    if not synthetic:
        return summary
    run_info = {"command": "run", "seed": seed, "generator": generator.target, "generator_version": generator.version,
                "generator_config_digest": generator.config_digest, "dataset": train.source,
                "synthgen_version": __version__}
    return _validate_and_merge(cfg, out_dir, train, reference, synthetic, run_info, plan, summary, generator)


def _validate_and_merge(cfg, out_dir, train, reference, synthetic, run_info, plan, summary, generator=None):
    from .crossfit import EvidenceOptions, Reference, evidence_batches, resolve_mode

    opts = EvidenceOptions.parse(cfg.get("evidence"))
    mode = resolve_mode(opts, reference is not None, generator is not None)
    ref = reference if mode == "holdout" else train
    counts = {r.label: r.synthetic for r in plan.rows if r.synthetic > 0} if plan else {}
    batches, k, repeats = None, 0, 0
    from .validate import decoded_once

    checked = decoded_once(list(synthetic))  # decoded once for the batches and every validator; merge reads the files
    if generator is not None and mode != "parents" and counts:
        # cross-fitted batches feed the fold validators (utility, label agreement) in every mode, and
        # every check in crossfit mode
        batches, k, repeats = evidence_batches(generator, train, checked, counts, int(cfg.seed), opts)
    n_ref = ref.counts()
    ref_info = Reference(mode, {c: n_ref.get(c, 0) for c in counts or ref.classes}, k, repeats)
    run_info["reference"] = ref_info.to_dict()
    if mode == "parents":
        print("synthgen: warning: evidence.reference=parents: synthetic samples are judged against their own "
              "parents; the evidence is circular", file=sys.stderr, flush=True)
    report = validate_and_report(cfg, out_dir, ref, checked, run_info, plan, train=train, batches=batches,
                                 ref_info=ref_info)
    summary["report"] = report
    _echo(f"report: {shown(out_dir / 'report.html')}")
    m = cfg.get("merge") or {}
    if m.get("into"):
        from . import audit
        from .merge import merge

        res = merge(m["into"], train, synthetic, report, report_path=str(out_dir / "report.json"),
                    force=bool(m.get("force", False)), reason=m.get("reason"), fmt=merge_format(cfg),
                    output=cfg.get("output"), lock_timeout=float(m.get("lock_timeout", 60)),
                    audit=audit.context(cfg, run_info["command"], out_dir))
        summary["merge"] = res
        _print_merge(res)
    # the run folder's own audit entry: inputs, what was written, the gate's decisions
    from . import audit

    audit.record_run(out_dir, cfg, run_info["command"], summary, run_info, train, synthetic)
    return summary


def _plan_rows(path: Path) -> list[dict[str, Any]]:
    """A shard's plan.json rows (label, synthetic, note), or a one-line error naming the file."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        return [{"label": str(r["label"]), "synthetic": int(r["synthetic"]), "note": str(r.get("note") or "")} for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: not a synthgen plan ({type(e).__name__}: {e})") from None


def collect_job(cfg, out_dir: Path) -> dict[str, Any]:
    """Join the ``synthetic/`` folders of shard runs into one dataset (identical to a single run), then
    validate, report and merge it like ``synthgen run``."""
    from omegaconf import OmegaConf

    dirs = [Path(str(d)).expanduser() for d in (cfg.get("shards") or [])]
    if cfg.get("sweep_dir"):
        sweep = Path(str(cfg.sweep_dir)).expanduser()
        if not sweep.is_dir():
            raise DatasetError(f"{sweep}: sweep_dir does not exist")
        dirs += sorted(p.parent for p in sweep.glob("*/synthetic"))
    if not dirs:
        raise ConfigError("shards: give shard run folders (shards=[a,b]) or sweep_dir=<multirun folder>")
    cfgs, shard_ids = [], []
    for d in dirs:
        for need in (".hydra/config.yaml", "plan.json"):
            if not (d / need).exists():
                raise DatasetError(f"{d / need}: not found (each shard must be a finished `synthgen run shard=i/n`)")
            if need == ".hydra/config.yaml":  # its targets are checked before anything else of the folder is read
                c = load_run_config(d / ".hydra/config.yaml", cfg.get("allow_targets"))
        cfgs.append(c)
        shard_ids.append(c.get("shard"))
    ns = {str(s).split("/")[1] if s else "1" for s in shard_ids}
    if len(ns) != 1:
        raise ConfigError(f"shards: mixed shard counts {sorted(ns)}")
    n = int(ns.pop())
    got = sorted(int(str(s).split("/")[0]) if s else 0 for s in shard_ids)
    if got != list(range(n)):
        missing = sorted(set(range(n)) - set(got))
        raise ConfigError(f"shards: expected shards 0..{n - 1} once each; missing {missing}, got {got}")
    def strip(c):
        d = OmegaConf.to_container(c, resolve=False)
        for k in ("shard", "workers", "chunk", "merge", "hydra"):
            d.pop(k, None)
        return d
    base = strip(cfgs[0])
    for d, c in zip(dirs, cfgs):
        if strip(c) != base:
            raise ConfigError(f"shards: {d} was run with another config than {dirs[0]}")
    run_cfg = cfgs[0]
    seed = int(run_cfg.seed)
    train, reference = load_dataset(run_cfg.get("dataset"))
    plan = plan_for(run_cfg, train)
    generator = build(run_cfg.get("generator"), "generator")
    if plan.guidance is not None and hasattr(generator, "guide"):
        generator.guide(plan.guidance)
    # a class a shard gave up on (INCOMPUTABLE in its plan.json) is out of the collected run too
    shard_rows = {d: _plan_rows(d / "plan.json") for d in dirs}
    failed = {r["label"]: r["note"].removeprefix("INCOMPUTABLE: ") for rows in shard_rows.values()
              for r in rows if r["note"].startswith("INCOMPUTABLE")}
    plan = incomputable(plan, failed)
    by_key: dict[tuple[str, int], Sample] = {}
    fmt = None
    for d in dirs:
        if not (d / "synthetic").exists():
            if any(r["synthetic"] for r in shard_rows[d]):
                raise DatasetError(f"{d / 'synthetic'}: not found (each shard must be a finished `synthgen run shard=i/n`)")
            continue  # every class of this shard was INCOMPUTABLE: nothing written
        ds = read_any(str(d / "synthetic"), "auto", "shards")
        fmt = ds.format
        for s in ds.samples:
            k = (s.label, s.provenance.index if s.provenance else -1)
            if k in by_key:
                raise DatasetError(f"{d / 'synthetic'}: sample {s.id} appears in two shards")
            if s.label not in failed:
                by_key[k] = s
    order = [(r.label, i) for r in plan.rows for i in range(r.synthetic)]
    missing = [k for k in order if k not in by_key]
    if missing or len(by_key) != len(order):
        raise DatasetError(f"shards: {len(missing)} planned samples missing (first: class '{missing[0][0]}' index {missing[0][1]})"
                           if missing else f"shards: {len(by_key) - len(order)} samples not in the plan")
    synthetic = [by_key[k] for k in order]
    write_dataset(synthetic, train, out_dir / "synthetic", fmt or "auto", output=run_cfg.get("output"))
    (out_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n")
    summary = {"plan": plan.to_dict(), "n_synthetic": len(synthetic), "synthetic": str(out_dir / "synthetic"), "shards": n}
    _echo(f"collected {len(synthetic)} samples from {n} shards into {out_dir / 'synthetic'}")
    run_info = {"command": "collect", "seed": seed, "generator": generator.target, "generator_version": generator.version,
                "generator_config_digest": generator.config_digest, "dataset": train.source, "shards": n,
                "synthgen_version": __version__}
    if cfg.get("validate", True):
        m = cfg.get("merge") or {}
        view = OmegaConf.merge(run_cfg, {"merge": OmegaConf.to_container(m) if m else {"into": None}})
        return _validate_and_merge(view, out_dir, train, reference, synthetic, run_info, plan, summary, generator)
    return summary


def merge_format(cfg, run_cfg=None) -> str:
    """``merge.format``; when ``auto``, the run's ``output.format``, so a run that writes YOLO merges into
    a YOLO training set.  Both ``auto``: the training set keeps the format of the real dataset."""
    fmt = ((cfg.get("merge") or {}).get("format") or "auto")
    if fmt == "auto":
        fmt = ((run_cfg if run_cfg is not None else cfg).get("output") or {}).get("format") or "auto"
    return str(fmt)


def _print_merge(res: dict[str, Any]) -> None:
    added = ", ".join(f"{k}: {v}" for k, v in res["added"].items()) or "nothing new"
    state = "new version" if res.get("new_version") else "unchanged, still"
    _echo(f"training set: {shown(res['into'])} ({state} {res['version']}; added {added})")
    if res["left_out"]:
        _echo("left out (failed the gate): " + ", ".join(f"{k} ({v})" for k, v in res["left_out"].items()))


def validate_job(cfg, out_dir: Path) -> dict[str, Any]:
    seed = int(cfg.seed)
    syn_cfg = cfg.get("synthetic") or {}
    if not syn_cfg.get("path"):
        raise ConfigError("synthetic.path: missing (the synthetic dataset to validate)")
    from .crossfit import EvidenceOptions, Reference, batches_from_parents, exclude_parents

    train, reference = load_dataset(cfg.get("dataset"))
    ref = reference if reference is not None else train
    syn = read_any(syn_cfg["path"], syn_cfg.get("format", "auto"))
    mode = "holdout" if reference is not None else "given"
    if mode == "given":  # never compare a synthetic sample with its own parents
        ref, removed = exclude_parents(ref, syn.samples)
        if removed:
            _echo(f"reference: {removed} real samples left out because they are parents of synthetic samples")
    for s in syn.samples:
        if s.label not in ref.classes:
            raise DatasetError(f"{syn.source}: sample {s.id} has class '{s.label}', which is not in the real dataset {ref.source}")
    run_info = {"command": "validate", "seed": seed, "generator": None, "dataset": ref.source, "synthetic": syn.source,
                "synthgen_version": __version__}
    opts = EvidenceOptions.parse(cfg.get("evidence"))
    batches, k = batches_from_parents(train, syn.samples, opts, seed)
    n_ref = ref.counts()
    unknown = sum(1 for s in syn.samples if s.provenance is None)
    if unknown:
        _echo(f"reference: {unknown} synthetic samples carry no provenance (parents unknown): they are used in every fold")
    ref_info = Reference(mode, {c: n_ref.get(c, 0) for c in sorted({s.label for s in syn.samples})}, k, opts.repeats, unknown)
    run_info["reference"] = ref_info.to_dict()
    report = validate_and_report(cfg, out_dir, ref, syn.samples, run_info, None, train=train, batches=batches,
                                 ref_info=ref_info)
    _echo(f"report: {shown(out_dir / 'report.html')}")
    return {"report": report}


def finished_run(cfg) -> Path:
    """``cfg.run_dir``, checked to be a finished ``synthgen run`` (config, report, synthetic set)."""
    if not cfg.get("run_dir"):
        raise ConfigError("run_dir: missing (the folder of a finished `synthgen run`)")
    run_dir = Path(str(cfg.run_dir)).expanduser()
    for need in (".hydra/config.yaml", "report.json", "synthetic"):
        if not (run_dir / need).exists():
            raise DatasetError(f"{run_dir / need}: not found (run_dir must be a finished synthgen run)")
    return run_dir


def merge_job(cfg, out_dir: Path) -> dict[str, Any]:
    from .merge import merge

    run_dir = finished_run(cfg)
    m = cfg.get("merge") or {}
    if not m.get("into"):
        raise ConfigError("merge.into: missing (the training-set folder to write)")
    run_cfg = load_run_config(run_dir / ".hydra/config.yaml", cfg.get("allow_targets"))
    train, _ = load_dataset(run_cfg.get("dataset"), "dataset")
    syn = read_any(str(run_dir / "synthetic"), "auto", "run_dir")
    report = json.loads((run_dir / "report.json").read_text())
    from . import audit
    from .review import apply_decisions, read_decisions  # reviewers' decisions (synthgen review), if any

    samples, reviewed = apply_decisions(syn.samples, read_decisions(run_dir), str(run_dir / "review" / "decisions.json"))
    res = merge(m["into"], train, samples, report, report_path=str(run_dir / "report.json"),
                force=bool(m.get("force", False)), reason=m.get("reason"), fmt=merge_format(cfg, run_cfg),
                output=run_cfg.get("output"), lock_timeout=float(m.get("lock_timeout", 60)),
                audit=audit.context(cfg, "merge", run_dir))
    if reviewed:
        res["review"] = reviewed
        _echo("review decisions: " + ", ".join(f"{k} {v}" for k, v in reviewed.items()) + " (rejected samples left out)")
    _print_merge(res)
    audit.record_merge_into_run(run_dir, cfg, res, report)
    return {"merge": res}
