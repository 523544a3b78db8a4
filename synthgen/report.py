"""``report.json`` (schema ``synthgen/report``, version 1; see docs/report-schema.md) and ``report.html``.

The HTML is one self-contained file: a per-class verdict table, feature histograms of real versus
synthetic (inline SVG) and a grid of real and synthetic samples (inline PNG).  No wall-clock time is
written, so the same run gives byte-identical reports.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .io.common import dumps, encode_png, write_bytes_atomic

SCHEMA = "synthgen/report"
SCHEMA_VERSION = 1


def build_report(*, run: dict[str, Any], plan: dict[str, Any] | None, feature_names: list[str],
                 results: dict[str, Any], verdicts: dict[str, dict[str, Any]], counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    classes = {}
    for label, v in verdicts.items():
        classes[label] = {
            "verdict": v["verdict"],
            "n_real": counts.get(label, {}).get("real", 0),
            "n_synthetic": counts.get(label, {}).get("synthetic", 0),
            "validators": {name: res.per_class[label].to_dict() for name, res in results.items() if label in res.per_class},
            "failed_by": v["failed_by"],
            "reasons": v["reasons"],
        }
    summary = {k: sorted(l for l, v in verdicts.items() if v["verdict"] == k) for k in ("pass", "fail", "incomputable")}
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "plan": plan,
        "features": list(feature_names),
        "validators": {name: {k: v for k, v in res.to_dict().items() if k != "per_class"} for name, res in results.items()},
        "classes": classes,
        "summary": summary,
    }


def write_json(report: dict[str, Any], path: str | Path) -> None:
    write_bytes_atomic(path, (dumps(report) + "\n").encode())


def summary_table(report: dict[str, Any]) -> str:
    names = list(report["validators"])
    w = max([5] + [len(c) for c in report["classes"]])
    head = f"{'class':<{w}}  {'real':>5}  {'synth':>5}  " + "  ".join(f"{n + ' score':>10}" for n in names) + "  verdict"
    lines = [head, "-" * len(head)]
    for label, c in report["classes"].items():
        cells = []
        for n in names:
            v = c["validators"].get(n, {})
            cells.append(f"{'n/a' if v.get('score') is None else format(v['score'], '.2f'):>10}")
        extra = f"  ({', '.join(c['failed_by'])})" if c["failed_by"] else ""
        lines.append(f"{label:<{w}}  {c['n_real']:>5}  {c['n_synthetic']:>5}  " + "  ".join(cells) + f"  {c['verdict'].upper()}{extra}")
    return "\n".join(lines)


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
        for h, color, off in ((hr[i], "#1f77b4", 0.0), (hs[i], "#ff7f0e", bw / 2)):
            bh = H * h / top
            parts.append(f'<rect x="{i * bw + off:.1f}" y="{16 + H - bh:.1f}" width="{bw / 2:.1f}" height="{bh:.1f}" fill="{color}" opacity="0.8"/>')
    parts.append("</svg>")
    return "".join(parts)


def _thumb(img: np.ndarray, size: int = 64) -> str:
    from PIL import Image

    a = np.asarray(img)
    im = Image.fromarray(a if a.ndim == 2 or a.shape[2] != 1 else a[:, :, 0])
    scale = max(1, size // max(a.shape[:2]))
    if scale > 1:
        im = im.resize((a.shape[1] * scale, a.shape[0] * scale), Image.NEAREST)
    return "data:image/png;base64," + base64.b64encode(encode_png(np.asarray(im))).decode()


def write_html(report: dict[str, Any], path: str | Path, features: dict[str, dict[str, np.ndarray]] | None = None,
               examples: dict[str, dict[str, Sequence[Any]]] | None = None) -> None:
    """``features[label] = {"real": X, "synthetic": Y}``; ``examples[label] = {"real": [...], "synthetic": [...]}``."""
    esc = html.escape
    names = list(report["validators"])
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>synthgen report</title><style>",
           "body{font-family:sans-serif;margin:20px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}",
           ".pass{background:#d4f7d4}.fail{background:#f9d0d0}.incomputable{background:#eee}.grid img{margin:1px;image-rendering:pixelated}",
           ".hists svg{margin:4px}</style></head><body>",
           f"<h1>synthgen validation report</h1><p>schema {esc(report['schema'])} v{report['schema_version']}; "
           f"generator <code>{esc(str(report['run'].get('generator')))}</code>; seed {esc(str(report['run'].get('seed')))}; "
           f"dataset <code>{esc(str(report['run'].get('dataset')))}</code></p>",
           "<p><span style='color:#1f77b4'>&#9632; real</span> <span style='color:#ff7f0e'>&#9632; synthetic</span></p>",
           "<h2>Verdicts</h2><table><tr><th>class</th><th>real</th><th>synthetic</th>"]
    for n in names:
        out.append(f"<th>{esc(n)} statistic / threshold</th><th>{esc(n)} score</th><th>{esc(n)} p</th>")
    out.append("<th>verdict</th></tr>")
    for label, c in report["classes"].items():
        out.append(f"<tr class='{c['verdict']}'><td>{esc(label)}</td><td>{c['n_real']}</td><td>{c['n_synthetic']}</td>")
        for n in names:
            v = c["validators"].get(n, {})
            if v.get("status") == "incomputable":
                out.append(f"<td colspan='3'>incomputable: {esc(str(v.get('reason')))}</td>")
            else:
                fmt = lambda x, f=".4g": "" if x is None else format(x, f)  # noqa: E731
                out.append(f"<td>{fmt(v.get('statistic'))} / {fmt(v.get('threshold'))}</td><td>{fmt(v.get('score'), '.2f')}</td><td>{fmt(v.get('p_value'), '.3g')}</td>")
        why = f" ({esc(', '.join(c['failed_by']))})" if c["failed_by"] else ""
        out.append(f"<td>{c['verdict'].upper()}{why}</td></tr>")
    out.append("</table>")
    if report.get("plan"):
        out.append("<h2>Plan</h2><table><tr><th>class</th><th>real</th><th>target</th><th>generate</th><th>note</th></tr>")
        for r in report["plan"]["rows"]:
            out.append(f"<tr><td>{esc(r['label'])}</td><td>{r['real']}</td><td>{r['target']}</td><td>{r['synthetic']}</td><td>{esc(r['note'])}</td></tr>")
        out.append("</table>")
    for label in report["classes"]:
        out.append(f"<h2>Class {esc(label)}</h2>")
        if features and label in features:
            fr, fs = features[label]["real"], features[label]["synthetic"]
            out.append("<div class='hists'>")
            for j, f in enumerate(report["features"]):
                out.append(_svg_hist(fr[:, j] if len(fr) else np.zeros(0), fs[:, j] if len(fs) else np.zeros(0), f))
            out.append("</div>")
        if examples and label in examples:
            for kind in ("real", "synthetic"):
                imgs = examples[label].get(kind, [])
                if len(imgs) and isinstance(imgs[0], np.ndarray) and imgs[0].ndim >= 2:
                    out.append(f"<div class='grid'><b>{kind}</b><br>" + "".join(f"<img src='{_thumb(im)}' alt='{kind}'>" for im in imgs) + "</div>")
                elif len(imgs):
                    out.append(f"<div><b>{kind}</b><ul>" + "".join(f"<li>{esc(str(t)[:200])}</li>" for t in imgs) + "</ul></div>")
    out.append("</body></html>\n")
    write_bytes_atomic(path, "".join(out).encode())
