"""A Label Studio review queue for synthetic images: check edge cases by eye before they are merged.

Reads a written image dataset (ImageFolder, COCO or YOLO, e.g. a run's ``synthetic/`` folder) and
writes Label Studio import JSON with the labels as pre-annotations, using
:mod:`synthgen.io.labelstudio` for the tasks (class as a ``choices`` result, boxes as
``rectanglelabels``).  Objects with masks also get a ``polygonlabels`` result (the mask's outline,
in percent of the image size, from :func:`synthgen.io.yolo.mask_to_polygon`), and the labeling
config declares both tools.  Image paths are relative to the dataset folder, or under ``image_url``
(for example the URL where Label Studio serves that folder).

    python -m synthgen.io.image_review <synthetic folder> <tasks.json> [image_url]
"""
from __future__ import annotations

import html
import json
import sys
from pathlib import Path

from ..errors import DatasetError, SynthgenError
from .common import dumps, write_bytes_atomic


def _rel(root: Path, s) -> str:
    p = s.meta.get("path")
    if p:
        try:
            return Path(p).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    from .labelstudio import default_file

    return str(s.meta.get("file") or default_file(s))


def review_tasks(samples, root: str | Path, image_url: str | None = None) -> list[dict]:
    from .labelstudio import task
    from .yolo import mask_to_polygon

    root = Path(root)
    tasks = []
    for s in samples:
        rel = _rel(root, s)
        t = task(s, (lambda _s, rel=rel: f"{image_url.rstrip('/')}/{rel}") if image_url else (lambda _s, rel=rel: rel))
        h, w = s.data.shape[:2]
        res = t["predictions"][0]["result"]
        for k, o in enumerate(s.annotations.get("objects", [])):
            if o.get("mask") is None:
                continue
            poly = mask_to_polygon(o["mask"])
            if len(poly) < 3:
                continue
            pts = [[round(100 * float(x) / w, 4), round(100 * float(y) / h, 4)] for x, y in poly]
            res.insert(len(res) - 1, {"id": f"p{k}", "from_name": "polygon", "to_name": "image", "type": "polygonlabels",
                                      "original_width": int(w), "original_height": int(h), "image_rotation": 0,
                                      "value": {"points": pts, "closed": True, "polygonlabels": [str(o["category"])]}})
        tasks.append(t)
    return tasks


def review_config(classes: list[str], object_labels: list[str]) -> str:
    e = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    labels = "".join(f'<Label value="{e(v)}"/>' for v in object_labels)
    choices = "".join(f'<Choice value="{e(c)}"/>' for c in classes)
    return ('<View><Image name="image" value="$image"/>'
            f'<RectangleLabels name="label" toName="image">{labels}</RectangleLabels>'
            f'<PolygonLabels name="polygon" toName="image">{labels}</PolygonLabels>'
            f'<Choices name="class" toName="image" choice="single">{choices}</Choices></View>\n')


def write_image_review(folder: str, out: str, image_url: str | None = None, fmt: str = "auto") -> Path:
    """Write ``out`` (tasks JSON) and ``<out stem>.label_config.xml`` for the dataset in ``folder``."""
    from .formats import detect, get

    root = Path(folder).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: dataset folder does not exist")
    f = detect(root) if fmt == "auto" else get(fmt)
    if f.modality != "image":
        raise DatasetError(f"{root}: holds {f.modality} data ({f.name}); the image review queue needs images")
    ds = f.read(str(root))
    base = root if root.is_dir() else root.parent
    tasks = review_tasks(ds.samples, base, image_url)
    cats = sorted({o["category"] for s in ds.samples for o in s.annotations.get("objects", [])})
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(p, (json.dumps(json.loads(dumps(tasks)), ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    write_bytes_atomic(p.with_name(p.stem + ".label_config.xml"), review_config(list(ds.classes), cats).encode("utf-8"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: python -m synthgen.io.image_review <synthetic folder> <tasks.json> [image_url]", file=sys.stderr)
        return 2
    try:
        p = write_image_review(args[0], args[1], args[2] if len(args) == 3 else None)
    except SynthgenError as e:
        print(f"synthgen: error: {e}", file=sys.stderr)
        return 2
    n = len(json.loads(p.read_text()))
    print(f"wrote {n} review tasks to {p} (labeling config: {p.with_name(p.stem + '.label_config.xml')})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
