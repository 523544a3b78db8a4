"""The one report engine: a small HTML/SVG toolkit that every synthgen report page is built from.

One stylesheet (:data:`CSS`), one escaping function (:func:`esc`: everything that comes from data
goes through it), one page wrapper, one table builder, one SVG histogram with axes and units, one SVG
line and bar chart, one thumbnail embedder per modality (images with their boxes, masks and
keypoints drawn; text with its line breaks, cut with an ellipsis; point clouds seen from above and
cropped to the inserted objects).  The pages hold no scripts and no wall-clock time, so the same
inputs give byte-identical pages.
"""
from __future__ import annotations

import base64
import html as _html
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

REAL, SYN = "#1f77b4", "#ff7f0e"
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

CSS = (
    "body{font-family:sans-serif;margin:20px;color:#222;max-width:100%}"
    "table{border-collapse:collapse;margin:6px 0;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;text-align:left;overflow-wrap:anywhere;vertical-align:top}"
    "th{background:#f6f6f6;overflow-wrap:normal}table.compact td,table.compact th{font-size:12px;padding:2px 4px}"
    ".pass,.ok{background:#d4f7d4}.warn{background:#fff1c2}.fail,.bad{background:#f9d0d0}.incomputable,.ignored{background:#eee}"
    "figure{display:inline-block;margin:2px;text-align:center;vertical-align:top}"
    "figcaption{font-size:10px;color:#555;max-width:160px;overflow-wrap:anywhere}"
    "img,svg image{image-rendering:pixelated}.hists svg,.plots svg,.charts svg{margin:4px}.pc{border:1px solid #ddd}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere}"
    ".txt{white-space:pre-wrap;overflow-wrap:anywhere;font-family:monospace;font-size:12px;border:1px solid #ddd;"
    "padding:4px 6px;margin:3px 0;max-width:760px}.txt i{color:#555;font-family:sans-serif}"
    ".example{display:inline-block;margin:3px;border:1px solid #eee}.charts svg{vertical-align:top}"
    ".diag{margin:4px 0 10px 0}.diag li{margin:2px 0}.fix{color:#225}"
)


def esc(x: Any) -> str:
    """Text from data -> HTML text (quotes too, so it is safe inside attributes)."""
    return _html.escape("" if x is None else str(x), quote=True)


def wbr(x: Any) -> str:
    """Escaped text that may wrap after underscores and dots (long validator names in narrow headers)."""
    return esc(x).replace("_", "_<wbr>").replace(".", ".<wbr>")


