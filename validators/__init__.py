"""Validators: featurizers per modality and modality-free statistics with real-vs-real calibration.

Installed as ``synthgen.validators``.
"""
from .result import ClassResult, ValidationResult

__all__ = ["ClassResult", "ValidationResult"]
