"""Speed of redaction on the worst shapes of message: every log line, rating comment and staff transcript goes through it.

    .venv/bin/python benchmarks/redaction.py

Needs nothing running. Prints, for each shape of tests/bot/redaction_shapes.py (2,000 characters, the
longest message a resident can send), the median time of `redact_text` and of the per-application
replacer that rewrites stored conversations; the target is under 5 ms each, whatever the shape.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import median_seconds, verdict
from bot.privacy import redact_text
from bot.services.redaction import replacer
from tests.bot.redaction_shapes import LONGEST_MESSAGE, WORST_SHAPES

TARGET_SECONDS = 5e-3
REPEATS = 30
VALUES = {"id_number": "110101199003074514", "phone": "13812345678", "full_name": "张建国",
          "address": "北京市海淀区中关村大街27号院3号楼502室"}


def main() -> None:
    replace = replacer(VALUES)
    print(f"Median time per {LONGEST_MESSAGE:,}-character message (target < {TARGET_SECONDS * 1000:g} ms):")
    print(f"  {'shape':<40} {'redact_text':>12} {'replacer':>12}")
    worst = 0.0
    for name, text in WORST_SHAPES.items():
        redact = median_seconds(lambda text=text: redact_text(text), REPEATS)
        rewrite = median_seconds(lambda text=text: replace(text), REPEATS)
        worst = max(worst, redact, rewrite)
        print(f"  {name:<40} {redact * 1000:9.3f} ms {rewrite * 1000:9.3f} ms")
    print(f"  worst {worst * 1000:.3f} ms: {verdict(worst, TARGET_SECONDS)}")


if __name__ == "__main__":
    main()
