"""Speed of redaction on the worst shapes of message: every log line, rating comment and staff transcript goes through it.

    .venv/bin/python benchmarks/redaction.py

Needs nothing running. Prints, for each 2,000-character shape (the longest message a resident can
send), the median time of `redact_text` and of the per-application replacer that rewrites stored
conversations; the target is under 5 ms each, whatever the shape.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.privacy import redact_text
from bot.services.redaction import replacer

TARGET_SECONDS = 5e-3
LENGTH = 2000
SHAPES = {
    "digit and X alternating (1X1X...)": "1X" * 1000,
    "digits split by single spaces": "1 " * 1000,
    "digits split by every separator": "".join(f"{i % 10}{sep}" for i, sep in
                                               zip(range(1000), " -－‐–—_.．\u3000\t" * 100)),
    "Chinese digits split by spaces": "一 " * 1000,
    "Arabic and Chinese digits glued": "1一" * 1000,
    "ones with an X every fourteen": "1 1 1 1 1 1 1 1 1 1 1 1 1X " * 80,
    "twelve-digit groups": "123456789012 " * 160,
    "mobile numbers, comma-separated": "13812345678，" * 170,
    "the resident's ID number less one digit": "1 1 0 1 0 1 1 9 9 0 0 3 0 7 4 5 1，" * 60,
    "ordinary Chinese text": "我想问一下身份证社保卡居住证的事情，" * 110,
}
VALUES = {"id_number": "110101199003074514", "phone": "13812345678", "full_name": "张建国",
          "address": "北京市海淀区中关村大街27号院3号楼502室"}


def median_seconds(step: Callable[[], object], repeats: int = 30) -> float:
    """The median time of one call of `step`, after one call to warm it."""
    step()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    replace = replacer(VALUES)
    print(f"Median time per {LENGTH:,}-character message (target < {TARGET_SECONDS * 1000:g} ms):")
    print(f"  {'shape':<40} {'redact_text':>12} {'replacer':>12}")
    worst = 0.0
    for name, shape in SHAPES.items():
        text = shape[:LENGTH]
        redact = median_seconds(lambda text=text: redact_text(text))
        rewrite = median_seconds(lambda text=text: replace(text))
        worst = max(worst, redact, rewrite)
        print(f"  {name:<40} {redact * 1000:9.3f} ms {rewrite * 1000:9.3f} ms")
    print(f"  worst {worst * 1000:.3f} ms: {'met' if worst < TARGET_SECONDS else 'NOT met'}")


if __name__ == "__main__":
    main()
