"""Image generators.

Heavy libraries (torch, diffusers, transformers) load only when a generator is fitted or used, so
importing this package and building every YAML stays cheap.
"""
from .augment import ImageAugment
from .copy_paste import ImageCopyPaste
from .ddpm import ImageDDPM
from .diffusion import ImageDiffusion
from .procedural import ImageProcedural

__all__ = ["ImageAugment", "ImageCopyPaste", "ImageDDPM", "ImageDiffusion", "ImageProcedural"]
