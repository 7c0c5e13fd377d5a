"""Timing shared by the speed benchmarks: the median of repeated calls, and whether it met its target.

Imported as `benchmarks.timing` by benchmarks run as scripts, once they have put the repository on sys.path.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(step: Callable[[], object], repeats: int) -> float:
    """The median time of one call of `step`, after one call to warm it."""
    step()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def verdict(seconds: float, target: float) -> str:
    """"met" when a time is under its target, else "NOT met" (in capitals, to stand out in a column of figures)."""
    return "met" if seconds < target else "NOT met"
