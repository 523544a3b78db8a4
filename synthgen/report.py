"""``report.json`` (schema ``synthgen/report``, version 3; see docs/report-schema.md) and ``report.html``.

The HTML is one self-contained file with no scripts: the verdict table, the gate's rules and the
samples it dropped, and per class a table of every validator (statistic, threshold, real-vs-real
baseline, p-value), feature histograms of real versus synthetic (inline SVG), a 2-D PCA projection
of real and synthetic features (the widest feature space, e.g. embeddings), the most and least
typical synthetic samples, and a grid of real and synthetic samples.  Every class that does not pass
carries a ranked ``diagnosis`` (:mod:`synthgen.diagnose`): the likely cause, its evidence and a fix.
The page is built with :mod:`synthgen.html`, the one report engine.  No wall-clock time is written,
so the same run gives byte-identical reports.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import html as H
from .html import REAL, SYN
from .io.common import dumps, write_bytes_atomic

SCHEMA = "synthgen/report"
SCHEMA_VERSION = 3


def build_report(*, run: dict[str, Any], plan: dict[str, Any] | None, feature_names: list[str],
                 results: dict[str, Any], verdicts: dict[str, dict[str, Any]], counts: dict[str, dict[str, int]],
                 views: dict[str, Any] | None = None, validator_features: dict[str, Any] | None = None,
                 gate: dict[str, Any] | None = None, dropped: list[dict[str, Any]] | None = None,
                 cache: dict[str, Any] | None = None, typical: dict[str, Any] | None = None) -> dict[str, Any]:
    dropped = dropped or []
    classes = {}
    for label, v in verdicts.items():
        classes[label] = {
            "verdict": v["verdict"],
            "n_real": counts.get(label, {}).get("real", 0),
            "n_synthetic": counts.get(label, {}).get("synthetic", 0),
            "n_dropped": sum(1 for d in dropped if d["label"] == label),
            "validators": {name: {**res.per_class[label].to_dict(), "gate": v["validators"].get(name)}
                           for name, res in results.items() if label in res.per_class},
            "admitted": v.get("admitted", v["verdict"] == "pass"),
            "explanation": v.get("explanation"),
            "failed_by": v["failed_by"],
            "warned_by": v.get("warned_by", []),
            "reasons": v["reasons"],
            "typical": (typical or {}).get(label),
        }
    summary = {k: sorted(l for l, v in verdicts.items() if v["verdict"] == k) for k in ("pass", "warn", "fail", "incomputable")}
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "plan": plan,
        "features": list(feature_names),
        "feature_spaces": views or {"default": {"dims": len(feature_names)}},
        "validators": {name: {**{k: v for k, v in res.to_dict().items() if k != "per_class"},
                              "features": (validator_features or {}).get(name, "default")} for name, res in results.items()},
        "gate": gate,
        "filter": {"enabled": bool(gate and gate.get("filter", {}).get("enabled")), "dropped": dropped},
        "cache": cache,
        "classes": classes,
        "summary": summary,
    }


def write_json(report: dict[str, Any], path: str | Path) -> None:
    write_bytes_atomic(path, (dumps(report) + "\n").encode())


def _gain(c: dict[str, Any]) -> str:
    """The utility validator's recall gain with its interval, e.g. ``+0.12 [+0.05,+0.20]``."""
    for v in c["validators"].values():
        d = v.get("details") or {}
        if "gain_ci" in d and d.get("gain") is not None:
            lo, hi = d["gain_ci"]
            return f"{d['gain']:+.2f} [{lo:+.2f},{hi:+.2f}]"
    return "n/a"


