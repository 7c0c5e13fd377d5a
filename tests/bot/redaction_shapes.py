"""The worst shapes of message for redaction, each as long as the longest message a resident can send.

These shapes once made redaction try every stretch of digit groups (seconds per message before it was
bounded). tests/bot/test_privacy.py checks what redaction makes of each; benchmarks/redaction.py times it.
"""

from __future__ import annotations

# The default of max_text_length (bot/settings.py): the longest message a resident can send.
LONGEST_MESSAGE = 2000

_SHAPES = {
    "digit and X alternating": "1X" * 1000,
    "digits split by single spaces": "1 " * 1000,
    "digits split by dashes": "1-" * 1000,
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
WORST_SHAPES = {name: shape[:LONGEST_MESSAGE] for name, shape in _SHAPES.items()}
