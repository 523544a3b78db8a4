"""synthgen: labeled synthetic data for rare classes (images, text, point clouds), validated against
real data and merged into training sets only when it passes."""
import os as _os

_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

from .errors import ConfigError, DatasetError, InsufficientDataError, SynthgenError  # noqa: E402
from .sample import Provenance, Sample  # noqa: E402

__all__ = ["Sample", "Provenance", "SynthgenError", "ConfigError", "DatasetError", "InsufficientDataError", "__version__"]
