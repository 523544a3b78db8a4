"""Helpers for side-by-side benchmarks: median timings (CPU time by default) and ratio lines."""
from __future__ import annotations

import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def ratio_line(name: str, ours: float, ref: float, unit: str = "s", goal: str = "") -> str:
    """One printed result: both timings and ours/ref (below 1 = faster than the reference)."""
    return f"{name:<48} ours {ours:9.4f}{unit}  reference {ref:9.4f}{unit}  ratio ours/ref {ours / ref:7.3f}  {goal}"


def median_of(fn, repeat: int = 3, clock=time.process_time) -> tuple[float, object]:
    """Median time of ``repeat`` calls (seconds) and the last result.  Medians, not best-of: a ratio
    of medians is what a user sees on a typical run.

    The default clock is this process's CPU time, which other processes on a shared machine barely
    disturb; single-threaded work (OMP_NUM_THREADS=1) makes it equal to wall time on an idle machine.
    Pass ``clock=time.perf_counter`` for wall time (parallel or I/O-bound work).
    """
    import statistics

    times, out = [], None
    for _ in range(repeat):
        t = clock()
        out = fn()
        times.append(clock() - t)
    return statistics.median(times), out
