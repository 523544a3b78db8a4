"""``synthgen evaluate``: run a model over a stress suite and report its robustness.

The model is built from ``model._target_`` and must be a callable ``samples -> predictions``: a
sequence of labels, or an ``(n, n_classes)`` array of scores (columns follow ``model.classes_`` when
the model has it, else the suite's classes).  The report gives the error per corruption and
severity, CE / mCE normalised by a baseline (AlexNet for ImageNet-C, DGCNN for ModelNet-C, or a
previous ``report.json`` of your own baseline model), relative mCE, and CheckList-style failure
rates (an *invariant* corruption fails when the prediction differs from the one on the clean base
sample; a *directional* one fails when it does not).

``report.json`` (schema ``synthgen/stress-report`` v1, docs/stress.md; its ``diagnosis`` groups the
failures by corruption family and severity and ranks the classes that break first) and ``report.html``
(:mod:`synthgen.html`: error versus severity plots, the diagnosis, misclassified corrupted examples
beside their clean parents) are written, then the configured ``limits`` are checked: when
one is crossed the command prints why and exits with code 3 (:data:`LIMIT_EXIT_CODE`), so CI fails.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import __version__
from .config import build, plain
from .errors import ConfigError, DatasetError, InsufficientDataError
from .io.common import dumps, write_bytes_atomic

SCHEMA = "synthgen/stress-report"
SCHEMA_VERSION = 1
LIMIT_EXIT_CODE = 3

# albumentations transforms (and common names) -> the stress corruptions they reproduce
AUGMENTATION_TO_CORRUPTIONS = {
    "GaussNoise": ["gaussian_noise"], "ShotNoise": ["shot_noise"], "SaltAndPepper": ["impulse_noise"],
    "MultiplicativeNoise": ["speckle_noise"], "ISONoise": ["gaussian_noise", "shot_noise"],
    "Defocus": ["defocus_blur"], "GlassBlur": ["glass_blur"], "MotionBlur": ["motion_blur"], "ZoomBlur": ["zoom_blur"],
    "GaussianBlur": ["gaussian_blur"], "AdvancedBlur": ["gaussian_blur"], "Blur": ["gaussian_blur"],
    "RandomSnow": ["snow"], "RandomFog": ["fog"], "RandomRain": ["rain"], "RandomSunFlare": ["sun_flare"],
    "RandomShadow": ["shadow"], "Spatter": ["spatter"], "CoarseDropout": ["occlusion"], "GridDropout": ["occlusion"],
    "RandomBrightnessContrast": ["brightness", "contrast"], "ColorJitter": ["brightness", "contrast", "saturate"],
    "HueSaturationValue": ["saturate"], "RandomGamma": ["brightness"], "ElasticTransform": ["elastic_transform"],
    "Downscale": ["pixelate"], "ImageCompression": ["jpeg_compression"], "JpegCompression": ["jpeg_compression"],
}


# --- reading the suite --------------------------------------------------------------------------

def read_suite(path: str, fmt: str = "auto"):
    from .pipeline import read_any

    ds = read_any(path, fmt, "suite.path")
    ds.require_nonempty()
    for s in ds.samples:
        p = s.provenance
        if p is None or "corruption" not in p.params or "severity" not in p.params:
            raise DatasetError(f"{ds.source}: sample {s.id} has no stress provenance (corruption, severity); "
                               f"is this a `synthgen stress` suite folder?")
    return ds


# --- model --------------------------------------------------------------------------------------

def predict(model, samples: Sequence, classes: list[str], batch_size: int) -> list[str]:
    out: list[str] = []
    model_classes = getattr(model, "classes_", None)
    cols = [str(c) for c in model_classes] if model_classes is not None else list(classes)
    from tqdm import tqdm

    bar = tqdm(total=len(samples), desc="predict", unit="sample", disable=None, file=sys.stderr)  # a terminal only
    for i in range(0, len(samples), batch_size):
        batch = samples[i:i + batch_size]
        bar.update(len(batch))
        try:
            res = model(batch)
        except Exception as e:  # the user's model: name it and the batch
            raise ConfigError(f"model: failed on samples {batch[0].id}..{batch[-1].id}: {type(e).__name__}: {e}") from None
        arr = np.asarray(res)
        if arr.ndim == 2:
            if arr.shape[1] != len(cols):
                raise ConfigError(f"model: returned scores with {arr.shape[1]} columns for {len(cols)} classes")
            labels = [cols[j] for j in np.argmax(arr, axis=1)]
        elif arr.ndim == 1:
            labels = [str(v.item() if hasattr(v, "item") else v) for v in arr]
        else:
            raise ConfigError(f"model: must return labels (n,) or scores (n, classes), got shape {arr.shape}")
        if len(labels) != len(batch):
            raise ConfigError(f"model: returned {len(labels)} predictions for {len(batch)} samples")
        out.extend(labels)
    bar.close()
    return out


# --- baselines ----------------------------------------------------------------------------------

def report_to_baseline(rep: dict[str, Any], source: str) -> dict[str, Any]:
    """A previous ``synthgen evaluate`` report as a baseline (its per-severity errors)."""
    corr = {}
    for name, c in rep.get("corruptions", {}).items():
        errs = {int(s): v["error"] for s, v in c.get("severities", {}).items()}
        corr[name] = {"mean": c.get("mean_error"), "errors": errs}
    scale = (rep.get("summary") or {}).get("scale") or 100.0
    return {"name": f"report:{source}", "benchmark": rep.get("suite", {}).get("benchmark"), "source": source, "metric": "error",
            "scale": scale, "clean_error": (rep.get("clean") or {}).get("error"), "corruptions": corr}


def load_baseline(spec: Any, benchmark: str | None, key: str = "baseline") -> dict[str, Any] | None:
    from .stress.baselines import BASELINES, BY_BENCHMARK

    if spec is None or spec in ("none", "null", False):
        return None
    if spec == "auto":
        name = BY_BENCHMARK.get(benchmark or "")
        return BASELINES[name] if name else None
    if isinstance(spec, str) and spec in BASELINES:
        return BASELINES[spec]
    if isinstance(spec, dict):
        b = dict(spec)
    else:
        p = Path(str(spec)).expanduser()
        if not p.exists():
            raise ConfigError(f"{key}: '{spec}' is not a known baseline ({', '.join(BASELINES)}) nor an existing file")
        try:
            if p.suffix in (".yaml", ".yml"):
                from omegaconf import OmegaConf

                b = plain(OmegaConf.load(p))
            else:
                b = json.loads(p.read_text(encoding="utf-8"))
        except Exception as e:
            raise DatasetError(f"{p}: cannot read baseline ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        if b.get("schema") == SCHEMA:
            return report_to_baseline(b, str(p))
    if not isinstance(b.get("corruptions"), dict):
        raise ConfigError(f"{key}: a baseline needs a 'corruptions' mapping ({{name: {{mean: e}} or {{errors: {{1: e, ...}}}}}})")
    b.setdefault("name", str(spec) if not isinstance(spec, dict) else "custom")
    b.setdefault("scale", 100.0)
    return b


# --- leaks --------------------------------------------------------------------------------------

def training_augmentations(spec: Any, key: str = "training.augmentations") -> list[str]:
    """Names of the training augmentations: a list, or a YAML/JSON file (albumentations pipeline or a
    generator config with ``transforms``)."""
    if spec is None:
        return []
    if isinstance(spec, (list, tuple)):
        items = list(spec)
    else:
        p = Path(str(spec)).expanduser()
        if str(spec).startswith("generator:"):  # a packaged generator config, from any folder
            import synthgen.conf

            folder = Path(synthgen.conf.__file__).parent / "generator"
            p = folder / f"{str(spec).split(':', 1)[1]}.yaml"
            if not p.is_file():
                known = ", ".join(sorted(f"generator:{f.stem}" for f in folder.glob("*.yaml")))
                raise ConfigError(f"{key}: no packaged generator config '{spec}' (known: {known})")
        if not p.exists():
            raise ConfigError(f"{key}: file '{spec}' does not exist")
        try:
            if p.suffix == ".json":
                data = json.loads(p.read_text(encoding="utf-8"))
            else:
                from omegaconf import OmegaConf

                data = plain(OmegaConf.load(p))
        except Exception as e:
            raise DatasetError(f"{p}: cannot read augmentations ({type(e).__name__})") from None
        items = _collect_transforms(data)
    names = []
    for it in items:
        if isinstance(it, str):
            names.append(it)
        elif isinstance(it, dict):
            n = it.get("name") or it.get("__class_fullname__") or it.get("_target_")
            if n:
                names.append(str(n).rsplit(".", 1)[-1])
    return names


def _collect_transforms(data: Any) -> list[str]:
    """Transform names anywhere in a pipeline description (albumentations ``to_dict`` or ``{name: ...}`` lists)."""
    out: list[str] = []
    if isinstance(data, dict):
        name = data.get("__class_fullname__") or (data.get("name") if isinstance(data.get("name"), str) else None)
        if name and not isinstance(data.get("transforms"), list):
            out.append(str(name))
        for v in data.values():
            if isinstance(v, (dict, list)):
                out.extend(_collect_transforms(v))
    elif isinstance(data, list):
        for d in data:
            out.extend([d] if isinstance(d, str) else _collect_transforms(d))
    return out


def find_leaks(augmentations: list[str], suite_corruptions: list[str]) -> list[dict[str, str]]:
    leaks = []
    for a in augmentations:
        hits = AUGMENTATION_TO_CORRUPTIONS.get(a, [a] if a in suite_corruptions else [])
        for c in hits:
            if c in suite_corruptions:
                leaks.append({"augmentation": a, "corruption": c,
                              "why": "the model was trained with this corruption, so its error on it overstates robustness"})
    return leaks


# --- the evaluation -----------------------------------------------------------------------------

def _r(x):
    return None if x is None else round(float(x), 6)


def evaluate(ds, preds: list[str], baseline: dict[str, Any] | None) -> dict[str, Any]:
    """Errors per corruption and severity, CE/mCE, relative mCE and failure rates."""
    by_id = {s.id: i for i, s in enumerate(ds.samples)}
    clean_pred: dict[str, str] = {}
    groups: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    meta: dict[str, dict[str, Any]] = {}
    clean_idx = []
    not_applicable: dict[str, str] = {}
    for i, s in enumerate(ds.samples):
        p = s.provenance.params
        if p["corruption"] == "clean":
            clean_idx.append(i)
            not_applicable.update(p.get("not_applicable") or {})  # left out of the suite (English-only tests)
            clean_pred[s.provenance.parents[0] if s.provenance.parents else s.id] = preds[i]
            continue
        groups[p["corruption"]][int(p["severity"])].append(i)
        meta.setdefault(p["corruption"], {"benchmark": p.get("benchmark"), "family": p.get("family"), "expect": p.get("expect", "invariant"),
                                          "target": s.provenance.generator})
    del by_id
    labels = [s.label for s in ds.samples]

    def err(ix):
        return float(np.mean([preds[i] != labels[i] for i in ix]))

    clean = {"n": len(clean_idx), "error": _r(err(clean_idx)) if clean_idx else None}
    corruptions: dict[str, Any] = {}
    failure_rates = {}
    for name, sev in groups.items():
        rows = {}
        for s in sorted(sev):
            ix = sev[s]
            row: dict[str, Any] = {"n": len(ix), "error": _r(err(ix))}
            paired = [i for i in ix if ds.samples[i].provenance.parents and ds.samples[i].provenance.parents[0] in clean_pred]
            if paired:
                changed = [preds[i] != clean_pred[ds.samples[i].provenance.parents[0]] for i in paired]
                fail = changed if meta[name]["expect"] == "invariant" else [not c for c in changed]
                row["flip_rate"] = _r(np.mean(changed))
                row["failure_rate"] = _r(np.mean(fail))
            rows[str(s)] = row
        entry = {**meta[name], "severities": rows, "mean_error": _r(np.mean([r["error"] for r in rows.values()]))}
        if all("failure_rate" in r for r in rows.values()):
            entry["failure_rate"] = _r(np.mean([r["failure_rate"] for r in rows.values()]))
            failure_rates[name] = entry["failure_rate"]
        corruptions[name] = entry
    summary: dict[str, Any] = {"mce": None, "relative_mce": None, "mce_corruptions": [], "scale": None,
                               "mean_error": _r(np.mean([c["mean_error"] for c in corruptions.values()])) if corruptions else None,
                               "failure_rate": _r(np.mean(list(failure_rates.values()))) if failure_rates else None,
                               "notes": []}
    if baseline is not None:
        from .stress.metrics import corruption_error, relative_corruption_error

        scale = float(baseline.get("scale", 100.0))
        summary["scale"] = scale
        ces, rces = {}, {}
        for name, c in corruptions.items():
            b = baseline["corruptions"].get(name)
            if b is None:
                continue
            errs = {int(s): r["error"] for s, r in c["severities"].items()}
            try:
                ce = corruption_error(errs, b) * scale
            except InsufficientDataError as e:
                summary["notes"].append(f"{name}: no CE ({e})")
                continue
            if not (b.get("errors") and all(int(s) in {int(k) for k in b["errors"]} for s in errs)) and sorted(errs) != [1, 2, 3, 4, 5]:
                summary["notes"].append(f"{name}: baseline has only its mean over severities 1-5; CE uses it for severities {sorted(errs)}")
            c["ce"] = _r(ce)
            ces[name] = ce
            if clean["error"] is not None and baseline.get("clean_error") is not None:
                try:
                    rce = relative_corruption_error(errs, clean["error"], b, float(baseline["clean_error"])) * scale
                    c["relative_ce"] = _r(rce)
                    rces[name] = rce
                except InsufficientDataError as e:
                    summary["notes"].append(f"{name}: no relative CE ({e})")
        if ces:
            summary["mce"] = _r(sum(ces.values()) / len(ces))
            summary["mce_corruptions"] = sorted(ces)
        if rces and len(rces) == len(ces):
            summary["relative_mce"] = _r(sum(rces.values()) / len(rces))
        without = sorted(set(corruptions) - set(ces))
        if without:
            summary["notes"].append(f"not in baseline '{baseline.get('name')}' (no CE): {', '.join(without)}")
    out = {"clean": clean, "corruptions": corruptions, "summary": summary}
    if not_applicable:  # n/a: no samples, no error, no failure rate, outside every aggregate
        out["not_applicable"] = dict(sorted(not_applicable.items()))
        summary["notes"].extend(f"{n}: n/a, left out of the suite and of every aggregate ({why})" for n, why in out["not_applicable"].items())
    from .diagnose import diagnose_evaluation

    out["diagnosis"] = diagnose_evaluation(ds.samples, preds, out)
    return out


LIMIT_KEYS = {"max_mce", "max_relative_mce", "max_mean_error", "max_clean_error", "max_error", "max_error_at_severity",
              "max_ce", "max_failure_rate", "fail_on_leak"}


def check_limits(result: dict[str, Any], leaks: list, limits: dict[str, Any]) -> list[str]:
    """Human-readable descriptions of every crossed limit (empty: all within limits)."""
    for k in limits:
        if k not in LIMIT_KEYS:
            raise ConfigError(f"limits.{k}: unknown limit (allowed: {', '.join(sorted(LIMIT_KEYS))})")
    out = []
    s = result["summary"]

    def over(name, value, lim):
        if lim is not None and value is not None and float(value) > float(lim):
            out.append(f"{name} {float(value):.4g} > {float(lim):.4g}")

    if limits.get("max_mce") is not None and s["mce"] is None:
        out.append("max_mce is set but no mCE could be computed (no baseline for these corruptions)")
    over("mCE", s["mce"], limits.get("max_mce"))
    over("relative mCE", s["relative_mce"], limits.get("max_relative_mce"))
    over("mean corruption error", s["mean_error"], limits.get("max_mean_error"))
    over("clean error", result["clean"]["error"], limits.get("max_clean_error"))
    per_sev = {int(k): v for k, v in (limits.get("max_error_at_severity") or {}).items()}
    for name, c in result["corruptions"].items():
        for sev, r in c["severities"].items():
            over(f"error of {name} at severity {sev}", r["error"], limits.get("max_error"))
            over(f"error of {name} at severity {sev}", r["error"], per_sev.get(int(sev)))
        max_ce = limits.get("max_ce")
        if isinstance(max_ce, dict):
            over(f"CE of {name}", c.get("ce"), max_ce.get(name))
        else:
            over(f"CE of {name}", c.get("ce"), max_ce)
        over(f"failure rate of {name}", c.get("failure_rate"), limits.get("max_failure_rate"))
    if limits.get("fail_on_leak") and leaks:
        out.append("leak: " + ", ".join(f"{l['corruption']} (trained with {l['augmentation']})" for l in leaks))
    return out


# --- HTML ---------------------------------------------------------------------------------------

def write_html(report: dict[str, Any], path: Path, samples: dict[str, Any] | None = None) -> None:
    """The evaluation page (built with :mod:`synthgen.html`): verdict, summary, error versus severity
    per benchmark, per corruption, failures by family and severity, the classes that break first, and
    (with ``samples``: id -> Sample of the suite) the misclassified corrupted examples beside their
    clean parents."""
    from . import html as H

    esc = H.esc
    s = report["summary"]
    fmt = H.fmt
    out = [(f"<h1>Stress evaluation</h1><p>schema {esc(report['schema'])} v{report['schema_version']}; model <code>{esc(report['model'])}</code>; "
            f"suite <code>{esc(report['suite']['path'])}</code> ({esc(report['suite'].get('benchmark'))}); "
            f"baseline {esc((report.get('baseline') or {}).get('name'))}; exit code {esc(report['limits'].get('exit_code', 0))}</p>")]
    verdict = "FAIL" if report["limits"]["crossed"] else "PASS"
    out.append(f"<p class='{'bad' if verdict == 'FAIL' else 'ok'}'><b>{verdict}</b> "
               + esc("; ".join(report["limits"]["crossed"]) or "all configured limits hold") + "</p>")
    out.append(H.table(["clean error", "mean corruption error", "mCE", "relative mCE", "failure rate"],
                       [[fmt(report["clean"]["error"]), fmt(s["mean_error"]), fmt(s["mce"]), fmt(s["relative_mce"]), fmt(s["failure_rate"])]]))
    if s["notes"]:
        out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in s["notes"]) + "</ul>")
    if report["leaks"]:
        out.append("<h2>Leaks</h2><ul>" + "".join(f"<li class='bad'>{esc(l['corruption'])}: trained with {esc(l['augmentation'])}</li>"
                                                   for l in report["leaks"]) + "</ul>")
    diag = report.get("diagnosis") or {}
    if diag.get("families") or diag.get("classes_break_first"):
        out.append("<h2>Where it breaks</h2><div class='charts'>")
        fams = diag.get("families") or []
        if fams:
            out.append(H.svg_bars("mean error by corruption family", {f["family"]: f["mean_error"] for f in fams}, "error (share misclassified)", 1.0))
        brk = diag.get("classes_break_first") or []
        if brk:
            out.append(H.svg_bars("mean corrupted error by class (breaks first at the top)",
                                  {str(c["label"]): c["mean_error"] for c in brk[:20]}, "error (share misclassified)", 1.0))
        out.append("</div>")
        if fams:
            sevs = sorted({int(k) for f in fams for k in f["severities"]})
            out.append("<h3>Failures by family and severity</h3>" + H.table(
                ["family", "corruptions"] + [f"error s{k}" for k in sevs] + ["mean"],
                [[esc(f["family"]), esc(", ".join(f["corruptions"]))]
                 + [fmt(f["severities"].get(str(k), {}).get("error"), ".3f") for k in sevs] + [fmt(f["mean_error"], ".3f")] for f in fams]))
        if brk:
            out.append("<h3>Classes that break first</h3><p>A class breaks at the lowest severity where its error over all "
                       "corruptions reaches the break error (0.5, or its clean error + 0.25 when higher).</p>" + H.table(
                ["class", "clean error", "breaks at severity", "mean corrupted error"],
                [[esc(c["label"]), fmt(c["clean_error"], ".3f"), esc("never" if c["breaks_at"] is None else c["breaks_at"]),
                  fmt(c["mean_error"], ".3f")] for c in brk[:20]],
                ["bad" if c["breaks_at"] is not None else "ok" for c in brk[:20]]))
        ex = diag.get("examples") or []
        if ex:
            out.append("<h3>Corrupted examples the model gets wrong</h3><p>The worst corruptions at their highest "
                       "severity; each beside its clean parent.</p>")
            if samples:
                for e in ex:
                    items, caps = [], []
                    clean = e.get("clean_id") or e.get("parent")
                    if clean and clean in samples:
                        items.append(samples[clean])
                        caps.append(f"clean: {e['label']}")
                    if e["id"] in samples:
                        items.append(samples[e["id"]])
                        caps.append(f"{e['corruption']} s{e['severity']}: {e['label']} -> {e['predicted']}")
                    out.append(f"<div class='example'>{H.thumbnails(items, caps, 96)}</div>")
            else:
                out.append(H.table(["corruption", "severity", "sample", "label", "predicted"],
                                   [[esc(e["corruption"]), esc(e["severity"]), esc(e["id"]), esc(e["label"]), esc(e["predicted"])] for e in ex]))
    corr = report["corruptions"]
    by_bench: dict[str, dict] = defaultdict(dict)
    for name, c in corr.items():
        by_bench[str(c.get("benchmark"))][name] = c
    out.append("<h2>Error versus severity</h2><div class='charts'>")
    clean = report["clean"]["error"]
    for bench, group in by_bench.items():
        names = list(group)
        for i in range(0, len(names), 6):
            chunk = {n: {int(k): v["error"] for k, v in group[n]["severities"].items()} for n in names[i:i + 6]}
            out.append(H.svg_lines(f"{bench}: error", chunk, "severity", "error (share misclassified)",
                                   (0, "clean", clean) if clean is not None else None))
            fr = {n: {int(k): v.get("failure_rate") for k, v in group[n]["severities"].items()} for n in names[i:i + 6]
                  if "failure_rate" in group[n]}
            if fr:
                out.append(H.svg_lines(f"{bench}: failure rate", fr, "severity", "failure rate"))
    out.append("</div>")
    sevs = sorted({int(k) for c in corr.values() for k in c["severities"]})
    out.append("<h2>Per corruption</h2>" + H.table(
        ["corruption", "benchmark", "expect"] + [f"error s{k}" for k in sevs] + ["mean", "CE", "relative CE", "failure rate"],
        [[esc(name), esc(c.get("benchmark")), esc(c.get("expect"))]
         + [fmt(c["severities"].get(str(k), {}).get("error"), ".3f") for k in sevs]
         + [fmt(c["mean_error"], ".3f"), fmt(c.get("ce"), ".4g"), fmt(c.get("relative_ce"), ".4g"), fmt(c.get("failure_rate"), ".3f")]
         for name, c in corr.items()], cls="compact"))
    write_bytes_atomic(path, H.page("synthgen stress evaluation", out).encode())


# --- the job ------------------------------------------------------------------------------------

def evaluate_job(cfg, out_dir: Path) -> dict[str, Any]:
    suite_cfg = cfg.get("suite") or {}
    if not suite_cfg.get("path"):
        raise ConfigError("suite.path: missing (the suite folder written by `synthgen stress`, e.g. outputs/.../suite)")
    try:
        batch_size = int(cfg.get("batch_size", 256))
    except (TypeError, ValueError):
        batch_size = 0
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be a positive integer, got {cfg.get('batch_size')!r}")
    limits = plain(cfg.get("limits") or {})
    for k in limits:
        if k not in LIMIT_KEYS:
            raise ConfigError(f"limits.{k}: unknown limit (allowed: {', '.join(sorted(LIMIT_KEYS))})")
    # everything that can be wrong without reading the suite is checked first: reading a suite takes
    # tens of seconds, and a missing model should not be reported only after that
    if not Path(str(suite_cfg["path"])).expanduser().exists():
        raise DatasetError(f"{Path(str(suite_cfg['path'])).expanduser()}: suite.path does not exist")
    model = build(cfg.get("model"), "model")
    if not callable(model):
        raise ConfigError(f"model._target_: must build a callable samples -> labels or scores, got {type(model).__name__} "
                          "(point _target_ at a factory, or add `_partial_: true` for a plain predict function)")
    augs = training_augmentations(plain((cfg.get("training") or {}).get("augmentations")))
    ds = read_suite(str(suite_cfg["path"]), suite_cfg.get("format", "auto"))
    benchmarks = sorted({str(s.provenance.params.get("benchmark")) for s in ds.samples if s.provenance.params.get("benchmark")})
    main_bench = next((b for b in benchmarks if b in ("imagenet-c", "modelnet-c")), benchmarks[0] if benchmarks else None)
    baseline = load_baseline(plain(cfg.get("baseline", "auto")), main_bench)
    preds = predict(model, ds.samples, ds.classes, batch_size)
    result = evaluate(ds, preds, baseline)
    suite_corr = list(result["corruptions"])
    leaks = find_leaks(augs, suite_corr)
    crossed = check_limits(result, leaks, limits)
    target = (plain(cfg.get("model")) or {}).get("_target_")
    report = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "synthgen_version": __version__,
        "model": target,
        "suite": {"path": str(suite_cfg["path"]), "source": ds.source, "format": ds.format, "modality": ds.modality,
                  "benchmark": main_bench, "benchmarks": benchmarks, "n_samples": len(ds.samples), "classes": list(ds.classes)},
        "baseline": None if baseline is None else {k: baseline.get(k) for k in ("name", "benchmark", "source", "scale", "clean_error")},
        **result,
        "leaks": leaks,
        "training_augmentations": augs,
        "limits": {"configured": limits, "crossed": crossed, "exit_code": LIMIT_EXIT_CODE if crossed else 0},
    }
    write_bytes_atomic(out_dir / "report.json", (dumps(report) + "\n").encode())
    write_html(report, out_dir / "report.html", {s.id: s for s in ds.samples})
    _print_table(report)
    print(f"report: {out_dir / 'report.html'}", flush=True)
    for l in leaks:
        print(f"synthgen: warning: leak: '{l['corruption']}' is in the suite and in the training augmentations ({l['augmentation']})",
              file=sys.stderr, flush=True)
    if crossed:  # the CLI exits with report["limits"]["exit_code"] (synthgen.report.returned_exit_code)
        print("synthgen: limit crossed: " + "; ".join(crossed), file=sys.stderr, flush=True)
    return report


def _print_table(report: dict[str, Any]) -> None:
    corr = report["corruptions"]
    sevs = sorted({int(k) for c in corr.values() for k in c["severities"]})
    w = max([10] + [len(n) for n in corr] + [len(n) for n in report.get("not_applicable") or {}])
    head = f"{'corruption':<{w}}  " + "  ".join(f"{'s' + str(s):>6}" for s in sevs) + f"  {'mean':>6}  {'CE':>7}  {'fail':>6}"
    print(head, flush=True)
    print("-" * len(head))
    for n, c in corr.items():
        cells = "  ".join(f"{c['severities'].get(str(s), {}).get('error', float('nan')):>6.3f}" if str(s) in c["severities"] else f"{'':>6}" for s in sevs)
        ce = "" if c.get("ce") is None else f"{c['ce']:.4g}"
        fr = "" if c.get("failure_rate") is None else f"{c['failure_rate']:.3f}"
        print(f"{n:<{w}}  {cells}  {c['mean_error']:>6.3f}  {ce:>7}  {fr:>6}")
    for n, why in (report.get("not_applicable") or {}).items():
        print(f"{n:<{w}}  n/a  ({why})")
    s = report["summary"]
    parts = [f"clean error {report['clean']['error']:.3f}" if report["clean"]["error"] is not None else "no clean samples"]
    if s["mce"] is not None:
        parts.append(f"mCE {s['mce']:.4g} (baseline {report['baseline']['name']})")
    if s["relative_mce"] is not None:
        parts.append(f"relative mCE {s['relative_mce']:.4g}")
    if s["failure_rate"] is not None:
        parts.append(f"failure rate {s['failure_rate']:.3f}")
    d = report.get("diagnosis") or {}
    if d.get("families"):
        f = d["families"][0]
        parts.append(f"worst family {f['family']} ({f['mean_error']:.3f})")
    first = [c for c in d.get("classes_break_first", []) if c["breaks_at"] is not None][:3]
    if first:
        parts.append("breaks first: " + ", ".join(f"{c['label']} (s{c['breaks_at']})" for c in first))
    print("; ".join(parts), flush=True)
