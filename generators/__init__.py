"""Generators: one module per kind, grouped by modality (``image``, ``text``, ``points``).

Installed as ``synthgen.generators``.  Every generator subclasses :class:`BaseGenerator` (or
implements the :class:`synthgen.protocols.Generator` protocol) and passes ``tests/contracts.py``.
"""
from .base import BaseGenerator

__all__ = ["BaseGenerator"]
