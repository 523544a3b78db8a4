"""Writing generated samples in the dataset's format (generation itself streams through synthgen.stream)."""
from __future__ import annotations

from pathlib import Path

from .dataset import Dataset
from .sample import Sample


def write_dataset(samples: list[Sample], like: Dataset, out: Path, fmt: str = "auto", key: str = "output.format") -> str:
    """Write ``samples`` in the requested format (``auto``: the default for the dataset's modality and task)."""
    from .io.formats import output_format

    f = output_format(like.modality, like.task, fmt, key)
    kw = {}
    if f.name == "coco" and like.info.get("categories"):
        kw["categories"] = like.info["categories"]
    f.write(samples, like.classes, str(out), **kw)
    return f.name
