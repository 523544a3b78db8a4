"""An in-memory labeled dataset: samples, the class list and where they came from."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .errors import ConfigError, DatasetError
from .sample import Sample


@dataclass
class Dataset:
    samples: list[Sample]
    classes: list[str]
    source: str = ""  # a path or a name, used in error messages
    format: str = "imagefolder"  # the on-disk format it came from: imagefolder, coco, digits, ...
    modality: str = "image"
    task: str = "classification"  # classification | detection | segmentation | keypoints
    info: dict = field(default_factory=dict)  # format-specific extras (COCO categories, keypoint names)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def counts(self) -> dict[str, int]:
        c = Counter(s.label for s in self.samples)
        return {k: c.get(k, 0) for k in self.classes}

    def by_class(self, label: str) -> list[Sample]:
        return [s for s in self.samples if s.label == label]

    def check_class(self, label: str, key: str = "classes") -> None:
        if label not in self.classes:
            raise ConfigError(f"{key}: class '{label}' is not in dataset {self.source} (classes: {', '.join(self.classes)})")

    def subset(self, samples: Iterable[Sample]) -> "Dataset":
        return Dataset(list(samples), list(self.classes), self.source, self.format, self.modality, self.task, dict(self.info))

    def require_nonempty(self) -> None:
        if not self.samples:
            raise DatasetError(f"{self.source}: dataset has no samples")
