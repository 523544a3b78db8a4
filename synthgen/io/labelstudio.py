"""Label Studio import JSON: samples as review tasks with pre-annotations (``predictions``).

Text samples: ``data.text`` holds the text; each span becomes a ``labels`` result
(``value: {start, end, text, labels: [LABEL]}``, character offsets as Label Studio uses them).
Image samples: ``data.image`` holds a URL or path (``image_url``).  Each object is sent as exactly
one region, so a reviewed export counts every object once: an object with a mask becomes one
``polygonlabels`` result (``from_name="polygon"``, the mask's outline), an object with only a box
one ``rectanglelabels`` result (``from_name="label"``), both in percent of the image size with
``original_width``/``original_height``.  For both modalities the class is a ``choices`` result named
``class``, and ``data`` also carries ``synthgen_id``, ``origin`` (``synthetic`` for a sample with
provenance), the generator and the provenance, so reviewed tasks can be matched back.
:func:`label_config` writes the matching labeling interface XML.

    python -m synthgen.io.labelstudio <jsonl folder or file> <tasks.json>
"""
from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import DatasetError
from ..sample import Sample
from .common import check_label, dumps, loads, malformed, read_text, sample_stem, write_bytes_atomic
from .paths import class_dirs


def _url(s: Sample, image_url: str | Callable[[Sample], str] | None) -> str:
    if callable(image_url):
        return str(image_url(s))
    rel = s.meta.get("file") or default_file(s)
    if image_url:
        return f"{str(image_url).rstrip('/')}/{rel}"
    return str(rel)


def default_file(s: Sample) -> str:
    """A sample's ImageFolder path (``<class folder>/<stem>.png``) when it has no file yet; never leaves the folder."""
    return f"{class_dirs([s.label])[s.label]}/{sample_stem(s)}.png"


def _r(v: float) -> float:
    return round(float(v), 4)


def task(s: Sample, image_url: str | Callable[[Sample], str] | None = None, model_version: str = "synthgen") -> dict[str, Any]:
    """One Label Studio task for a text or image sample."""
    results: list[dict[str, Any]] = []
    data: dict[str, Any] = {"synthgen_id": s.id, "class": s.label, "origin": s.origin}
    if s.provenance is not None:
        data["generator"] = s.provenance.generator
        data["provenance"] = s.provenance.to_dict()
    if isinstance(s.data, str):
        to = "text"
        data["text"] = s.data
        for k, sp in enumerate(s.annotations.get("spans", [])):
            if s.data[sp["start"]:sp["end"]] != sp.get("text", s.data[sp["start"]:sp["end"]]):
                raise DatasetError(f"sample {s.id}: span {k} text does not match the sample text")
            results.append({"id": f"s{k}", "from_name": "label", "to_name": "text", "type": "labels",
                            "value": {"start": int(sp["start"]), "end": int(sp["end"]), "text": s.data[sp["start"]:sp["end"]],
                                      "labels": [sp["label"]]}})
    elif isinstance(s.data, np.ndarray) and s.data.ndim >= 2:
        to = "image"
        h, w = int(s.data.shape[0]), int(s.data.shape[1])
        data["image"] = _url(s, image_url)
        for k, o in enumerate(s.annotations.get("objects", [])):
            poly = _polygon(o, w, h)
            if poly is not None:  # one region per object: the outline of its mask...
                results.append({"id": f"o{k}", "from_name": "polygon", "to_name": "image", "type": "polygonlabels",
                                "original_width": w, "original_height": h, "image_rotation": 0,
                                "value": {"points": poly, "closed": True, "polygonlabels": [str(o.get("category", s.label))]}})
                continue
            x, y, bw, bh = (float(v) for v in o["bbox"])  # ...or its box
            results.append({"id": f"o{k}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
                            "original_width": w, "original_height": h, "image_rotation": 0,
                            "value": {"x": _r(100 * x / w), "y": _r(100 * y / h), "width": _r(100 * bw / w),
                                      "height": _r(100 * bh / h), "rotation": 0,
                                      "rectanglelabels": [str(o.get("category", s.label))]}})
    else:
        raise DatasetError(f"sample {s.id}: Label Studio export supports text and images, got {type(s.data).__name__}")
    results.append({"id": "class", "from_name": "class", "to_name": to, "type": "choices", "value": {"choices": [s.label]}})
    return {"data": data, "predictions": [{"model_version": model_version, "result": results}]}


def _polygon(o: dict[str, Any], w: int, h: int) -> list[list[float]] | None:
    """An object's mask as one polygon in percent of the image size (None: no mask, or too small)."""
    if o.get("mask") is None:
        return None
    from .yolo import mask_to_polygon

    poly = mask_to_polygon(np.asarray(o["mask"]))
    if len(poly) < 3:
        return None
    return [[_r(100 * float(x) / w), _r(100 * float(y) / h)] for x, y in poly]


def to_labelstudio(samples: Iterable[Sample], image_url: str | Callable[[Sample], str] | None = None,
                   model_version: str = "synthgen") -> list[dict[str, Any]]:
    return [task(s, image_url, model_version) for s in samples]


