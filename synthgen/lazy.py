"""Heavy third-party imports, only as far as synthgen needs them.

albumentations 2.0.x ends its ``__init__`` with ``with suppress(ImportError): from .pytorch import *``,
which imports torch (about 2.5 CPU-seconds and 300 MB) only to offer ``ToTensorV2``; no synthgen job
uses it. :func:`albumentations` imports the package with that one submodule blocked, so the
suppressed ImportError skips it, and lifts the block right after: ``import albumentations.pytorch``
still works for whoever needs it (and :func:`albumentations_transform` finds ``ToTensorV2`` there).
"""
from __future__ import annotations

import os
import sys
from types import ModuleType

_PYTORCH = "albumentations.pytorch"


def albumentations() -> ModuleType:
    """The ``albumentations`` module, imported without importing torch."""
    mod = sys.modules.get("albumentations")
    if mod is not None:
        return mod
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check at import
    if _PYTORCH in sys.modules or "torch" in sys.modules:  # torch is loaded anyway: import as usual
        import albumentations as A

        return A
    sys.modules[_PYTORCH] = None  # type: ignore[assignment]  # makes `from .pytorch import *` raise ImportError
    try:
        import albumentations as A
    finally:
        if _PYTORCH in sys.modules and sys.modules[_PYTORCH] is None:
            del sys.modules[_PYTORCH]
    return A


def albumentations_transform(name: str):
    """``albumentations.<name>``, looking in ``albumentations.pytorch`` for the tensor transforms; None
    when there is no such attribute."""
    A = albumentations()
    obj = getattr(A, name, None)
    if obj is None and name in ("ToTensorV2", "ToTensor3D"):
        import albumentations.pytorch as AP

        obj = getattr(AP, name, None)
    return obj