def fmt(x: Any, f: str = ".4g") -> str:
    """A number formatted (``f``), an empty string for None, anything else escaped."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, float, np.floating, np.integer)):
        return format(float(x), f)
    return esc(x)


def page(title: str, body: Iterable[str]) -> str:
    """A whole self-contained page: the one stylesheet, no scripts."""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><link rel='icon' href='data:,'><style>{CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def cell(content: str, cls: str | None = None, title: str | None = None, header: bool = False) -> str:
    """One table cell; ``content`` is HTML (escape data first), ``cls`` and ``title`` are escaped here."""
    tag = "th" if header else "td"
    a = (f" class='{esc(cls)}'" if cls else "") + (f" title='{esc(title)}'" if title else "")
    return f"<{tag}{a}>{content}</{tag}>"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str | None] | None = None,
          cls: str | None = None) -> str:
    """A table.  ``header`` cells are HTML (use :func:`esc`/:func:`wbr`); a row cell that already starts
    with ``<td``/``<th`` is used as is (see :func:`cell`), any other string is wrapped in ``<td>``."""
    out = [f"<table{f' class={chr(39)}{esc(cls)}{chr(39)}' if cls else ''}><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"]
    for i, r in enumerate(rows):
        rc = row_classes[i] if row_classes is not None and i < len(row_classes) else None
        out.append(f"<tr{f' class={chr(39)}{esc(rc)}{chr(39)}' if rc else ''}>"
                   + "".join(c if c.startswith(("<td", "<th")) else f"<td>{c}</td>" for c in r) + "</tr>")
    out.append("</table>")
    return "".join(out)


# --- charts --------------------------------------------------------------------------------------

def _tick(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e4 or a < 1e-2:
        return f"{v:.1e}"
    return f"{v:.3g}"


def svg_hist(real: np.ndarray, syn: np.ndarray, title: str, unit: str = "", bins: int = 20) -> str:
    """Real versus synthetic histogram of one feature: x axis the feature's value (with its unit),
    y axis the share of each set's samples per bin (%), both with ticks."""
    real, syn = np.asarray(real, np.float64).ravel(), np.asarray(syn, np.float64).ravel()
    real, syn = real[np.isfinite(real)], syn[np.isfinite(syn)]
    both = np.concatenate([real, syn]) if len(real) + len(syn) else np.zeros(1)
    lo, hi = float(np.min(both)), float(np.max(both))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    hr = np.histogram(real, edges)[0] / max(1, len(real))
    hs = np.histogram(syn, edges)[0] / max(1, len(syn))
    top = max(float(hr.max(initial=0)), float(hs.max(initial=0)), 1e-9)
    W, H, L, T, B = 230, 96, 34, 16, 30  # plot area: x in [L, W-6], y in [T, T+ph]
    pw, ph = W - L - 6, H - T - B
    bw = pw / bins
    label = f"{title} ({unit})" if unit else title
    p = [f'<svg width="{W}" height="{H}" role="img" aria-label="{esc(label)}" class="hist">',
         f'<text x="2" y="11" font-size="10">{esc(title)}</text>',
         f'<line class="axis x" x1="{L}" y1="{T + ph}" x2="{L + pw}" y2="{T + ph}" stroke="#333"/>',
         f'<line class="axis y" x1="{L}" y1="{T}" x2="{L}" y2="{T + ph}" stroke="#333"/>']
    for frac in (0.0, 1.0):
        y = T + ph * (1 - frac)
        p.append(f'<text x="{L - 3}" y="{y + 3:.1f}" font-size="8" text-anchor="end">{100 * top * frac:.0f}%</text>')
    for frac in (0.0, 0.5, 1.0):
        x = L + pw * frac
        p.append(f'<line x1="{x:.1f}" y1="{T + ph}" x2="{x:.1f}" y2="{T + ph + 3}" stroke="#333"/>'
                 f'<text x="{x:.1f}" y="{T + ph + 11}" font-size="8" text-anchor="{("start", "middle", "end")[int(frac * 2)]}">'
                 f'{esc(_tick(lo + (hi - lo) * frac))}</text>')
    p.append(f'<text class="xlabel" x="{L + pw / 2:.1f}" y="{H - 2}" font-size="8" text-anchor="middle">{esc(unit or "value")}</text>')
    p.append(f'<text class="ylabel" x="0" y="0" font-size="8" transform="translate(8,{T + ph / 2:.1f}) rotate(-90)" '
             'text-anchor="middle">% of set</text>')
    for i in range(bins):
        for h, color, off in ((hr[i], REAL, 0.0), (hs[i], SYN, bw / 2)):
            bh = ph * h / top
            if bh > 0:
                p.append(f'<rect x="{L + i * bw + off:.1f}" y="{T + ph - bh:.1f}" width="{bw / 2:.1f}" height="{bh:.1f}" '
                         f'fill="{color}" opacity="0.8"/>')
    p.append("</svg>")
    return "".join(p)


