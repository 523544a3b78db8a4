"""``synthgen loop``: close the loop between generation and the model it is for.

Each round: plan from the model's current errors (:func:`synthgen.plan.model_guided`, cross-fitted on
the current training set) -> generate, validate and gate (the ``run`` pipeline,
:func:`synthgen.pipeline.run_planned`, in ``round-NN/``) -> merge the admitted samples into the
training set (one new version per round, :mod:`synthgen.merge`) -> refit the probe, or the user's
trainer (``loop.trainer``), on that version -> measure it on held-out real data.  The loop stops
after ``rounds`` rounds, or earlier when a round's held-out gain in ``loop.metric`` falls below
``loop.min_gain``.

Held-out data (``loop.test``): ``auto`` uses the dataset's held-out real samples
(``dataset.longtail.holdout``: the rare classes' cut-away images) plus ``test_fraction`` of every class
with at least ``min_test_class`` real samples, taken away before anything else sees the data; or a
dataset config.  The test data never enters planning, generation, validation or merging: the gate
cross-fits on the training data (``evidence.reference=auto`` resolves to ``crossfit``).

``loop.json`` (written atomically after every step) and ``loop.html`` (rare-class and overall metrics
per round) are in the loop folder.  Rerunning with the same ``hydra.run.dir`` continues after the last
completed round (a killed round resumes like ``synthgen run``); rounds may be raised on a rerun.
Models are never pickled to disk: a resumed loop refits them from the training-set versions.
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .config import build, digest, plain
from .dataset import Dataset
from .errors import ConfigError, DatasetError
from .io.common import write_bytes_atomic
from .pipeline import _echo, in_order, load_dataset, plan_for, run_planned, shown, split_class
from .seeding import derived_seed

SCHEMA = "synthgen/loop"
METRICS = ("rare_recall", "accuracy", "macro_recall")
LOOP_KEYS = ("metric", "min_gain", "test", "test_fraction", "min_test_class", "trainer", "round_size")


# --- options --------------------------------------------------------------------------------------

def _options(cfg: Any) -> dict[str, Any]:
    d = plain(cfg.get("loop")) or {}
    if not isinstance(d, dict):
        raise ConfigError("loop: must be a mapping")
    for k in d:
        if k not in LOOP_KEYS:
            raise ConfigError(f"loop.{k}: unknown key (allowed: {', '.join(LOOP_KEYS)})")
    out = {"metric": d.get("metric", "rare_recall"), "min_gain": d.get("min_gain", 0.005), "test": d.get("test", "auto"),
           "test_fraction": d.get("test_fraction", 0.25), "min_test_class": d.get("min_test_class", 50),
           "trainer": d.get("trainer"), "round_size": d.get("round_size")}
    if out["metric"] not in METRICS:
        raise ConfigError(f"loop.metric: must be one of {', '.join(METRICS)}, got {out['metric']!r}")
    if not isinstance(out["test"], dict) and out["test"] != "auto":
        raise ConfigError(f"loop.test: 'auto' or a dataset config (a mapping with _target_), got {out['test']!r}")
    rounds = cfg.get("rounds", 3)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ConfigError(f"rounds: must be an integer >= 1, got {rounds!r}")
    return out


# --- held-out data ----------------------------------------------------------------------------------

def split_test(cfg: Any, opts: dict[str, Any]) -> tuple[Dataset, Dataset | None, str]:
    """(training data, held-out test data or None, a description of the test data)."""
    train, reference = load_dataset(cfg.get("dataset"))
    if opts["test"] != "auto":
        from omegaconf import OmegaConf

        test, _ = load_dataset(OmegaConf.create(opts["test"]), "loop.test")
        bad = sorted(set(test.classes) - set(train.classes))
        if bad:
            raise ConfigError(f"loop.test: class '{bad[0]}' is not in the training data")
        return train, test, f"the dataset of loop.test ({test.source}, n={len(test)})"
    frac, min_c = float(opts["test_fraction"]), int(opts["min_test_class"])
    if not 0.0 <= frac < 1.0:
        raise ConfigError(f"loop.test_fraction: must be in [0, 1), got {frac}")
    held, kept = [], []
    seed = int(cfg.get("seed", 0) or 0)
    for c in train.classes:
        members = [s for s in train.samples if s.label == c]
        if frac > 0 and len(members) >= min_c:
            rng = np.random.default_rng(derived_seed(seed, "loop-test", c))
            h, k = split_class(members, int(round(frac * len(members))), rng)
            held.extend(h)
            kept.extend(k)
        else:
            kept.extend(members)
    kept = in_order(kept, train)
    test_samples = held + (list(reference.samples) if reference is not None else [])
    parts = []
    if reference is not None:
        parts.append(f"the dataset's held-out real samples (n={len(reference)})")
    if held:
        parts.append(f"{frac:.0%} of every class with >= {min_c} real samples (n={len(held)})")
    if not test_samples:
        return train.subset(kept), None, "none"
    return train.subset(kept), train.subset(test_samples), " + ".join(parts)


# --- the model --------------------------------------------------------------------------------------

def _trainer(cfg: Any, opts: dict[str, Any]) -> tuple[Any, str]:
    """(an unfitted estimator or a callable (X, y) -> fitted model, description)."""
    from .plan import default_probe

    node = (cfg.get("loop") or {}).get("trainer")
    if node is None:
        return default_probe(cfg), "the utility probe"
    t = build(node, "loop.trainer")
    if not (hasattr(t, "fit") or callable(t)):
        raise ConfigError(f"loop.trainer._target_: built a {type(t).__name__}, neither an estimator nor a callable (X, y) -> model")
    return t, str(plain(node).get("_target_"))


def _fit_trainer(trainer: Any, X: np.ndarray, y: np.ndarray):
    from .plan import _fresh

    try:
        if hasattr(trainer, "fit"):
            m = _fresh(trainer)
            return m.fit(X, y) or m
        m = trainer(X, y)
    except Exception as e:
        raise ConfigError(f"loop.trainer: training failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not hasattr(m, "predict"):
        raise ConfigError(f"loop.trainer: returned a {type(m).__name__}, which has no predict()")
    return m


def measure(model: Any, Xte: np.ndarray, yte: np.ndarray, classes: list[str], rare: list[str]) -> dict[str, Any]:
    pred = np.asarray([str(v) for v in model.predict(Xte)])
    recall = {c: float(np.mean(pred[yte == c] == c)) for c in classes if np.any(yte == c)}
    rare_r = [recall[c] for c in rare if c in recall]
    return {"accuracy": float(np.mean(pred == yte)), "macro_recall": float(np.mean(list(recall.values()))),
            "rare_recall": float(np.mean(rare_r)) if rare_r else None, "recall": recall}


# --- the loop --------------------------------------------------------------------------------------

def _key(cfg: Any) -> str:
    d = plain(cfg)
    for k in ("rounds", "hydra", "workers", "chunk"):
        d.pop(k, None)
    if isinstance(d.get("merge"), dict):
        d["merge"].pop("into", None)
    if isinstance(d.get("loop"), dict):  # the stopping rule may change on a rerun
        d["loop"].pop("min_gain", None)
    return digest(d)


def _write(out_dir: Path, state: dict[str, Any]) -> None:
    write_bytes_atomic(out_dir / "loop.json", (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())
    write_bytes_atomic(out_dir / "loop.html", render_html(state).encode())


def loop_job(cfg, out_dir: Path) -> dict[str, Any]:
    opts = _options(cfg)
    if (cfg.get("policy") or {}).get("target") != "model":
        _echo(f"loop: policy.target={(cfg.get('policy') or {}).get('target')} (uniform plans each round; "
              f"policy.target=model re-plans from the model's errors)")
    if (cfg.get("evidence") or {}).get("reference") == "holdout":
        raise ConfigError("evidence.reference=holdout: the loop keeps held-out data for measuring only; use auto or crossfit")
    m = cfg.get("merge") or {}
    if not m.get("into"):
        raise ConfigError("merge.into: the loop merges every round into a training set; set a folder")
    train, test, test_desc = split_test(cfg, opts)
    if test is None:
        raise DatasetError(f"{train.source}: no held-out real data to measure the loop on (give loop.test=<dataset config>, "
                           f"dataset.longtail with holdout: true, or classes with >= loop.min_test_class samples)")
    return run_loop(cfg, out_dir, train, test, test_desc)


def run_loop(cfg, out_dir: Path, train: Dataset, test: Dataset, test_desc: str) -> dict[str, Any]:
    """The loop on given training and held-out test data (``loop_job`` splits them from the config;
    ``benchmarks/bench_utility.py`` passes its own split)."""
    from omegaconf import OmegaConf

    from .merge import _read_version, current_version
    from .plan import guide_featurizer

    opts = _options(cfg)
    rounds = int(cfg.get("rounds", 3))
    seed = int(cfg.seed)
    into = Path(str((cfg.get("merge") or {})["into"])).expanduser()
    key = _key(cfg)
    state_file = out_dir / "loop.json"
    state: dict[str, Any]
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if state.get("key") != key:
            raise DatasetError(f"{state_file}: holds a loop with another config; use a new hydra.run.dir")
        _echo(f"loop: resuming after round {state['rounds'][-1]['round']} ({shown(state_file)})")
    else:
        state = {"schema": SCHEMA, "version": 1, "key": key, "synthgen_version": __version__, "seed": seed,
                 "metric": opts["metric"], "min_gain": opts["min_gain"], "test": test_desc, "n_test": len(test),
                 "training_set": str(into), "rounds": [], "stopped": None}
    state["rounds_asked"] = rounds
    state["min_gain"] = float(opts["min_gain"])
    state["stopped"] = None  # decided again below with this run's loop.min_gain
    state.pop("complete", None)
    featurizer = guide_featurizer(cfg, train.modality)
    trainer, trainer_desc = _trainer(cfg, opts)
    state["trainer"] = trainer_desc
    classes = list(train.classes)
    Xr = np.asarray(featurizer.transform(train.samples), np.float64).reshape(len(train), -1)
    yr = np.array([s.label for s in train.samples]).astype(str)
    Xte = np.asarray(featurizer.transform(test.samples), np.float64).reshape(len(test), -1)
    yte = np.array([s.label for s in test.samples]).astype(str)
    uniform = plan_for(OmegaConf.merge(cfg, {"policy": {"target": (cfg.policy.get("fill") or "max")}}), train)
    rare = [r.label for r in uniform.rows if r.synthetic > 0]
    state["rare"] = rare

    def synthetic_of(version: str | None) -> list:
        if version is None:
            return []
        return [s for s in _read_version(into / "versions" / version).samples if s.provenance is not None]

    def fitted_on(version: str | None):
        syn = synthetic_of(version)
        if not syn:
            return _fit_trainer(trainer, Xr, yr), syn
        Xs = np.asarray(featurizer.transform(syn), np.float64).reshape(len(syn), -1)
        return _fit_trainer(trainer, np.vstack([Xr, Xs]), np.r_[yr, np.array([s.label for s in syn]).astype(str)]), syn

    if not state["rounds"]:
        model, _ = fitted_on(None)
        met = measure(model, Xte, yte, classes, rare)
        state["rounds"].append({"round": 0, "version": None, "n_synthetic": 0, "metrics": met, "gain": None})
        _echo(f"round 0 (real only): {_fmt(met)}")
        _write(out_dir, state)
    budget_total = uniform.total
    per_round = opts["round_size"] if opts["round_size"] is not None else int(math.ceil(budget_total / rounds)) if rounds else 0
    while True:
        last = state["rounds"][-1]
        r = last["round"] + 1
        if r > rounds:
            break
        if last["round"] >= 1:
            gain = last.get("gain")
            why = ("nothing was admitted in round %d" % last["round"] if not last.get("added") else
                   "the metric cannot be measured" if gain is None else
                   f"held-out gain {gain:+.4f} in {opts['metric']} < loop.min_gain={float(opts['min_gain']):g}"
                   if gain < float(opts["min_gain"]) else None)
            if why:
                state["stopped"] = {"after_round": last["round"], "reason": why}
                _echo(f"loop: stopped after round {last['round']}: {why}")
                break
        base_version = last["version"]
        model_est = trainer if hasattr(trainer, "fit") else None
        syn = synthetic_of(base_version)
        used = {}
        for s in syn:
            used[s.label] = used.get(s.label, 0) + 1
        guide = {"extra": syn, "used": used, "budget": int(per_round)}
        if model_est is not None and (cfg.policy.get("model") in (None, "probe")):
            guide["model"] = (model_est, trainer_desc, False)
        _echo(f"\n== round {r}/{rounds}: training set {base_version or 'real only'} "
              f"({len(train) + len(syn)} samples, {len(syn)} synthetic)")
        plan = plan_for(cfg, train, guide=guide) if cfg.policy.get("target") == "model" else _uniform_round(uniform, per_round, used)
        round_dir = out_dir / f"round-{r:02d}"
        round_dir.mkdir(exist_ok=True)
        r_seed = int(derived_seed(seed, "loop-round", r) % (2 ** 31))
        if plan.total == 0:
            summary = {"merge": None}
            _echo("nothing to generate this round: every filled class is at its cap")
        else:
            summary = run_planned(cfg, round_dir, train, None, plan, r_seed)
        res = summary.get("merge") or {}
        version = current_version(into).name if current_version(into) is not None else None
        model, syn_now = fitted_on(version)
        met = measure(model, Xte, yte, classes, rare)
        prev = last["metrics"][opts["metric"]]
        now = met[opts["metric"]]
        gain = None if prev is None or now is None else float(now - prev)
        verdicts = {c: v.get("verdict") for c, v in ((summary.get("report") or {}).get("classes") or {}).items()}
        state["rounds"].append({"round": r, "dir": round_dir.name, "seed": r_seed, "base_version": base_version,
                                "version": version, "plan": plan.counts(), "added": _added(syn, syn_now),
                                "left_out": res.get("left_out", {}), "verdicts": verdicts,
                                "n_synthetic": len(syn_now), "metrics": met, "gain": gain})
        _echo(f"round {r}: {_fmt(met)}  gain in {opts['metric']}: {'n/a' if gain is None else f'{gain:+.4f}'}")
        _write(out_dir, state)
    state["complete"] = True
    _write(out_dir, state)
    _echo(f"loop: {shown(out_dir / 'loop.json')}, {shown(out_dir / 'loop.html')}; training set {shown(into)} "
          f"({state['rounds'][-1]['version'] or 'no version'})")
    return {"loop": state}


def _added(before: list, after: list) -> dict[str, int]:
    """Synthetic samples per class in ``after`` and not in ``before`` (by id): what the round merged,
    also when a killed round's merge had already finished before the rerun."""
    old = {s.id for s in before}
    out: dict[str, int] = {}
    for s in after:
        if s.id not in old:
            out[s.label] = out.get(s.label, 0) + 1
    return dict(sorted(out.items()))


