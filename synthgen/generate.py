"""Generation and writing: run a fitted generator over a plan (optionally one shard of it)."""
from __future__ import annotations

import sys
from pathlib import Path

from .dataset import Dataset
from .errors import DatasetError, InsufficientDataError
from .plan import Plan, shard_indices
from .sample import Sample


def generate(generator, plan: Plan, seed: int, shard: str | None = None) -> list[Sample]:
    """Every planned sample (or the shard's slice of each class), in plan order."""
    from tqdm import tqdm

    todo = [(r.label, r.synthetic, shard_indices(r.synthetic, shard)) for r in plan.rows if r.synthetic > 0]
    out: list[Sample] = []
    with tqdm(total=sum(len(ix) for _, _, ix in todo), desc="generate", unit="sample", disable=None, file=sys.stderr) as bar:
        for label, n, idx in todo:
            try:
                for s in generator.generate(label, n, seed, indices=idx):
                    out.append(s)
                    bar.update(1)
            except InsufficientDataError as e:
                raise DatasetError(f"generator: {e}") from None
    return out


def write_dataset(samples: list[Sample], like: Dataset, out: Path, fmt: str = "auto", key: str = "output.format") -> str:
    """Write ``samples`` in the requested format (``auto``: the default for the dataset's modality and task)."""
    from .io.formats import output_format

    f = output_format(like.modality, like.task, fmt, key)
    kw = {}
    if f.name == "coco" and like.info.get("categories"):
        kw["categories"] = like.info["categories"]
    f.write(samples, like.classes, str(out), **kw)
    return f.name
