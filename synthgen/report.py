"""``report.json`` (schema ``synthgen/report``, version 3; see docs/report-schema.md) and ``report.html``.

The HTML is one self-contained file with no scripts: the verdict table, the gate's rules and the
samples it dropped, and per class a table of every validator (statistic, threshold, real-vs-real
baseline, p-value), feature histograms of real versus synthetic (inline SVG), a 2-D PCA projection
of real and synthetic features (the widest feature space, e.g. embeddings), the most and least
typical synthetic samples, and a grid of real and synthetic samples.  No wall-clock time is written,
so the same run gives byte-identical reports.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .io.common import dumps, encode_png, write_bytes_atomic

SCHEMA = "synthgen/report"
SCHEMA_VERSION = 3
REAL, SYN = "#1f77b4", "#ff7f0e"


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


# --- HTML ---------------------------------------------------------------------------------------

def _svg_hist(real: np.ndarray, syn: np.ndarray, title: str, bins: int = 20) -> str:
    both = np.concatenate([real, syn]) if len(real) + len(syn) else np.zeros(1)
    lo, hi = float(np.min(both)), float(np.max(both))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    hr = np.histogram(real, edges)[0] / max(1, len(real))
    hs = np.histogram(syn, edges)[0] / max(1, len(syn))
    top = max(float(hr.max(initial=0)), float(hs.max(initial=0)), 1e-9)
    W, H, bw = 200, 80, 200 / bins
    parts = [f'<svg width="{W}" height="{H + 16}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="2" y="11" font-size="10">{html.escape(title)}</text>']
    for i in range(bins):
        for h, color, off in ((hr[i], REAL, 0.0), (hs[i], SYN, bw / 2)):
            bh = H * h / top
            parts.append(f'<rect x="{i * bw + off:.1f}" y="{16 + H - bh:.1f}" width="{bw / 2:.1f}" height="{bh:.1f}" fill="{color}" opacity="0.8"/>')
    parts.append("</svg>")
    return "".join(parts)


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
    parts = [f'<svg width="{size}" height="{size + 16}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="2" y="11" font-size="10">{html.escape(title)}</text>',
             f'<rect x="0" y="16" width="{size}" height="{size}" fill="none" stroke="#ccc"/>']
    for pts, color in ((pr, REAL), (ps, SYN)):
        if len(pts) > 1000:  # an evenly spaced 1,000 keeps the page small for huge classes
            pts = pts[np.linspace(0, len(pts) - 1, 1000).astype(int)]
        for p in to(pts):
            parts.append(f'<circle cx="{p[0]:.1f}" cy="{16 + size - p[1]:.1f}" r="2.2" fill="{color}" opacity="0.6"/>')
    parts.append("</svg>")
    return "".join(parts)


def _thumb(img: np.ndarray, size: int = 64) -> str:
    from PIL import Image

    a = np.asarray(img)
    im = Image.fromarray(a if a.ndim == 2 or a.shape[2] != 1 else a[:, :, 0])
    scale = max(1, size // max(a.shape[:2]))
    if scale > 1:
        im = im.resize((a.shape[1] * scale, a.shape[0] * scale), Image.NEAREST)
    elif max(a.shape[:2]) > 2 * size:
        im.thumbnail((2 * size, 2 * size))
    return "data:image/png;base64," + base64.b64encode(encode_png(np.asarray(im))).decode()


def _svg_points(data: Any, size: int = 96) -> str:
    p = np.asarray(data.get("points") if isinstance(data, dict) else data, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        return ""
    p = p[np.linspace(0, len(p) - 1, min(len(p), 400)).astype(int), :2]
    lo, hi = p.min(0), p.max(0)
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    q = 4 + (p - lo) / span * (size - 8)
    return (f'<svg width="{size}" height="{size}" class="pc">' +
            "".join(f'<circle cx="{a:.1f}" cy="{size - b:.1f}" r="0.8" fill="#333"/>' for a, b in q) + "</svg>")


def _render_items(items: Sequence[Any], kind: str, captions: Sequence[str] | None = None) -> str:
    esc = html.escape
    if not len(items):
        return ""
    caps = list(captions) if captions is not None else [""] * len(items)
    first = items[0]
    if isinstance(first, np.ndarray) and first.ndim >= 2 and first.dtype == np.uint8:
        return "".join(f"<figure><img src='{_thumb(im)}' alt='{esc(kind)}'><figcaption>{esc(c)}</figcaption></figure>"
                       for im, c in zip(items, caps))
    if isinstance(first, str):
        return "<ul>" + "".join(f"<li>{esc(t[:200])}{(' <i>' + esc(c) + '</i>') if c else ''}</li>" for t, c in zip(items, caps)) + "</ul>"
    return "".join(f"<figure>{_svg_points(d)}<figcaption>{esc(c)}</figcaption></figure>" for d, c in zip(items, caps))


def _fmt(x: Any, f: str = ".4g") -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, float, np.floating, np.integer)):
        return format(float(x), f)
    return html.escape(str(x))


def write_html(report: dict[str, Any], path: str | Path, features: dict[str, dict[str, np.ndarray]] | None = None,
               examples: dict[str, dict[str, Sequence[Any]]] | None = None, views: dict[str, Any] | None = None,
               samples_by_id: dict[str, Any] | None = None) -> None:
    """``views``: feature spaces (:class:`synthgen.validate.View`); ``features`` (older callers):
    ``{label: {"real": X, "synthetic": Y}}`` for ``report["features"]``; ``examples[label] =
    {"real": [...], "synthetic": [...]}``; ``samples_by_id`` resolves the typical-sample ids."""
    esc = html.escape
    names = list(report["validators"])
    summ = report.get("summary", {})
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>synthgen report</title>",
           "<link rel='icon' href='data:,'><style>",
           "body{font-family:sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin:6px 0}",
           "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}",
           ".pass{background:#d4f7d4}.warn{background:#fff1c2}.fail{background:#f9d0d0}.incomputable,.ignored{background:#eee}",
           "figure{display:inline-block;margin:2px;text-align:center}figcaption{font-size:10px;color:#555}",
           "img{image-rendering:pixelated}.hists svg,.plots svg{margin:4px}.pc{border:1px solid #ddd}",
           "</style></head><body>",
           f"<h1>synthgen validation report</h1><p>schema {esc(report['schema'])} v{report['schema_version']}; "
           f"command {esc(str(report['run'].get('command')))}; generator <code>{esc(str(report['run'].get('generator')))}</code>; "
           f"seed {esc(str(report['run'].get('seed')))}; dataset <code>{esc(str(report['run'].get('dataset')))}</code></p>",
           "<p>" + ", ".join(f"<span class='{k}'>{k.upper()}: {len(summ.get(k, []))}</span>" for k in ("pass", "warn", "fail", "incomputable"))
           + f"; exit code {report.get('exit_code', 0)}</p>",
           f"<p><span style='color:{REAL}'>&#9632; real</span> <span style='color:{SYN}'>&#9632; synthetic</span></p>",
           "<h2>Verdicts</h2><p>Score per validator: 1 = as close to the real class as real halves are to each other, "
           "0.5 = at the threshold.</p><table><tr><th>class</th><th>real</th><th>synthetic</th><th>dropped</th>"]
    out += [f"<th>{esc(n)}</th>" for n in names]
    out.append("<th>verdict</th></tr>")
    for label, c in report["classes"].items():
        out.append(f"<tr class='{c['verdict']}'><td>{esc(label)}</td><td>{c['n_real']}</td><td>{c['n_synthetic']}</td><td>{c.get('n_dropped', 0)}</td>")
        for n in names:
            v = c["validators"].get(n, {})
            g = v.get("gate") or v.get("status")
            cell = "incomputable" if v.get("status") == "incomputable" else _fmt(v.get("score"), ".2f")
            out.append(f"<td class='{esc(str(g))}' title='{esc(str(v.get('reason') or ''))}'>{cell}</td>")
        why = c["failed_by"] or c.get("warned_by") or []
        out.append(f"<td>{c['verdict'].upper()}{(' (' + esc(', '.join(why)) + ')') if why else ''}</td></tr>")
    out.append("</table>")
    gate = report.get("gate")
    if gate:
        out.append(f"<details><summary>Gate rules</summary><pre>{esc(dumps(gate))}</pre></details>")
    dropped = report.get("filter", {}).get("dropped") or []
    if dropped:
        out.append(f"<h2>Filtered samples ({len(dropped)})</h2><details{' open' if len(dropped) <= 20 else ''}><summary>why each was dropped</summary>"
                   "<table><tr><th>id</th><th>class</th><th>why</th><th>nearest real</th><th>distance</th></tr>")
        for d in dropped[:200]:
            out.append(f"<tr><td>{esc(d['id'])}</td><td>{esc(d['label'])}</td><td>{esc('; '.join(d['reasons']))}</td>"
                       f"<td>{esc(str(d.get('nearest_real', '')))}</td><td>{_fmt(d.get('nearest_distance'))}</td></tr>")
        out.append("</table></details>")
    if report.get("plan"):
        out.append("<h2>Plan</h2><table><tr><th>class</th><th>real</th><th>target</th><th>generate</th><th>note</th></tr>")
        for r in report["plan"]["rows"]:
            out.append(f"<tr><td>{esc(r['label'])}</td><td>{r['real']}</td><td>{r['target']}</td><td>{r['synthetic']}</td><td>{esc(r['note'])}</td></tr>")
        out.append("</table>")
    widest = _widest(views) if views else None
    for label, c in report["classes"].items():
        out.append(f"<h2 id='class-{esc(label)}'>Class {esc(label)}: {c['verdict'].upper()}</h2>")
        for r in c.get("reasons", []):
            out.append(f"<p class='incomputable'>{esc(r)}</p>")
        out.append("<table><tr><th>validator</th><th>features</th><th>statistic</th><th>threshold</th><th>baseline median</th>"
                   "<th>score</th><th>p-value</th><th>gate</th><th>evidence</th></tr>")
        for n in names:
            v = c["validators"].get(n)
            if not v:
                continue
            det = v.get("details") or {}
            ev = []
            for key in ("metric", "worst_feature", "accuracy", "kappa", "dims", "exact_copies_of_real", "dcr_ratio", "median_margin"):
                if det.get(key) is not None:
                    ev.append(f"{key}={_fmt(det[key], '.3g')}")
            fd = det.get("full_data") or {}
            for key in ("auc", "ci_low", "ci_high", "precision", "recall", "density", "coverage", "alpha_precision",
                        "beta_recall", "authenticity", "frechet", "energy"):
                if key in fd:
                    ev.append(f"{key}={_fmt(fd[key], '.3g')}")
            base = v.get("baseline") or {}
            out.append(f"<tr class='{esc(str(v.get('gate') or v.get('status')))}'><td>{esc(n)}</td>"
                       f"<td>{esc(str(report['validators'][n].get('features') or 'samples'))}</td>"
                       f"<td>{_fmt(v.get('statistic'))}</td><td>{_fmt(v.get('threshold'))}</td><td>{_fmt(base.get('median'))}</td>"
                       f"<td>{_fmt(v.get('score'), '.2f')}</td><td>{_fmt(v.get('p_value'), '.3g')}</td><td>{esc(str(v.get('gate')))}</td>"
                       f"<td>{esc(v.get('reason') or ', '.join(ev))}</td></tr>")
        out.append("</table>")
        if views:
            for w in views.values():
                if len(w.names) <= 40 and label in w.synthetic:
                    fr = w.real.get(label, np.zeros((0, len(w.names))))
                    fs = w.synthetic[label]
                    out.append(f"<div class='hists'><b>{esc(w.name)} features</b><br>")
                    for j, f in enumerate(w.names):
                        out.append(_svg_hist(fr[:, j] if len(fr) else np.zeros(0), fs[:, j] if len(fs) else np.zeros(0), f))
                    out.append("</div>")
            if widest is not None and label in widest.synthetic and len(widest.real.get(label, ())) >= 3:
                out.append("<div class='plots'>" + _svg_scatter(widest.real[label], widest.synthetic[label],
                                                                f"PCA of {widest.name} features ({len(widest.names)}-d)") + "</div>")
        elif features and label in features:
            fr, fs = features[label]["real"], features[label]["synthetic"]
            out.append("<div class='hists'>")
            for j, f in enumerate(report["features"]):
                out.append(_svg_hist(fr[:, j] if len(fr) else np.zeros(0), fs[:, j] if len(fs) else np.zeros(0), f))
            out.append("</div>")
        t = c.get("typical")
        if t and samples_by_id:
            for which, title in (("most", "most typical synthetic"), ("least", "least typical synthetic")):
                ss = [samples_by_id[d["id"]] for d in t[which] if d["id"] in samples_by_id]
                caps = [f"{d['id'][-12:]} d={d['distance']:.2f}" for d in t[which] if d["id"] in samples_by_id]
                if ss:
                    out.append(f"<div><b>{title}</b> (distance to the nearest real, {esc(t['features'])} features)<br>"
                               + _render_items([s.data for s in ss], which, caps) + "</div>")
        if examples and label in examples:
            for kind in ("real", "synthetic"):
                items = examples[label].get(kind, [])
                if len(items):
                    out.append(f"<div><b>{kind}</b><br>{_render_items(items, kind)}</div>")
    out.append("</body></html>\n")
    write_bytes_atomic(path, "".join(out).encode())