def summary_table(report: dict[str, Any]) -> str:
    """The terminal verdict table: per class the reference it was judged against, every validator's
    score, the utility gain (held-out recall, 95% interval) when measured, the verdict and why."""
    names = list(report["validators"])
    classes = report["classes"]
    w = max([5] + [len(c) for c in classes])
    cw = {n: max(4, len(n)) for n in names}
    rw = max([9] + [len(c.get("reference") or "") for c in classes.values()])
    has_gain = any(_gain(c) != "n/a" for c in classes.values())
    gw = max([4] + [len(_gain(c)) for c in classes.values()])
    head = (f"{'class':<{w}}  {'real':>5}  {'synth':>5}  {'reference':<{rw}}  " + "  ".join(f"{n:>{cw[n]}}" for n in names)
            + (f"  {'gain':>{gw}}" if has_gain else "") + "  verdict")
    lines = [head, "-" * len(head)]
    for label, c in classes.items():
        cells = []
        for n in names:
            v = c["validators"].get(n, {})
            cells.append(f"{'n/a' if v.get('score') is None else format(v['score'], '.2f'):>{cw[n]}}")
        why = c["failed_by"] or c.get("warned_by") or []
        extra = f"  ({', '.join(why)})" if why else ""
        lines.append(f"{label:<{w}}  {c['n_real']:>5}  {c['n_synthetic']:>5}  {c.get('reference') or '':<{rw}}  "
                     + "  ".join(cells) + (f"  {_gain(c):>{gw}}" if has_gain else "") + f"  {c['verdict'].upper()}{extra}")
    ref = report.get("reference") or {}
    if ref.get("mode") == "crossfit":
        lines.append(f"reference: cross-fitted, {ref['folds']} folds x {ref['repeats']} repeats: each validation batch was made "
                     "without the real fold it is compared with (never against its own parents)")
    elif ref.get("mode") == "parents":
        lines.append("reference: WARNING: the synthetic samples were judged against their own parents (circular evidence)")
    if report.get("filter", {}).get("dropped"):
        lines.append(f"filter: dropped {len(report['filter']['dropped'])} synthetic samples outside the real support (see report)")
    from .diagnose import one_line

    for label, c in classes.items():
        if c.get("diagnosis"):
            lines.append(f"why {label}: {one_line(c['diagnosis'])}")
    return "\n".join(lines)


# --- typicality ---------------------------------------------------------------------------------

def _widest(views: dict[str, Any]):
    return max(views.values(), key=lambda v: len(v.names)) if views else None


def typicality(validation: Any, k: int = 8, neighbours: int = 5) -> dict[str, Any]:
    """Per class, the ``k`` most and least typical synthetic samples: mean distance to the nearest
    real samples of the class in the widest feature space (standardised, PCA to 64 dims)."""
    from synthgen.validators.distribution import prepare
    from synthgen.validators.stats import knn

    v = _widest(validation.views)
    out = {}
    if v is None:
        return out
    for label in validation.labels:
        x, y = v.real.get(label), v.synthetic.get(label)
        if x is None or y is None or len(x) < 2 or len(y) == 0:
            continue
        xs, ys = prepare(x, y, 64)
        kk = min(neighbours, len(xs))
        d = knn(ys, xs, kk)[0].mean(1)
        order = np.argsort(d, kind="stable")
        ids = v.synthetic_ids[label]
        out[label] = {"features": v.name, "most": [{"id": ids[i], "distance": float(d[i])} for i in order[:k]],
                      "least": [{"id": ids[i], "distance": float(d[i])} for i in order[::-1][:k]]}
    return out


# --- diagnosis ----------------------------------------------------------------------------------

