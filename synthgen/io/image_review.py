"""A Label Studio review queue for synthetic images: check edge cases by eye before they are merged.

Reads a written image dataset (ImageFolder, COCO or YOLO, e.g. a run's ``synthetic/`` folder) and
writes Label Studio import JSON with the labels as pre-annotations, using
:mod:`synthgen.io.labelstudio` for the tasks (class as a ``choices`` result).  Every object is sent
once: an object with a mask as a ``polygonlabels`` result (the mask's outline, in percent of the image
size, from :func:`synthgen.io.yolo.mask_to_polygon`), an object with only a box as
``rectanglelabels``; the labeling config declares the tools the tasks use.  (Until 2026-12 a masked
object was sent as both, and a reviewed export counted it twice.)  Image paths are relative to the
dataset folder, or under ``image_url``
(for example the URL where Label Studio serves that folder).

    python -m synthgen.io.image_review <synthetic folder> <tasks.json> [image_url]
"""
from __future__ import annotations

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

    root = Path(root)
    tasks = []
    for s in samples:
        rel = _rel(root, s)
        tasks.append(task(s, (lambda _s, rel=rel: f"{image_url.rstrip('/')}/{rel}") if image_url else (lambda _s, rel=rel: rel)))
    return tasks


def review_config(classes: list[str], object_labels: list[str], regions: tuple[str, ...] = ("rectangle", "polygon")) -> str:
    from .labelstudio import label_config

    return label_config(classes, object_labels, "image", regions)


def write_image_review(folder: str, out: str, image_url: str | None = None, fmt: str = "auto") -> Path:
    """Write ``out`` (tasks JSON) and ``<out stem>.label_config.xml`` for the dataset in ``folder``."""
    from .formats import detect, get
    from .labelstudio import region_tools

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
    write_bytes_atomic(p.with_name(p.stem + ".label_config.xml"), review_config(list(ds.classes), cats, region_tools(tasks)).encode("utf-8"))
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
