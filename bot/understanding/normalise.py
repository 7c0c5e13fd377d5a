"""Normalisation of what residents type or what a voice transcript gives.

Every channel and the service matcher see the same cleaned text, so a message
typed in Traditional characters, with full-width letters, with spaces between
words (speech transcripts) or padded with spoken fillers is understood like
the plain one. The result stays natural Chinese because it is also what the
dialogue engine reads.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # OpenCC loads its dictionaries on first use only
    from opencc import OpenCC

CJK = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002a6df"
# Chinese numerals are read-out digits (phone and ID numbers by voice): never collapsed.
NUMERALS = frozenset("〇零一二三四五六七八九十幺两百千万")
# Words that are a doubled character: a stutter of them collapses to the word, not to one character.
DOUBLED_WORDS = frozenset("谢哈呵嘻拜")

# Punctuation after NFKC (which already turned full-width ，！？：；（ into ASCII).
_PAUSE = ",、;"
_STOP = "。!…~"
_QUESTION = "?"
# Symbols that carry no meaning in a request; brackets and quotes around names.
_NOISE = "()[]{}<>《》〈〉「」『』【】〔〕“”‘’\"'`*#^|\\_=·•※→←"
_PUNCT_TABLE = str.maketrans(
    {**{c: "，" for c in _PAUSE}, **{c: "。" for c in _STOP}, _QUESTION: "？", **{c: " " for c in _NOISE}}
)

# '.', '-', '/' and ':' stay between letters or digits (3.5, 138-1234, 2024/5/1, 9:30, a.com), else end a clause.
_CONTEXTUAL = re.compile(r"(?<![0-9a-z])[.\-/:]|[.\-/:](?![0-9a-z])")
_CONTEXTUAL_MAP = {".": "。", "-": " ", "/": " ", ":": "，"}
_SPACES = re.compile(r"\s+")
# A space only separates Latin words; next to Chinese or punctuation it is noise (e.g. "我 想 办 社保卡").
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{CJK}，。？]) | (?=[{CJK}，。？])")
_PUNCT_RUN = re.compile(r"[，。？][，。？ ]*")
_LEADING_PUNCT = re.compile(r"^[，。？ ]+")
_TRAILING_PUNCT = re.compile(r"[，。 ]+$")
_REPEATED = re.compile(rf"([{CJK}]{{1,4}}?)\1{{2,}}")
# A resident ID's check letter is an upper-case X; lower-casing must not change what a form validates.
_ID_CHECK_LETTER = re.compile(r"(?<![0-9])([0-9]{17})x(?![0-9a-z])")
# Typed or spoken when the person searches for words; removing them leaves the request.
_CLAUSE_START = r"(?:^|(?<=[，。？ ]))"
_FILLERS = re.compile(
    "|".join(
        [
            "这个那个|那个那个|这个这个|就是说|然后呢|怎么说呢|那个啥",
            # 那个 as a demonstrative of time, place or person keeps its meaning.
            "那个(?!时候|时|人|地方|月|年|星期|礼拜|周)",
            # 就是 inside 成就/造就/迁就/将就 or the rhetorical 不就是 is part of the sentence.
            "(?<![成造迁将不])就是",
            "[嗯呃啊]",
            f"{_CLAUSE_START}(?:然后|哎呀|哎哟|哎|唉|哦|噢)+",
            # 这个/额 open many real sentences (这个月, 额度); only a 这个 or 额 standing alone is a filler.
            rf"{_CLAUSE_START}(?:这个|额)(?=[，。？ ]|$)",
        ]
    )
)
_TRADITIONAL_FIXES = {"甚么": "什么"}


@dataclass(frozen=True)
class _Simplifier:
    """Traditional→Simplified: a character table for the common case, OpenCC's phrase rules where they matter."""

    table: dict[int, str]
    # Characters whose conversion depends on the surrounding phrase (乾隆 vs 乾淨).
    contextual: frozenset[str]


@lru_cache(maxsize=1)
def _simplifier() -> _Simplifier:
    import opencc

    directory = Path(opencc.__file__).parent / "dictionary"
    table: dict[int, str] = {}
    contextual: set[str] = set()
    for line in (directory / "TSCharacters.txt").read_text("utf-8").splitlines():
        key, _, values = line.partition("\t")
        first = values.split(" ")[0]
        if len(key) == 1 and first and first != key:
            # OpenCC also takes the first candidate unless a phrase says otherwise.
            table[ord(key)] = first
    for line in (directory / "TSPhrases.txt").read_text("utf-8").splitlines():
        phrase = line.partition("\t")[0]
        contextual.update(c for c in phrase if ord(c) in table)
    return _Simplifier(table, frozenset(contextual))


@lru_cache(maxsize=1)
def _opencc() -> OpenCC:
    """The OpenCC Traditional→Simplified converter (loads its dictionaries once)."""
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters and phrases converted to Simplified; Simplified text unchanged."""
    simplifier = _simplifier()
    if simplifier.contextual.isdisjoint(text):
        converted = text.translate(simplifier.table)
    else:
        converted = _opencc().convert(text)
    for wrong, right in _TRADITIONAL_FIXES.items():
        converted = converted.replace(wrong, right)
    return converted


def _collapse(match: re.Match[str]) -> str:
    unit = match.group(1)
    if NUMERALS.issuperset(unit):
        return match.group(0)
    return unit * 2 if unit in DOUBLED_WORDS else unit


def _tidy_punctuation(match: re.Match[str]) -> str:
    run = match.group(0)
    for mark in "？。":
        if mark in run:
            return mark
    return "，"


def _clean(text: str) -> str:
    text = _SPACE_NEAR_CJK.sub("", text)
    text = _PUNCT_RUN.sub(_tidy_punctuation, text)
    text = _LEADING_PUNCT.sub("", text)
    return _TRAILING_PUNCT.sub("", text).strip()


def normalise(text: str) -> str:
    """The message cleaned for understanding: Simplified, half-width, lower-case Latin, no fillers or stutter."""
    if not text:
        return ""
    stripped = text.strip()
    if stripped.startswith("/"):
        # A button payload (/intent{...}) is addressed to the dialogue engine verbatim.
        return stripped
    text = unicodedata.normalize("NFKC", stripped)
    text = to_simplified(text).lower()
    text = text.translate(_PUNCT_TABLE)
    text = _CONTEXTUAL.sub(lambda m: _CONTEXTUAL_MAP[m.group(0)], text)
    text = _SPACES.sub(" ", text)
    text = _clean(text)
    # Removing a filler can join two halves of a stutter and vice versa; repeat until nothing changes.
    for _ in range(8):
        before = text
        text = _REPEATED.sub(_collapse, text)
        text = _FILLERS.sub("", text)
        text = _clean(text)
        # Removing a filler can also join a character pair the Traditional conversion would have fixed.
        for wrong, right in _TRADITIONAL_FIXES.items():
            text = text.replace(wrong, right)
        if text == before:
            break
    return _ID_CHECK_LETTER.sub(r"\1X", text)
