"""Stress-test suites: graded corruptions of images, text and point clouds, and ``synthgen stress``.

``stress_job`` (the ``synthgen stress`` command) lives in :mod:`synthgen.stress.job`; corruptions
are registered in :mod:`synthgen.stress.corruptions`.
"""
from __future__ import annotations


def stress_job(cfg, out_dir):
    from .job import stress_job as _job

    return _job(cfg, out_dir)


__all__ = ["stress_job"]