def _uniform_round(uniform, per_round: int, used: dict[str, int]):
    """A uniform policy's round: its counts scaled to ``per_round`` and minus what earlier rounds added."""
    from dataclasses import replace

    from .plan import Plan, _allocate

    need = {r.label: max(0, r.synthetic - used.get(r.label, 0)) for r in uniform.rows}
    n = _allocate(per_round, {c: float(v) for c, v in need.items()}, need) if any(need.values()) else need
    return Plan(tuple(replace(r, synthetic=int(n.get(r.label, 0))) for r in uniform.rows), uniform.policy)


def _fmt(met: dict[str, Any]) -> str:
    rr = met.get("rare_recall")
    return (f"accuracy {met['accuracy']:.4f}  macro recall {met['macro_recall']:.4f}  "
            f"rare recall {'n/a' if rr is None else f'{rr:.4f}'}")


# --- the page -----------------------------------------------------------------------------------------

def _svg(rounds: list[dict[str, Any]], keys: tuple[str, ...], w: int = 420, h: int = 220) -> str:
    pad = 36
    xs = [r["round"] for r in rounds]
    x_hi = max(xs) or 1
    colours = {"rare_recall": "#c0392b", "accuracy": "#2c3e50", "macro_recall": "#2980b9"}
    vals = [r["metrics"].get(k) for r in rounds for k in keys if r["metrics"].get(k) is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    lo, hi = max(0.0, lo - 0.05), min(1.0, hi + 0.05)
    hi = hi if hi > lo else lo + 0.1

    def X(v):
        return pad + (w - 2 * pad) * v / x_hi

    def Y(v):
        return h - pad - (h - 2 * pad) * (v - lo) / (hi - lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#888"/>',
             f'<text x="{pad - 4}" y="{Y(hi) + 4:.1f}" font-size="10" text-anchor="end">{hi:.2f}</text>',
             f'<text x="{pad - 4}" y="{Y(lo) + 4:.1f}" font-size="10" text-anchor="end">{lo:.2f}</text>']
    for x in xs:
        parts.append(f'<text x="{X(x):.1f}" y="{h - pad + 14}" font-size="10" text-anchor="middle">{x}</text>')
    for i, k in enumerate(keys):
        pts = [(X(r["round"]), Y(r["metrics"][k])) for r in rounds if r["metrics"].get(k) is not None]
        if pts:
            parts.append(f'<polyline fill="none" stroke="{colours[k]}" stroke-width="2" points="'
                         + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
            parts += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colours[k]}"/>' for a, b in pts]
        parts.append(f'<text x="{w - pad}" y="{pad + 12 * i}" font-size="11" text-anchor="end" fill="{colours[k]}">'
                     f'{html.escape(k)}</text>')
    parts.append(f'<text x="{w / 2:.0f}" y="{h - 4}" font-size="11" text-anchor="middle">round</text></svg>')
    return "".join(parts)


def render_html(state: dict[str, Any]) -> str:
    e = html.escape
    rounds = state.get("rounds", [])
    rare = state.get("rare", [])
    head = ("<tr><th>round</th><th>training set</th><th>synthetic</th><th>planned</th><th>admitted</th>"
            "<th>accuracy</th><th>macro recall</th><th>rare recall</th>"
            + "".join(f"<th>recall {e(c)}</th>" for c in rare) + f"<th>gain ({e(str(state.get('metric')))})</th></tr>")
    body = []
    for r in rounds:
        m = r["metrics"]
        cell = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        body.append("<tr>" + "".join(f"<td>{x}</td>" for x in (
            r["round"], e(r.get("version") or "real only"), r.get("n_synthetic", 0),
            e(", ".join(f"{k}: {v}" for k, v in (r.get("plan") or {}).items() if v)) or "-",
            e(", ".join(f"{k}: {v}" for k, v in (r.get("added") or {}).items())) or "-",
            cell(m["accuracy"]), cell(m["macro_recall"]), cell(m.get("rare_recall")),
            *(cell(m["recall"].get(c)) for c in rare), "-" if r.get("gain") is None else f"{r['gain']:+.4f}")) + "</tr>")
    stopped = state.get("stopped")
    note = (f"<p>Stopped after round {stopped['after_round']}: {e(stopped['reason'])}.</p>" if stopped else "")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>synthgen loop</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>"
            f"<h1>synthgen loop</h1><p>Held-out test data: {e(str(state.get('test')))} (n={state.get('n_test')}); "
            f"model: {e(str(state.get('trainer')))}; rare classes: {e(', '.join(rare))}; stop when the gain in "
            f"{e(str(state.get('metric')))} &lt; {state.get('min_gain')}.</p>{note}"
            f"<div>{_svg(rounds, ('rare_recall', 'accuracy'))}</div>"
            f"<table>{head}{''.join(body)}</table></body></html>\n")