def add_diagnosis(report: dict[str, Any], views: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per class a ranked ``diagnosis`` list (:mod:`synthgen.diagnose`; empty for a PASS class).  With
    the feature spaces (``views``), a distribution shift names its features and their direction."""
    from .diagnose import diagnose_class, feature_shift

    kinds = {n: v.get("validator") for n, v in report.get("validators", {}).items()}
    for label, c in report["classes"].items():
        shift = None
        if views and c["verdict"] != "pass":
            # the spaces of the validators that did not pass (else every space) name the shifted features
            bad = {report["validators"][n].get("features") for n, v in c["validators"].items()
                   if (v.get("gate") or v.get("status")) in ("fail", "warn") and n in report["validators"]}
            use = [w for w in views.values() if w.name in bad] or list(views.values())
            shift = {w.name: feature_shift(w.names, w.real[label], w.synthetic[label])
                     for w in use if len(w.names) <= 128 and label in w.real and label in w.synthetic}
        c["diagnosis"] = diagnose_class(c, shift, kinds)
    return report


# --- HTML ---------------------------------------------------------------------------------------

UNITS = {  # x-axis units of the histograms, by feature name (featurizers may set ``feature_units``)
    **{f"mean_{c}": "intensity, 0-255" for c in "rgb"}, **{f"std_{c}": "intensity std, 0-255" for c in "rgb"},
    "brightness": "mean luma, 0-255", "contrast": "luma std, 0-255", "sharpness": "variance of the Laplacian",
    "edge_density": "share of edge pixels", "colourfulness": "Hasler-Süsstrunk M",
    "log_chars": "log(1 + characters)", "log_tokens": "log(1 + tokens)", "mean_token_len": "characters",
    "type_token_ratio": "distinct / all words", "punct_rate": "share of characters", "upper_rate": "share of characters",
    "digit_rate": "share of characters", "space_rate": "share of characters", "line_rate": "newlines per token",
    "stopword_rate": "share of words",
    "n_points": "log10(1 + points)", "extent_1": "unit-sphere units", "extent_2": "unit-sphere units",
    "extent_3": "unit-sphere units", "density": "log10 points per cubic unit", "nn_spacing": "unit-sphere units",
    "normal_spread": "0 plane - 2/3 sphere",
}


def unit_of(name: str, featurizer: Any = None) -> str:
    own = getattr(featurizer, "feature_units", None)
    if isinstance(own, dict) and name in own:
        return str(own[name])
    if name.startswith("unigram_"):
        return "share of words"
    if name.startswith("d2_"):
        return "share of point pairs"
    if name.startswith(("thumb_", "px_")):
        return "luma, 0-1"
    return UNITS.get(name, "")


def _svg_scatter(real: np.ndarray, syn: np.ndarray, title: str, size: int = 260) -> str:
    """2-D PCA of real and synthetic rows (axes fitted on the real rows)."""
    from synthgen.validators.stats import pca_basis

    if len(real) < 3:
        return ""
    mu, sd = real.mean(0), real.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    zr, zs = (real - mu) / sd, (syn - mu) / sd
    b = pca_basis(zr, 2)
    if b.shape[1] < 2:
        b = np.hstack([b, np.zeros_like(b)])
    pr, ps = zr @ b, (zs @ b) if len(zs) else np.zeros((0, 2))
    allp = np.vstack([pr, ps])
    lo, hi = allp.min(0), allp.max(0)
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    to = lambda p: 8 + (p - lo) / span * (size - 16)  # noqa: E731
    parts = [f'<svg width="{size}" height="{size + 30}" role="img" aria-label="{H.esc(title)}">',
             f'<text x="2" y="11" font-size="10">{H.esc(title)}</text>',
             f'<rect x="0" y="16" width="{size}" height="{size}" fill="none" stroke="#ccc"/>',
             (f'<text class="xlabel" x="{size / 2}" y="{size + 28}" font-size="9" text-anchor="middle">principal axis 1 '
              '(standardised units of the real class)</text>')]
    for pts, color in ((pr, REAL), (ps, SYN)):
        if len(pts) > 1000:  # an evenly spaced 1,000 keeps the page small for huge classes
            pts = pts[np.linspace(0, len(pts) - 1, 1000).astype(int)]
        for p in to(pts):
            parts.append(f'<circle cx="{p[0]:.1f}" cy="{16 + size - p[1]:.1f}" r="2.2" fill="{color}" opacity="0.6"/>')
    parts.append("</svg>")
    return "".join(parts)


def returned_exit_code(report: dict[str, Any] | None) -> int:
    """The exit code a command returns for its report, decided once when the report was made: a
    validation report's gate code (``exit_code``) only with ``gate.ci=true``; an evaluate report's
    ``limits.exit_code`` (3 when a robustness limit is crossed)."""
    if not isinstance(report, dict):
        return 0
    if isinstance(report.get("limits"), dict):
        return int(report["limits"].get("exit_code", 0) or 0)
    return int(report.get("exit_code", 0) or 0) if (report.get("gate") or {}).get("ci") else 0


def _diagnosis_html(diag: list[dict[str, Any]]) -> str:
    if not diag:
        return ""
    items = []
    for d in diag:
        items.append(f"<li><b>{H.esc(d['title'])}</b> (strength {d['strength']:.2f}; {H.esc(', '.join(d['validators']))}): "
                     f"{H.esc('; '.join(d['evidence']))}<br><span class='fix'>fix: {H.esc(d['fix'])}</span></li>")
    return "<div class='diag'><b>Diagnosis</b> (most likely cause first)<ol>" + "".join(items) + "</ol></div>"


def write_html(report: dict[str, Any], path: str | Path, features: dict[str, dict[str, np.ndarray]] | None = None,
               examples: dict[str, dict[str, Sequence[Any]]] | None = None, views: dict[str, Any] | None = None,
               samples_by_id: dict[str, Any] | None = None) -> None:
    """``views``: feature spaces (:class:`synthgen.validate.View`); ``features`` (older callers):
    ``{label: {"real": X, "synthetic": Y}}`` for ``report["features"]``; ``examples[label] =
    {"real": [...], "synthetic": [...]}`` (samples, drawn with their annotations, or bare data);
    ``samples_by_id`` resolves the typical-sample ids."""
    esc = H.esc
    names = list(report["validators"])
    summ = report.get("summary", {})
    run = report["run"]
    code = returned_exit_code(report)
    ci_note = ("" if (report.get("gate") or {}).get("ci") else
               f" (gate.ci=false; with gate.ci=true it would be {report.get('exit_code', 0)})" if report.get("exit_code") else "")
    out = [(f"<h1>synthgen validation report</h1><p>schema {esc(report['schema'])} v{report['schema_version']}; "
            f"command {esc(run.get('command'))}; generator <code>{esc(run.get('generator'))}</code>; "
            f"seed {esc(run.get('seed'))}; dataset <code>{esc(run.get('dataset'))}</code></p>"),
           ("<p>" + ", ".join(f"<span class='{k}'>{k.upper()}: {len(summ.get(k, []))}</span>" for k in ("pass", "warn", "fail", "incomputable"))
            + f"; <span class='exit'>exit code {code}</span>{esc(ci_note)}</p>"),
           f"<p><span style='color:{REAL}'>&#9632; real</span> <span style='color:{SYN}'>&#9632; synthetic</span></p>",
           ("<h2>Verdicts</h2><p>Score per validator: 1 = as close to the real class as real halves are to each other, "
            "0.5 = at the threshold.  Hover a cell for the reason.</p>")]
    rows, rcls = [], []
    for label, c in report["classes"].items():
        cells = [esc(label), str(c["n_real"]), str(c["n_synthetic"]), str(c.get("n_dropped", 0))]
        for n in names:
            v = c["validators"].get(n, {})
            g = v.get("gate") or v.get("status")
            txt = "n/a" if v.get("status") == "incomputable" else H.fmt(v.get("score"), ".2f")
            cells.append(H.cell(txt, str(g) if g else None, v.get("reason") or None))
        why = c["failed_by"] or c.get("warned_by") or []
        top = (c.get("diagnosis") or [{}])[0].get("title")
        cells.append(f"<b>{c['verdict'].upper()}</b>" + (f" ({esc(', '.join(why))})" if why else "")
                     + (f"<br><i>{esc(top)}</i>" if top else ""))
        rows.append(cells)
        rcls.append(c["verdict"])
    out.append(H.table(["class", "real", "syn", "drop"] + [H.wbr(n) for n in names] + ["verdict"], rows, rcls,
                       cls="verdicts compact" if len(names) > 6 else "verdicts"))
    gate = report.get("gate")
    if gate:
        out.append(f"<details><summary>Gate rules</summary><pre>{esc(dumps(gate))}</pre></details>")
    dropped = report.get("filter", {}).get("dropped") or []
    if dropped:
        out.append(f"<h2>Filtered samples ({len(dropped)})</h2><details{' open' if len(dropped) <= 20 else ''}><summary>why each was dropped</summary>")
        out.append(H.table(["id", "class", "why", "nearest real", "distance"],
                           [[esc(d["id"]), esc(d["label"]), esc("; ".join(d["reasons"])), esc(d.get("nearest_real", "")),
                             H.fmt(d.get("nearest_distance"))] for d in dropped[:200]]) + "</details>")
    if report.get("plan"):
        out.append("<h2>Plan</h2>" + H.table(["class", "real", "target", "generate", "note"],
                                             [[esc(r["label"]), str(r["real"]), str(r["target"]), str(r["synthetic"]), esc(r["note"])]
                                              for r in report["plan"]["rows"]]))
    widest = _widest(views) if views else None
    for label, c in report["classes"].items():
        out.append(f"<h2 id='class-{esc(label)}'>Class {esc(label)}: {c['verdict'].upper()}</h2>")
        for r in c.get("reasons", []):
            out.append(f"<p class='incomputable'>{esc(r)}</p>")
        out.append(_diagnosis_html(c.get("diagnosis") or []))
        vrows, vcls = [], []
        for n in names:
            v = c["validators"].get(n)
            if not v:
                continue
            det = v.get("details") or {}
            ev = []
            for key in ("metric", "worst_feature", "accuracy", "kappa", "dims", "exact_copies_of_real", "dcr_ratio", "median_margin"):
                if det.get(key) is not None:
                    ev.append(f"{key}={H.fmt(det[key], '.3g')}")
            fd = det.get("full_data") or {}
            for key in ("auc", "ci_low", "ci_high", "precision", "recall", "density", "coverage", "alpha_precision",
                        "beta_recall", "authenticity", "frechet", "energy"):
                if key in fd:
                    ev.append(f"{key}={H.fmt(fd[key], '.3g')}")
            base = v.get("baseline") or {}
            vrows.append([H.wbr(n), esc(report["validators"][n].get("features") or "samples"), H.fmt(v.get("statistic")),
                          H.fmt(v.get("threshold")), H.fmt(base.get("median")), H.fmt(v.get("score"), ".2f"),
                          H.fmt(v.get("p_value"), ".3g"), H.fmt(det.get("stability"), ".2f"), esc(v.get("gate")),
                          esc(v.get("reason") or ", ".join(ev))])
            vcls.append(str(v.get("gate") or v.get("status")))
        out.append(H.table(["validator", "features", "statistic", "threshold", "baseline median", "score", "p-value",
                            "stability", "gate", "evidence"],
                           vrows, vcls, cls="compact"))
        if views:
            for w in views.values():
                if len(w.names) <= 40 and label in w.synthetic:
                    fr = w.real.get(label, np.zeros((0, len(w.names))))
                    fs = w.synthetic[label]
                    out.append(f"<div class='hists'><b>{esc(w.name)} features</b> (share of each set per bin)<br>")
                    for j, f in enumerate(w.names):
                        out.append(H.svg_hist(fr[:, j] if len(fr) else np.zeros(0), fs[:, j] if len(fs) else np.zeros(0), f,
                                              unit_of(f, w.featurizer)))
                    out.append("</div>")
            if widest is not None and label in widest.synthetic and len(widest.real.get(label, ())) >= 3:
                out.append("<div class='plots'>" + _svg_scatter(widest.real[label], widest.synthetic[label],
                                                                f"PCA of {widest.name} features ({len(widest.names)}-d)") + "</div>")
        elif features and label in features:
            fr, fs = features[label]["real"], features[label]["synthetic"]
            out.append("<div class='hists'>")
            for j, f in enumerate(report["features"]):
                out.append(H.svg_hist(fr[:, j] if len(fr) else np.zeros(0), fs[:, j] if len(fs) else np.zeros(0), f, unit_of(f)))
            out.append("</div>")
        t = c.get("typical")
        if t and samples_by_id:
            for which, title in (("most", "most typical synthetic"), ("least", "least typical synthetic")):
                ss = [samples_by_id[d["id"]] for d in t[which] if d["id"] in samples_by_id]
                caps = [f"{d['id'][-12:]} d={d['distance']:.2f}" for d in t[which] if d["id"] in samples_by_id]
                if ss:
                    out.append(f"<div><b>{title}</b> (distance to the nearest real, {esc(t['features'])} features)<br>"
                               + H.thumbnails(ss, caps) + "</div>")
        if examples and label in examples:
            for kind in ("real", "synthetic"):
                items = examples[label].get(kind, [])
                if len(items):
                    out.append(f"<div><b>{kind}</b><br>{H.thumbnails(items, [getattr(s, 'id', '')[-16:] for s in items])}</div>")
    write_bytes_atomic(path, H.page("synthgen report", out).encode())
