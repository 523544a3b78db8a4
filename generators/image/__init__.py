"""Image generators."""
from .augment import ImageAugment

__all__ = ["ImageAugment"]
