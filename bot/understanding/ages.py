"""Ages of older people, however residents say them, as one form the service phrases can name.

"我爸八十五了", "老娘今年九十一", "八十好几", "八十有三", "满八十", "85岁" all say an
age that decides a service (高龄津贴 from 80, 老年证 from 60), but no phrase list can
hold every number. An age from 60 up is written as its decade ("80岁"), in the
message and in the phrases of service_keywords.yml alike, so "80岁 钱" matches
"我爸八十五了 听说有钱领". Younger ages and every other number (amounts,
durations, phone numbers read out) are left as they are.
"""

from __future__ import annotations

import re

# From this age on a number is rewritten: the ages of the services for older people.
SENIOR_AGE = 60
OLDEST_AGE = 120

_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CHINESE = "[一二两三四五六七八九]?十[一二三四五六七八九]?|一百(?:一十[一二三四五六七八九]?|零?[一二三四五六七八九])?"
# What makes a number an age: 岁 after it, a way of saying "and some", or a word of age before it.
_AFTER = "周岁|岁|多岁|来岁|好几|出头|有[一二三四五六七八九]|多了|了|多(?![块元钱个天年月次斤万千百号分])"
_BEFORE = "今年|已经|年满|刚满|满|快|过了|都"
_AGE = re.compile(
    rf"(?P<before>{_BEFORE})?(?P<number>{_CHINESE}|\d{{2,3}})(?P<after>{_AFTER})?"
    # A bare number is an age only at the end of a clause ("我妈八十二 有钱领", "我爷爷九十"),
    # never before a measure word ("八十块", "九十天", "二十多天").
    rf"(?P<bare>(?=[ ，,。？?！!]|$))?"
)


def chinese_number(text: str) -> int:
    """The value of a number written in Chinese characters up to 一百一十九 (八十五 -> 85)."""
    if text.startswith("一百"):
        rest = text[2:].lstrip("零")
        return 100 + (chinese_number(rest) if rest else 0)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)
    return _DIGITS[text]


def _rewrite(match: re.Match[str]) -> str:
    before, number, after = match.group("before") or "", match.group("number"), match.group("after") or ""
    is_digits = number.isdigit()
    if not (after or before or match.group("bare") is not None):
        return match.group(0)
    if is_digits and not (after.startswith(("岁", "周岁", "多", "了")) or before):
        return match.group(0)  # digits are an age only when said so (12333 is a hotline)
    if not is_digits and not (after or before) and len(number) < 2:
        return match.group(0)
    age = int(number) if is_digits else chinese_number(number)
    if not SENIOR_AGE <= age <= OLDEST_AGE:
        return match.group(0)
    rest = after if after.startswith(("了", "多了")) else ""
    return f"{before}{age // 10 * 10}岁{rest.removeprefix('多')}"


def spoken_ages(text: str) -> str:
    """`text` with every age from 60 up written as its decade ("我爸八十五了" -> "我爸80岁了")."""
    return _AGE.sub(_rewrite, text)