def svg_lines(title: str, series: dict[str, dict[int, float | None]], x_label: str, y_label: str,
              first: tuple[int, str, float | None] | None = None) -> str:
    """Lines over integer x (severities) in [0, 1] y, with axes, ticks, a legend; ``first`` adds a
    leading point ``(x, tick label, value)`` shared by every series (the clean error)."""
    W, H, L, B, T = 420, 220, 44, 28, 18
    pw, ph = W - L - 130, H - B - T
    xs = sorted({s for v in series.values() for s in v} | {1, 5})
    x0, x1 = (first[0] if first else min(xs)), max(xs)

    def X(s):
        return L + pw * (s - x0) / max(1e-9, x1 - x0)

    def Y(v):
        return T + ph * (1 - v)

    p = [f'<svg width="{W}" height="{H}" role="img" aria-label="{esc(title)}">',
         f'<text x="{L}" y="12" font-size="11">{esc(title)}</text>',
         (f'<line class="axis x" x1="{L}" y1="{T + ph}" x2="{L + pw}" y2="{T + ph}" stroke="#333"/>'
          f'<line class="axis y" x1="{L}" y1="{T}" x2="{L}" y2="{T + ph}" stroke="#333"/>')]
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        p.append(f'<text x="{L - 4}" y="{Y(v) + 3:.1f}" font-size="9" text-anchor="end">{v:g}</text>'
                 f'<line x1="{L}" y1="{Y(v):.1f}" x2="{L + pw}" y2="{Y(v):.1f}" stroke="#eee"/>')
    for s in ([first[0]] if first else []) + xs:
        lab = first[1] if first and s == first[0] else s
        p.append(f'<text x="{X(s):.1f}" y="{T + ph + 12}" font-size="9" text-anchor="middle">{esc(lab)}</text>')
    p.append(f'<text class="xlabel" x="{L + pw / 2:.1f}" y="{H - 2}" font-size="9" text-anchor="middle">{esc(x_label)}</text>')
    p.append(f'<text class="ylabel" x="0" y="0" font-size="9" transform="translate(10,{T + ph / 2:.1f}) rotate(-90)" '
             f'text-anchor="middle">{esc(y_label)}</text>')
    for k, (name, pts) in enumerate(series.items()):
        col = COLORS[k % len(COLORS)]
        xy = ([(first[0], first[2])] if first and first[2] is not None else []) + sorted(pts.items())
        path = " ".join(f"{X(s):.1f},{Y(v):.1f}" for s, v in xy if v is not None)
        p.append(f'<polyline points="{path}" fill="none" stroke="{col}" stroke-width="1.5"/>')
        for s, v in xy:
            if v is not None:
                p.append(f'<circle cx="{X(s):.1f}" cy="{Y(v):.1f}" r="2.2" fill="{col}"><title>{esc(name)} {esc(s)}: {v:.3f}</title></circle>')
        p.append(f'<text x="{L + pw + 8}" y="{T + 10 + 12 * k}" font-size="10" fill="{col}">{esc(name)}</text>')
    p.append("</svg>")
    return "".join(p)


def svg_bars(title: str, values: dict[str, float | None], unit: str = "", vmax: float | None = None,
             marks: dict[str, str] | None = None) -> str:
    """Horizontal bars (one per name) with a value axis; ``marks`` colours single bars."""
    items = [(k, float(v)) for k, v in values.items() if v is not None]
    top = vmax if vmax is not None else max([v for _, v in items] + [1e-9])
    L, W, rh, T = 150, 460, 14, 16
    pw = W - L - 50
    H = T + rh * len(items) + 28
    p = [f'<svg width="{W}" height="{H}" role="img" aria-label="{esc(title)}">',
         f'<text x="2" y="11" font-size="11">{esc(title)}</text>',
         f'<line class="axis x" x1="{L}" y1="{T + rh * len(items)}" x2="{L + pw}" y2="{T + rh * len(items)}" stroke="#333"/>']
    for i, (k, v) in enumerate(items):
        y = T + i * rh
        col = (marks or {}).get(k, COLORS[0])
        p.append(f'<text x="{L - 4}" y="{y + 10}" font-size="9" text-anchor="end">{esc(k[:28])}</text>'
                 f'<rect x="{L}" y="{y + 2}" width="{pw * max(0.0, min(v / top, 1.0)):.1f}" height="{rh - 4}" fill="{esc(col)}"/>'
                 f'<text x="{L + pw * max(0.0, min(v / top, 1.0)) + 3:.1f}" y="{y + 10}" font-size="9">{v:.3g}</text>')
    yb = T + rh * len(items)
    for frac in (0.0, 0.5, 1.0):
        p.append(f'<text x="{L + pw * frac:.1f}" y="{yb + 11}" font-size="8" text-anchor="middle">{esc(_tick(top * frac))}</text>')
    p.append(f'<text class="xlabel" x="{L + pw / 2:.1f}" y="{yb + 24}" font-size="9" text-anchor="middle">{esc(unit)}</text></svg>')
    return "".join(p)


# --- thumbnails ----------------------------------------------------------------------------------

def png_uri(img: np.ndarray) -> str:
    from .io.common import encode_png

    return "data:image/png;base64," + base64.b64encode(encode_png(np.asarray(img))).decode()


