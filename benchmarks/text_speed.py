"""Speed of the text work every message goes through: normalising, matching services, finding the catalogue.

    .venv/bin/python benchmarks/text_speed.py

Needs nothing running. Prints the median time of each step and its target: a short message
normalised in under 0.2 ms, a 50-character message matched in under 2 ms, a message at the
2,000-character limit matched in under 0.25 s, the catalogue's change check under 20 µs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import median_seconds, verdict
from bot.knowledge.catalogue import get_catalogue
from bot.understanding.normalise import normalise
from bot.understanding.search import ServiceMatcher

SHORT_MESSAGES = ["嗯，那个我想问一下社保卡丢了怎么补办啊", "我想辦社保卡，身份證丟了怎麼補辦？", "老板不给钱怎么办"]
FIFTY_CHARACTER_MESSAGES = [
    "您好，我是外地来这边打工的，孩子今年六岁了想在这边上小学，请问需要准备什么材料，去哪里报名呢？",
    "我在工地上干了三个月的活老板一直不给钱现在包工头也联系不上了我该怎么办才能把工资要回来呢谢谢",
    "我想辦社保卡，身份證丟了怎麼補辦？請問在哪裡辦理，需要多長時間，要不要收費，可以在網上辦嗎？",
]
LONGEST_MESSAGE = "我想问一下身份证社保卡居住证的事情，" * 110  # about 2,000 characters


def report(what: str, seconds: float, target: float) -> None:
    print(f"  {what:<58} {seconds * 1000:9.3f} ms   (target < {target * 1000:g} ms): {verdict(seconds, target)}")


def main() -> None:
    matcher = ServiceMatcher.from_catalogue()
    print("Median time per call:")
    report("normalise a short message (slowest of 3)",
           max(median_seconds(lambda m=m: normalise(m), 2000) for m in SHORT_MESSAGES), 0.2e-3)
    report("match services in a 50-character message (slowest of 3)",
           max(median_seconds(lambda m=m: matcher.match(m), 50) for m in FIFTY_CHARACTER_MESSAGES), 2e-3)
    report("match services in a 2,000-character message", median_seconds(lambda: matcher.match(LONGEST_MESSAGE), 5),
           0.25)
    report("check the catalogue for changes (every request)", median_seconds(get_catalogue, 10_000), 20e-6)


if __name__ == "__main__":
    main()
