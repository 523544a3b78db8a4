"""User-facing errors: each one is printed as a single line and exits with code 2.

Every error names what is at fault (a file, a config key or a sample) so that a user can fix it
without reading a traceback.
"""
from __future__ import annotations


class SynthgenError(Exception):
    """Base class for errors caused by the user's input or config (exit code 2)."""

    exit_code = 2

    def __str__(self) -> str:
        # one line, whatever a quoted file name, label or library message holds
        return " ".join(super().__str__().splitlines())


class ConfigError(SynthgenError):
    """A config key has a bad value; the message starts with the key."""


class DatasetError(SynthgenError):
    """A dataset file or folder is missing, corrupt or inconsistent; the message names it."""


class InsufficientDataError(SynthgenError):
    """Too little data to compute a statistic; validators report it as "incomputable", never NaN."""


class MergeError(SynthgenError):
    """A merge cannot proceed (for example a locked or foreign training-set folder)."""