def _to_rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def image_thumb(img: np.ndarray, annotations: dict[str, Any] | None = None, size: int = 64, caption: str = "") -> str:
    """An image as an inline SVG at about ``size`` px (small images scaled up with nearest neighbours,
    large ones down), with its objects drawn on top: boxes (``rect.box``), masks (a translucent
    overlay, ``image.mask``) and keypoints, in the image's pixel coordinates."""
    from PIL import Image

    a = _to_rgb(img)
    h, w = a.shape[:2]
    m = max(h, w)
    scale = max(1, size // m) if m <= size else (1 if m <= 2 * size else 2 * size / m)
    dw, dh = max(1, round(w * scale)), max(1, round(h * scale))
    im = Image.fromarray(a)
    if max(h, w) > 2 * size:
        im.thumbnail((2 * size, 2 * size))
    objs = [o for o in ((annotations or {}).get("objects") or []) if isinstance(o, dict)]
    p = [f"<svg class='thumb' width='{dw}' height='{dh}' viewBox='0 0 {w} {h}' preserveAspectRatio='none'>",
         f"<image href='{png_uri(np.asarray(im))}' x='0' y='0' width='{w}' height='{h}' preserveAspectRatio='none'/>"]
    masks = [(k, o["mask"]) for k, o in enumerate(objs) if isinstance(o.get("mask"), np.ndarray) and o["mask"].shape[:2] == (h, w)]
    if masks:
        over = np.zeros((h, w, 4), np.uint8)
        for k, m in masks:
            c = COLORS[k % len(COLORS)]
            over[np.asarray(m) > 0] = [int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16), 110]
        p.append(f"<image class='mask' href='{png_uri(over)}' x='0' y='0' width='{w}' height='{h}' preserveAspectRatio='none'/>")
    sw = max(h, w) / max(dw, dh)  # one display pixel, in image units
    for k, o in enumerate(objs):
        c = COLORS[k % len(COLORS)]
        b = o.get("bbox")
        if b is not None and len(b) == 4:
            x, y, bw, bh = (float(v) for v in b)
            p.append(f"<rect class='box' x='{x:.1f}' y='{y:.1f}' width='{bw:.1f}' height='{bh:.1f}' fill='none' "
                     f"stroke='{c}' stroke-width='{1.5 * sw:.2f}'><title>{esc(o.get('category'))}</title></rect>")
        for kp in (o.get("keypoints") or []):
            if len(kp) >= 2 and (len(kp) < 3 or kp[2]):
                p.append(f"<circle class='kp' cx='{float(kp[0]):.1f}' cy='{float(kp[1]):.1f}' r='{2 * sw:.2f}' fill='{c}'/>")
    p.append("</svg>")
    return f"<figure>{''.join(p)}<figcaption>{esc(caption)}</figcaption></figure>"


def text_thumb(text: str, caption: str = "", limit: int = 400, max_lines: int = 12) -> str:
    """A text sample with its line breaks kept, cut with an ellipsis after ``limit`` characters or
    ``max_lines`` lines."""
    t = str(text)
    lines = t.split("\n")
    cut = len(lines) > max_lines
    t = "\n".join(lines[:max_lines])
    if len(t) > limit:
        t, cut = t[:limit], True
    return (f"<div class='txt'>{esc(t)}{'…' if cut else ''}"
            + (f"\n<i>{esc(caption)}</i>" if caption else "") + "</div>")


def _box_corners(b: dict[str, Any]) -> np.ndarray:
    cx, cy = float(b["center"][0]), float(b["center"][1])
    l, w = float(b["size"][0]), float(b["size"][1])
    c, s = np.cos(float(b.get("yaw", 0.0))), np.sin(float(b.get("yaw", 0.0)))
    d = np.array([[l, w], [l, -w], [-l, -w], [-l, w]]) / 2
    return np.c_[cx + d[:, 0] * c - d[:, 1] * s, cy + d[:, 0] * s + d[:, 1] * c]


