"""Label Studio import JSON: samples as review tasks with pre-annotations (``predictions``).

Text samples: ``data.text`` holds the text; each span becomes a ``labels`` result
(``value: {start, end, text, labels: [LABEL]}``, character offsets as Label Studio uses them).
Image samples: ``data.image`` holds a URL or path (``image_url``); each object's pixel box
``[x, y, w, h]`` becomes a ``rectanglelabels`` result in percent of the image size, with
``original_width``/``original_height``.  For both, the class is a ``choices`` result named
``class``, and ``data`` also carries ``synthgen_id``, ``origin`` and the generator, so reviewed
tasks can be matched back.  :func:`label_config` writes the matching labeling interface XML.

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
            x, y, bw, bh = (float(v) for v in o["bbox"])
            results.append({"id": f"o{k}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
                            "original_width": w, "original_height": h, "image_rotation": 0,
                            "value": {"x": _r(100 * x / w), "y": _r(100 * y / h), "width": _r(100 * bw / w),
                                      "height": _r(100 * bh / h), "rotation": 0,
                                      "rectanglelabels": [str(o.get("category", s.label))]}})
    else:
        raise DatasetError(f"sample {s.id}: Label Studio export supports text and images, got {type(s.data).__name__}")
    results.append({"id": "class", "from_name": "class", "to_name": to, "type": "choices", "value": {"choices": [s.label]}})
    return {"data": data, "predictions": [{"model_version": model_version, "result": results}]}


def to_labelstudio(samples: Iterable[Sample], image_url: str | Callable[[Sample], str] | None = None,
                   model_version: str = "synthgen") -> list[dict[str, Any]]:
    return [task(s, image_url, model_version) for s in samples]


def label_config(classes: list[str], span_labels: list[str], modality: str = "text") -> str:
    """The labeling interface XML for these classes and span/box labels."""
    e = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    if modality == "text":
        obj, tag, name = '<Text name="text" value="$text"/>', "Labels", "text"
    elif modality == "image":
        obj, tag, name = '<Image name="image" value="$image"/>', "RectangleLabels", "image"
    else:
        raise DatasetError(f"Label Studio export: modality '{modality}' is not supported (text, image)")
    labels = "".join(f'<Label value="{e(v)}"/>' for v in span_labels)
    choices = "".join(f'<Choice value="{e(c)}"/>' for c in classes)
    return (f"<View>{obj}<{tag} name=\"label\" toName=\"{name}\">{labels}</{tag}>"
            f"<Choices name=\"class\" toName=\"{name}\" choice=\"single\">{choices}</Choices></View>\n")


def write_labelstudio(samples: Iterable[Sample], classes: list[str], out: str,
                      image_url: str | Callable[[Sample], str] | None = None, model_version: str = "synthgen") -> Path:
    """Write ``out`` (tasks JSON) and ``<out>.label_config.xml`` beside it, atomically."""
    samples = list(samples)
    tasks = to_labelstudio(samples, image_url, model_version)
    modality = "text" if not samples or isinstance(samples[0].data, str) else "image"
    span_labels = sorted({r["value"][k][0] for t in tasks for r in t["predictions"][0]["result"]
                          for k in ("labels", "rectanglelabels") if k in r["value"]})
    labels = list(classes) + sorted({s.label for s in samples} - set(classes))
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(p, (json.dumps(json.loads(dumps(tasks)), ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    write_bytes_atomic(p.with_name(p.stem + ".label_config.xml"), label_config(labels, span_labels, modality).encode("utf-8"))
    return p


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
                    if r.get("type") == "rectanglelabels":
                        v, w, h = r["value"], r["original_width"], r["original_height"]
                        objs.append({"bbox": [v["x"] * w / 100, v["y"] * h / 100, v["width"] * w / 100, v["height"] * h / 100],
                                     "category": v["rectanglelabels"][0]})
                out.append(Sample(sid, data["image"], label, {"objects": objs}, modality="image"))
            else:
                raise DatasetError(f"{p}: task {i} has neither data.text nor data.image")
    return out


def main(argv: list[str] | None = None) -> int:
    from .jsonl import export_main

    return export_main(argv, "labelstudio", write_labelstudio, "tasks", "tasks.json")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