def label_config(classes: list[str], span_labels: list[str], modality: str = "text",
                 regions: tuple[str, ...] = ("rectangle",), review: bool = False) -> str:
    """The labeling interface XML for these classes and span/box labels.

    ``regions`` (images): the object tools to declare, ``rectangle`` (``RectangleLabels`` named
    ``label``) and/or ``polygon`` (``PolygonLabels`` named ``polygon``), matching what :func:`task`
    sends (one region per object).  ``review``: add a required ``review`` choice (accept / reject) for
    the reviewer's decision.
    """
    e = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    labels = "".join(f'<Label value="{e(v)}"/>' for v in span_labels)
    if modality == "text":
        obj, name = '<Text name="text" value="$text"/>', "text"
        tools = f'<Labels name="label" toName="text">{labels}</Labels>' if span_labels or not review else ""
    elif modality == "image":
        obj, name = '<Image name="image" value="$image"/>', "image"
        tools = ""
        if "rectangle" in regions:
            tools += f'<RectangleLabels name="label" toName="image">{labels}</RectangleLabels>'
        if "polygon" in regions:
            tools += f'<PolygonLabels name="polygon" toName="image">{labels}</PolygonLabels>'
    else:
        raise DatasetError(f"Label Studio export: modality '{modality}' is not supported (text, image)")
    choices = "".join(f'<Choice value="{e(c)}"/>' for c in classes)
    decision = (f'<Header value="Decision"/><Choices name="review" toName="{name}" choice="single" required="true">'
                '<Choice value="accept"/><Choice value="reject"/></Choices>') if review else ""
    head = '<Header value="Class"/>' if review else ""
    return (f'<View>{obj}{tools}{head}<Choices name="class" toName="{name}" choice="single">{choices}</Choices>'
            f"{decision}</View>\n")


def write_labelstudio(samples: Iterable[Sample], classes: list[str], out: str,
                      image_url: str | Callable[[Sample], str] | None = None, model_version: str = "synthgen") -> Path:
    """Write ``out`` (tasks JSON) and ``<out>.label_config.xml`` beside it, atomically."""
    samples = list(samples)
    tasks = to_labelstudio(samples, image_url, model_version)
    modality = "text" if not samples or isinstance(samples[0].data, str) else "image"
    span_labels = sorted({r["value"][k][0] for t in tasks for r in t["predictions"][0]["result"]
                          for k in ("labels", "rectanglelabels", "polygonlabels") if k in r["value"]})
    regions = region_tools(tasks)
    labels = list(classes) + sorted({s.label for s in samples} - set(classes))
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(p, (json.dumps(json.loads(dumps(tasks)), ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    write_bytes_atomic(p.with_name(p.stem + ".label_config.xml"), label_config(labels, span_labels, modality, regions).encode("utf-8"))
    return p


def region_tools(tasks: list[dict[str, Any]]) -> tuple[str, ...]:
    """The object tools these tasks' predictions use (``rectangle`` when there are none)."""
    types = {r["type"] for t in tasks for r in t["predictions"][0]["result"]}
    out = tuple(k for k, t in (("rectangle", "rectanglelabels"), ("polygon", "polygonlabels")) if t in types)
    return out or ("rectangle",)


def read_labelstudio(path: str) -> list[Sample]:
    """Tasks back to samples (human ``annotations`` win over ``predictions``).

    Text tasks give text samples with spans; image tasks give samples whose ``data`` is the image
    URL and whose objects have pixel boxes (from ``original_width``/``original_height``).
    """
    from .jsonl import check_spans

    p = Path(path)
    tasks = loads(read_text(p), str(p))
    if not isinstance(tasks, list):
        raise DatasetError(f"{p}: expected a list of tasks")
    out = []
    for i, t in enumerate(tasks):
        with malformed(f"{p}: task {i}"):
            data = t.get("data") or {}
            ann = (t.get("annotations") or t.get("predictions") or [{}])[0]
            results = ann.get("result", [])
            label = next((r["value"]["choices"][0] for r in results if r.get("type") == "choices"), data.get("class"))
            sid = str(data.get("synthgen_id", f"task-{i}"))
            label = check_label(label, f"{p}: task {i} (sample {sid})")
            if "text" in data:
                text = data["text"]
                if not isinstance(text, str):
                    raise DatasetError(f"{p}: task {i}: data.text must be a string")
                spans = [{"start": v["start"], "end": v["end"], "label": v["labels"][0], **({"text": v["text"]} if "text" in v else {})}
                         for v in (r["value"] for r in results if r.get("type") == "labels")]
                out.append(Sample(sid, text, label, {"spans": check_spans(text, spans, f"{p}: task {i}")}, modality="text"))
            elif "image" in data:
                objs = []
                for r in results:
                    o = region_object(r)
                    if o is not None:
                        objs.append(o)
                out.append(Sample(sid, data["image"], label, {"objects": objs}, modality="image"))
            else:
                raise DatasetError(f"{p}: task {i} has neither data.text nor data.image")
    return out


def region_object(r: dict[str, Any]) -> dict[str, Any] | None:
    """One Label Studio region back to an object: a rectangle to a pixel box, a polygon to a mask (filled
    with its edges, the inverse of the export) and that mask's box; other results give None."""
    if r.get("type") not in ("rectanglelabels", "polygonlabels"):
        return None
    v, w, h = r["value"], int(r["original_width"]), int(r["original_height"])
    if r["type"] == "rectanglelabels":
        return {"bbox": [v["x"] * w / 100, v["y"] * h / 100, v["width"] * w / 100, v["height"] * h / 100],
                "category": str(v["rectanglelabels"][0])}
    from .common import mask_to_bbox
    from .yolo import _fill

    pts = [c for x, y in v["points"] for c in (float(x) * w / 100, float(y) * h / 100)]
    mask = _fill(pts, h, w).astype(bool)
    box = mask_to_bbox(mask)
    if box is None:
        raise DatasetError(f"polygon region {r.get('id')} covers no pixel")
    return {"bbox": [float(b) for b in box], "category": str(v["polygonlabels"][0]), "mask": mask}


def main(argv: list[str] | None = None) -> int:
    from .jsonl import export_main

    return export_main(argv, "labelstudio", write_labelstudio, "tasks", "tasks.json")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
