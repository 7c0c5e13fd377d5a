"""Toneless pinyin of Chinese characters and of pinyin typed without spaces, and how accents blur it.

The service matcher compares messages and service names by sound (a voice transcript's
homophones, a southern accent's z/zh, n/l, f/h, a name typed in pinyin); the dialect
rewriting splits typed pinyin into syllables. Readings come from pypinyin's tables,
loaded on first use and cached.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.understanding.normalise import CJK

VOWELS = frozenset("aeiouv")
_CJK_CHAR = re.compile(f"[{CJK}]")
_TOKEN = re.compile(rf"[{CJK}]|[a-z]+|[0-9]+")

@lru_cache(maxsize=4096)
def toneless(reading: str) -> str:
    from pypinyin.contrib.tone_convert import to_normal

    return to_normal(reading)


@lru_cache(maxsize=1)
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (without the vowel-less interjections m, n, ng, hm)."""
    from pypinyin.pinyin_dict import pinyin_dict

    readings: set[str] = set()
    for value in pinyin_dict.values():
        readings.update(value.split(","))
    syllables = {toneless(r) for r in readings}
    return frozenset(s for s in syllables if s.isascii() and s.isalpha() and VOWELS.intersection(s))


def fuzzy_syllable(syllable: str) -> str:
    """The syllable as a southern accent blurs it: zh/ch/sh→z/c/s, n→l, f→h, -ng→-n (not -ong), ü→u."""
    s = syllable.replace("v", "u")
    if s[:2] in ("zh", "ch", "sh"):
        s = s[0] + s[2:]
    elif s[:1] == "n" and len(s) > 1:
        s = "l" + s[1:]
    elif s[:1] == "f":
        s = "h" + s[1:]
    if s.endswith("ng") and not s.endswith("ong"):
        s = s[:-1]
    return s


@lru_cache(maxsize=65536)
def char_readings(char: str) -> frozenset[str]:
    """Every toneless reading of a Chinese character (heteronyms included), empty for other characters."""
    from pypinyin.pinyin_dict import pinyin_dict

    value = pinyin_dict.get(ord(char))
    return frozenset(toneless(r) for r in value.split(",")) if value else frozenset()


@lru_cache(maxsize=65536)
def fuzzy_readings(char: str) -> frozenset[str]:
    return frozenset(fuzzy_syllable(r) for r in char_readings(char))


@lru_cache(maxsize=4096)
def segment_pinyin(letters: str) -> tuple[tuple[str, int, int], ...]:
    """Toneless pinyin typed without spaces split into syllables (fewest syllables wins); letters that fit no syllable are dropped."""
    syllables = pinyin_syllables()
    n = len(letters)
    junk = 10  # an unusable letter costs more than any number of real syllables in a message
    best: list[tuple[int, int]] = [(0, 0)] + [(10**9, 0)] * n
    for end in range(1, n + 1):
        cost, start = best[end - 1][0] + junk, end - 1
        for length in range(1, min(6, end) + 1):
            if letters[end - length:end] in syllables and best[end - length][0] + 1 < cost:
                cost, start = best[end - length][0] + 1, end - length
        best[end] = (cost, start)
    pieces: list[tuple[str, int, int]] = []
    end = n
    while end > 0:
        start = best[end][1]
        if letters[start:end] in syllables:
            pieces.append((letters[start:end], start, end))
        else:
            pieces.append(("", start, end))  # a break: no syllable may match across it
        end = start
    return tuple(reversed(pieces))


def term_syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin of a normalised alias using the reading in context (行 in 银行 is hang)."""
    from pypinyin import Style, lazy_pinyin

    syllables: list[str] = []
    for token in _TOKEN.findall(text):
        if _CJK_CHAR.fullmatch(token):
            syllables.append(lazy_pinyin(token, style=Style.NORMAL)[0])
        elif token.isdigit():
            syllables.append(token)
        else:
            pieces = segment_pinyin(token)
            if not pieces or any(not p for p, _, _ in pieces):
                return ()
            syllables.extend(p for p, _, _ in pieces)
    return tuple(syllables)


def contextual_syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin of the whole alias at once, so phrases pick their contextual reading."""
    from pypinyin import Style, lazy_pinyin

    if all(_CJK_CHAR.fullmatch(c) for c in text):
        return tuple(lazy_pinyin(text, style=Style.NORMAL))
    return term_syllables(text)
