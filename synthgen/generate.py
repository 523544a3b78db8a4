"""Writing generated samples in the dataset's format (generation itself streams through synthgen.stream)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .dataset import Dataset
from .errors import ConfigError
from .sample import Sample


def writer_options(fmt: str, output: Any = None, key: str = "output") -> dict[str, Any]:
    """The writer's keyword arguments from the ``output`` config: the ``output.<format>`` block, whose
    keys the format's option of the ``output`` config group declares (``conf/output/kitti.yaml``:
    ``types``, ``camera``); formats without options take none."""
    from .config import plain
    from .io.formats import writer_option_keys

    allowed = writer_option_keys(fmt)
    block = plain((output or {}).get(fmt)) if allowed and output else None
    if not block:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(f"{key}.{fmt}: must be a mapping ({', '.join(allowed)})")
    for k in block:
        if k not in allowed:
            raise ConfigError(f"{key}.{fmt}.{k}: unknown key (allowed: {', '.join(allowed)})")
    return {k: v for k, v in block.items() if v is not None}


def write_dataset(samples: list[Sample], like: Dataset, out: Path, fmt: str = "auto", key: str = "output.format",
                  output: Any = None) -> str:
    """Write ``samples`` in the requested format (``auto``: the default for the dataset's modality and
    task); ``output``: the ``output`` config, whose ``output.<format>`` block holds writer options."""
    from .io.formats import output_format

    f = output_format(like.modality, like.task, fmt, key)
    kw = writer_options(f.name, output)
    if f.name in ("coco", "yolo") and like.info.get("categories"):  # class ids stay the real dataset's
        kw["categories"] = like.info["categories"]
    import sys

    from tqdm import tqdm

    # writing thousands of files takes minutes: a bar on a terminal (none when stderr is not a TTY)
    sized = isinstance(samples, (list, tuple))
    with tqdm(total=len(samples) if sized else None, desc="write", unit="sample", disable=None, file=sys.stderr) as bar:
        items = _Counted(samples, bar.update) if sized else _counted(samples, bar.update)  # a stream stays a stream
        f.write(items, like.classes, str(out), **kw)
    return f.name


def _counted(items, tick):
    for x in items:
        yield x
        tick(1)


class _Counted(list):
    """The samples, counting each one a writer takes (for the progress bar)."""

    def __init__(self, items, tick):
        super().__init__(items)
        self._tick = tick

    def __iter__(self):
        for x in super().__iter__():
            yield x
            self._tick(1)