def points_thumb(data: Any, annotations: dict[str, Any] | None = None, focus: Sequence[int] | None = None,
                 size: int = 120, caption: str = "") -> str:
    """A point cloud seen from above (x, y).  A scene with ``boxes3d`` is cropped to the focus
    objects (``focus``: instance ids, e.g. the inserted ones; else all boxes), their points drawn in
    orange and their boxes as outlines (``polygon.box``)."""
    p = np.asarray(data.get("points") if isinstance(data, dict) else data, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0 or p.shape[1] < 2:
        return f"<figure><figcaption>{esc(caption)}</figcaption></figure>"
    p = p[:, :2]
    ann = annotations or {}
    boxes = [b for b in (ann.get("boxes3d") or []) if isinstance(b, dict) and "center" in b and "size" in b]
    if focus is not None:
        fb = [b for b in boxes if b.get("instance_id") in set(focus)]
        boxes = fb or boxes
    inst = ann.get("instance_ids")
    obj = np.zeros(len(p), bool)
    if boxes and inst is not None and len(inst) == len(p):
        obj = np.isin(np.asarray(inst), [b.get("instance_id") for b in boxes])
    corners = [_box_corners(b) for b in boxes]
    if corners:
        allc = np.vstack(corners)
        lo, hi = allc.min(0), allc.max(0)
        pad = np.maximum((hi - lo) * 0.35, 1.0)
        lo, hi = lo - pad, hi + pad
        inside = np.all((p >= lo) & (p <= hi), axis=1)
    else:
        lo, hi = p.min(0), p.max(0)
        inside = np.ones(len(p), bool)
    span = float(max(hi - lo)) if float(max(hi - lo)) > 1e-12 else 1.0
    lo = (lo + hi) / 2 - span / 2  # square crop, same scale on both axes
    to = lambda q: 4 + (q - lo) / span * (size - 8)  # noqa: E731
    parts = [f'<svg width="{size}" height="{size}" class="pc">']
    for mask, color, cap, r in ((inside & ~obj, "#555", 500, 0.7), (inside & obj, SYN, 400, 1.1)):
        idx = np.flatnonzero(mask)
        if len(idx) > cap:
            idx = idx[np.linspace(0, len(idx) - 1, cap).astype(int)]
        for a, b in to(p[idx]):
            parts.append(f"<circle cx='{a:.1f}' cy='{size - b:.1f}' r='{r}' fill='{color}'/>")
    for b, c in zip(boxes, corners):
        q = to(c)
        pts = " ".join(f"{a:.1f},{size - y:.1f}" for a, y in q)
        parts.append(f"<polygon class='box' points='{pts}' fill='none' stroke='{COLORS[3]}' stroke-width='1'>"
                     f"<title>{esc(b.get('category'))}</title></polygon>")
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}<figcaption>{esc(caption)}</figcaption></figure>"


def _focus(sample: Any) -> list[int] | None:
    """The instance ids a scene is about: the inserted objects of a synthetic scene (provenance), else
    the object of the sample's class with the most points (as the point featurizers choose it)."""
    prov = getattr(sample, "provenance", None)
    ins = (getattr(prov, "params", None) or {}).get("inserted") if prov is not None else None
    ids = [d.get("instance_id") for d in (ins or []) if isinstance(d, dict) and d.get("instance_id") is not None]
    if ids:
        return ids
    boxes = [b for b in ((getattr(sample, "annotations", None) or {}).get("boxes3d") or [])
             if isinstance(b, dict) and str(b.get("category")) == str(getattr(sample, "label", None))]
    if boxes:
        return [max(boxes, key=lambda b: (int(b.get("num_points") or 0), -int(b.get("instance_id") or 0)))["instance_id"]]
    return None


def thumbnails(items: Sequence[Any], captions: Sequence[str] | None = None, size: int = 64) -> str:
    """Thumbnails of samples (:class:`synthgen.sample.Sample`, drawn with their annotations) or of bare
    data (images, texts, point arrays), each with its caption."""
    if not len(items):
        return ""
    caps = list(captions) if captions is not None else [""] * len(items)
    out = []
    for it, cap in zip(items, caps):
        ann = getattr(it, "annotations", None)
        data = it.data if hasattr(it, "data") and hasattr(it, "label") else it
        if isinstance(data, str):
            out.append(text_thumb(data, cap))
        elif isinstance(data, np.ndarray) and data.ndim >= 2 and data.dtype == np.uint8:
            out.append(image_thumb(data, ann, size, cap))
        else:
            out.append(points_thumb(data, ann, _focus(it) if ann is not None else None, caption=cap))
    return "".join(out)
