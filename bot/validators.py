"""What a clerk checks in the values residents type or say: ID numbers, phones, dates, amounts, names, addresses.

Every parser takes the raw text as it arrived (spaces, dashes, full-width
digits, Chinese numerals, fillers such as "我的号码是") and returns either
`Valid(value)` with the value in its clean form, or `Invalid(code, detail)`.
The code is machine-readable ("id_checksum", "phone_prefix", ...); the dialogue
looks up what to say by it. `detail` is for logs and tests, never shown to a
resident, and never contains the value itself.

Codes: every parser returns "empty" for blank text;
ID number: id_missing, id_length, id_format, id_region, id_birth_date, id_checksum;
phone: phone_missing, phone_length, phone_prefix;
date: date_not_found, date_impossible, date_future;
amount: amount_not_number, amount_vague, amount_not_positive, amount_precision;
count: count_not_number, count_vague, count_not_whole, count_too_small, count_too_large;
name: name_not_chinese, name_format, name_too_short, name_too_long;
address: address_not_chinese, address_too_short, address_too_long.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import ClassVar, Generic, Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Valid(Generic[T]):
    """An accepted value in its clean form."""

    value: T
    ok: ClassVar[bool] = True


@dataclass(frozen=True)
class Invalid:
    """A refused value: `code` picks the explanation, `detail` helps whoever reads the logs."""

    code: str
    detail: str = ""
    ok: ClassVar[bool] = False


Result = Valid[T] | Invalid

_EMPTY = Invalid("empty")

# ---- shared text clean-up ------------------------------------------------------------------------

# Digits as they are written in Chinese or come out of speech recognition;
# 幺 (1) and 两 (2) are how numbers are read aloud on the phone.
_CHINESE_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
                   "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
_TO_ASCII_DIGITS = str.maketrans(_CHINESE_DIGITS)
_SEPARATOR = r"[\s\-‐–—_.]"


def _normalize(text: str | None) -> str:
    # NFKC turns full-width digits, letters, spaces and punctuation into their ASCII forms.
    return unicodedata.normalize("NFKC", text or "").strip()


def _digit_runs(text: str) -> list[list[str]]:
    """Runs of digits that may be split by spaces or dashes, each as its list of groups."""
    group = r"\d+(?:[Xx](?![A-Za-z]))?"
    runs = re.finditer(rf"{group}(?:{_SEPARATOR}{{1,3}}{group})*", text)
    return [re.split(rf"{_SEPARATOR}+", m.group(0)) for m in runs]


def _compact(text: str) -> str:
    """The text with the separators between digits removed."""
    return re.sub(rf"(?<=[0-9Xx]){_SEPARATOR}{{1,3}}(?=[0-9Xx])", "", text)


def _number_candidates(text: str) -> Iterator[str]:
    """Digit strings a person may have meant as one number: whole runs first, then parts of runs.

    A part is offered only when what is left on either side is empty or at least
    five digits long: "110105194912310021 13812345678" holds two numbers, but in
    "138 1234 5678 9" the stray 9 is more likely a typo than a second number.
    """
    runs = _digit_runs(text)
    for groups in runs:
        yield "".join(groups)
    for groups in runs:
        for start in range(len(groups)):
            for end in range(len(groups), start, -1):
                if (start, end) == (0, len(groups)):
                    continue
                before, after = "".join(groups[:start]), "".join(groups[end:])
                if all(not rest or len(rest) >= 5 for rest in (before, after)):
                    yield "".join(groups[start:end])


def _longest_run_length(text: str) -> int:
    return max((len("".join(groups)) for groups in _digit_runs(text)), default=0)


# ---- resident ID number (GB 11643-1999) ----------------------------------------------------------

# Province-level codes of GB/T 2260, plus 71/81/82/83 used on residence permits
# of residents from Taiwan, Hong Kong and Macao.
_PROVINCE_CODES = frozenset(
    [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83])
_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_ID_CHECK_CHARACTERS = "10X98765432"


def id_check_character(first_17_digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character ("0"-"9" or "X") for the first 17 digits of an ID number."""
    if not re.fullmatch(r"\d{17}", first_17_digits):
        raise ValueError("expected 17 digits")
    total = sum(int(d) * w for d, w in zip(first_17_digits, _ID_WEIGHTS))
    return _ID_CHECK_CHARACTERS[total % 11]


def _id_text(text: str) -> str:
    cleaned = _normalize(text).translate(_TO_ASCII_DIGITS)
    # A spoken final X is usually transcribed as 叉.
    return re.sub(r"(?<=\d)\s*叉", "X", cleaned)


def _date_from_digits(digits: str) -> date | None:
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def parse_id_number(text: str, today: date | None = None) -> Result[str]:
    """An 18-character resident ID number found in `text`, upper-case X, checked like a clerk would."""
    if not _normalize(text):
        return _EMPTY
    cleaned = _id_text(text)
    candidates = list(_number_candidates(cleaned))
    number = next((c.upper() for c in candidates if re.fullmatch(r"\d{17}[\dXx]", c)), None)
    if number is None:
        compact = _compact(cleaned)
        # 18 characters that are not 17 digits and a final X: an X or another letter in the wrong place.
        if re.search(r"(?<![0-9A-Za-z])[0-9Xx]{18}(?![0-9A-Za-z])", compact) or re.search(
                r"(?<!\d)\d{17}[A-WYZa-wyz](?![A-Za-z])", compact):
            return Invalid("id_format", "only the last character may be X")
        length = _longest_run_length(cleaned)
        return Invalid("id_length", f"{length} digits") if length else Invalid("id_missing")
    if int(number[:2]) not in _PROVINCE_CODES:
        return Invalid("id_region", "unknown province code")
    born = _date_from_digits(number[6:14])
    if born is None or born.year < 1900:
        return Invalid("id_birth_date", "no such date")
    if born > (today or date.today()):
        return Invalid("id_birth_date", "in the future")
    if number[17] != id_check_character(number[:17]):
        return Invalid("id_checksum", "check character does not match")
    return Valid(number)


def _checked_id(id_number: str) -> str:
    number = _normalize(id_number).upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise ValueError("not an 18-character ID number")
    return number


def birth_date_from_id(id_number: str) -> date:
    """The birth date written in digits 7-14 of an ID number; ValueError if there is none."""
    born = _date_from_digits(_checked_id(id_number)[6:14])
    if born is None:
        raise ValueError("the ID number holds no real birth date")
    return born


def age_on(id_number: str, day: date) -> int:
    """Age in completed years on `day`; someone born on 29 February turns a year older on 1 March."""
    born = birth_date_from_id(id_number)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def sex_from_id(id_number: str) -> Literal["male", "female"]:
    """The sex recorded in an ID number: its 17th digit is odd for men, even for women."""
    return "male" if int(_checked_id(id_number)[16]) % 2 else "female"


# ---- mobile phone number -------------------------------------------------------------------------

def _without_country_code(digits: str) -> str | None:
    if len(digits) == 11:
        return digits
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    if len(digits) == 15 and digits.startswith("0086"):
        return digits[4:]
    return None


def parse_mobile(text: str) -> Result[str]:
    """An 11-digit mainland mobile number (1[3-9]...), with any +86/0086/86 prefix removed."""
    if not _normalize(text):
        return _EMPTY
    cleaned = _normalize(text).translate(_TO_ASCII_DIGITS)
    candidates = (c for c in _number_candidates(cleaned) if c.isdigit())
    number = next((n for c in candidates if (n := _without_country_code(c))), None)
    if number is None:
        length = _longest_run_length(cleaned)
        return Invalid("phone_length", f"{length} digits") if length else Invalid("phone_missing")
    if not re.fullmatch(r"1[3-9]\d{9}", number):
        # Landlines ("010...") and made-up numbers ("12...") land here.
        return Invalid("phone_prefix", "a mobile number starts with 13-19")
    return Valid(number)


# ---- numbers written in Chinese ------------------------------------------------------------------

_NUMERAL_DIGITS = {k: int(v) for k, v in _CHINESE_DIGITS.items()}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
_NUMERAL_CHARS = "0-9." + "".join(_CHINESE_DIGITS) + "十百千万亿点"


def _numeral_tokens(text: str) -> list[tuple[str, Decimal]] | None:
    tokens: list[tuple[str, Decimal]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isdigit() or char == ".":
            j = i
            while j < len(text) and (text[j].isdigit() or text[j] == "."):
                j += 1
            try:
                tokens.append(("number", Decimal(text[i:j])))
            except InvalidOperation:
                return None
            i = j
        elif char in _NUMERAL_DIGITS:
            if text[i + 1:i + 2] == "点":
                j = i + 2
                while j < len(text) and (text[j] in _NUMERAL_DIGITS or text[j].isdigit()):
                    j += 1
                fraction = text[i + 2:j].translate(_TO_ASCII_DIGITS)
                if not fraction:
                    return None
                tokens.append(("number", Decimal(f"{_NUMERAL_DIGITS[char]}.{fraction}")))
                i = j
            else:
                kind = "zero" if char in "零〇" else "number"
                tokens.append((kind, Decimal(_NUMERAL_DIGITS[char])))
                i += 1
        elif char in _SMALL_UNITS:
            tokens.append(("small", Decimal(_SMALL_UNITS[char])))
            i += 1
        elif char in _BIG_UNITS:
            tokens.append(("big", Decimal(_BIG_UNITS[char])))
            i += 1
        else:
            return None
    return tokens


def _parse_numeral(text: str) -> Decimal | None:
    """A number written with Arabic digits, Chinese numerals or both: "三千五", "1.2万", "一万二", "两千零五十"."""
    # A leading 十 is a number on its own ("十块", "十万"); other units alone are words ("千万别").
    if not re.search(r"[0-9零〇一幺二两三四五六七八九]|^十", text):
        return None
    if not re.search(r"[十百千万亿]", text):
        # No units: digits read one by one ("一五零零") or a plain Arabic number.
        plain = text.translate(_TO_ASCII_DIGITS).replace("点", ".")
        return Decimal(plain) if re.fullmatch(r"\d+(\.\d+)?", plain) else None
    tokens = _numeral_tokens(text)
    if tokens is None:
        return None
    total = section = Decimal(0)
    pending: Decimal | None = None
    last_unit: Decimal | None = None
    last_big: Decimal | None = None
    after_zero = False
    for kind, value in tokens:
        if kind == "number":
            if pending is not None:
                return None  # "三四千" is a range, not a number
            pending = value
        elif kind == "zero":
            if pending is not None:
                return None
            after_zero = True
        elif kind == "small":
            section += (pending if pending is not None else 1) * value
            pending, last_unit, after_zero = None, value, False
        else:
            if pending is None and section == 0:
                return None
            section += pending or 0
            total = (total + section) * value if last_big is None or value > last_big else total + section * value
            section, pending, last_unit, last_big, after_zero = Decimal(0), None, value, value, False
    if pending is not None:
        if last_unit is not None and not after_zero and pending == pending.to_integral_value() and 0 < pending < 10:
            # Colloquial shortening: "三千五" is 3500 and "一万二" 12000, the digit counts in the next lower unit.
            pending = pending * last_unit / 10
        section += pending
    return total + section


def _tidy(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1) if value == value.to_integral_value() else Decimal("0.01"))


@dataclass(frozen=True)
class _NumberMention:
    value: Decimal | None
    vague: bool
    negative: bool


# Common words that contain a numeral character but are not numbers.
_NOT_NUMBERS = re.compile(r"一共|总共|一起|一下|一直|一定|一般|一样|一些|统一|十分|一点儿")
_AFTER_COUNT = r"\s*(?:个|次|岁|人|口|周|星期|天|日|号|年|月)"
_CURRENCY_AFTER = r"\s*(?:元|块|圆|人民币|rmb|RMB)"


def _number_mentions(text: str, skip_counted: bool) -> list[tuple[_NumberMention, bool, int]]:
    """Numbers in `text` with whether a currency word follows and how long each was written."""
    cleaned = re.sub(r"(?<=\d)[,，](?=\d{3})", "", text)
    cleaned = re.sub(r"(?<=[\d.])\s+(?=[\d.])", "", cleaned)
    cleaned = _NOT_NUMBERS.sub(" ", cleaned)
    mentions = []
    for match in re.finditer(rf"[{_NUMERAL_CHARS}]+", cleaned):
        written = match.group(0).strip(".点")
        if not written:
            continue
        rest = cleaned[match.end():]
        if skip_counted and re.match(_AFTER_COUNT, rest):
            continue
        before = cleaned[:match.start()].rstrip()
        vague = bool(re.match(r"\s*(?:多|几|来)", rest))
        negative = before.endswith(("-", "负"))
        mention = _NumberMention(_parse_numeral(written), vague, negative)
        mentions.append((mention, bool(re.match(_CURRENCY_AFTER, rest)), len(written)))
    return mentions


def parse_amount(text: str) -> Result[Decimal]:
    """An amount of yuan: "3500", "3,500元", "三千五百块", "1.2万", "一万二"; positive, at most 2 decimals."""
    if not _normalize(text):
        return _EMPTY
    mentions = _number_mentions(_normalize(text), skip_counted=True)
    if not mentions:
        return Invalid("amount_not_number", "no number found")
    # The figure followed by 元/块 is the amount; otherwise the longest one ("一个月三千五" → 三千五).
    mention = max(mentions, key=lambda m: (m[1], m[2]))[0]
    if mention.vague:
        return Invalid("amount_vague", "an estimate such as 三千多")
    if mention.value is None:
        return Invalid("amount_not_number", "not a single number")
    if mention.negative or mention.value <= 0:
        return Invalid("amount_not_positive")
    if mention.value != mention.value.quantize(Decimal("0.01")):
        return Invalid("amount_precision", "more than two decimals")
    return Valid(_tidy(mention.value))


def _count_value(text: str) -> Decimal | Invalid:
    """The count in `text`, a period in years turned into months."""
    if re.search(r"多个?月|几", text):
        return Invalid("count_vague", "an estimate")
    # Two Chinese digits side by side in a count are a range ("三四个月"), never digits read one by one.
    if re.search(r"[一二两三四五六七八九]{2}", text):
        return Invalid("count_vague", "a range")
    numeral = f"[{_NUMERAL_CHARS}]+"
    if m := re.search(rf"({numeral})年零?({numeral})个?月", text):
        years, months = _parse_numeral(m.group(1)), _parse_numeral(m.group(2))
        if years is None or months is None:
            return Invalid("count_not_number", "not a single number")
        return years * 12 + months
    mentions = _number_mentions(text, skip_counted=False)
    if not mentions:
        return Invalid("count_not_number", "no number found")
    mention = max(mentions, key=lambda m: m[2])[0]
    if mention.vague:
        return Invalid("count_vague", "an estimate")
    if mention.value is None:
        return Invalid("count_not_number", "not a single number")
    value = -mention.value if mention.negative else mention.value
    if "年半" in text:
        return value * 12 + 6
    if "年" in text and "月" not in text:
        return value * 12
    if "个半月" in text:
        return value + Decimal("0.5")
    return value


def parse_count(text: str, *, minimum: int = 1, maximum: int = 600) -> Result[int]:
    """A small whole count such as months unpaid: "三个月", "3个月"; years count as months ("半年" is 6)."""
    if not _normalize(text):
        return _EMPTY
    cleaned = _normalize(text).replace(" ", "")
    # The counts asked for are periods in months, so a period given in years is turned into months.
    if re.search(r"(?<![0-9零〇一幺二两三四五六七八九十百])半年", cleaned):
        value: Decimal | Invalid = Decimal(6)
    else:
        value = _count_value(cleaned)
    if isinstance(value, Invalid):
        return value
    if value != value.to_integral_value():
        return Invalid("count_not_whole", "a fraction")
    count = int(value)
    if count < minimum:
        return Invalid("count_too_small", f"below {minimum}")
    if count > maximum:
        return Invalid("count_too_large", f"above {maximum}")
    return Valid(count)


# ---- dates -------------------------------------------------------------------------------------

Precision = Literal["day", "month", "year"]


class ParsedDate(date):
    """A date with how precisely it was said; for "2023年5月" it is 1 May 2023 with precision "month"."""

    __slots__ = ("_precision",)
    _precision: Precision

    def __new__(cls, year: int, month: int = 1, day: int = 1, precision: Precision = "day") -> ParsedDate:
        self = super().__new__(cls, year, month, day)
        self._precision = precision
        return self

    @property
    def precision(self) -> Precision:
        """How much of the date the person gave: "day", "month" or "year"."""
        return self._precision

    def __repr__(self) -> str:
        return f"ParsedDate({self.isoformat()}, precision={self._precision!r})"

    def __reduce__(self):  # dates pickle by their bytes; keep the precision too
        return (ParsedDate, (self.year, self.month, self.day, self._precision))


_YEAR_WORDS = {"明年": 1, "今年": 0, "去年": -1, "前年": -2, "大前年": -3}
_DAY_WORDS = {"今天": 0, "今日": 0, "昨天": -1, "昨日": -1, "前天": -2, "大前天": -3}
_UNIT_AFTER = r"(?=\s*个?\s*(?:月|日|号|天|周|星期|礼拜|年))"


def _small_chinese_int(text: str) -> int:
    if "十" in text:
        tens, _, ones = text.partition("十")
        return int(tens.translate(_TO_ASCII_DIGITS) or "1") * 10 + int(ones.translate(_TO_ASCII_DIGITS) or "0")
    return int(text.translate(_TO_ASCII_DIGITS))


def _date_text(text: str) -> str:
    cleaned = _normalize(text).replace(" ", "")
    # "二零二三年" is read digit by digit; "十二月", "三个月" are small numbers.
    cleaned = re.sub(r"[零〇一二三四五六七八九]{4}(?=年)", lambda m: m.group(0).translate(_TO_ASCII_DIGITS), cleaned)
    cleaned = re.sub(rf"[零〇一二两三四五六七八九十]{{1,3}}{_UNIT_AFTER}",
                     lambda m: str(_small_chinese_int(m.group(0))), cleaned)
    return cleaned


def _shift_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _make(year: int, month: int = 1, day: int = 1, precision: Precision = "day") -> ParsedDate | None:
    try:
        return ParsedDate(year, month, day, precision)
    except ValueError:
        return None


def _read_date(text: str, today: date) -> ParsedDate | None | Literal["impossible"]:
    """The date `text` mentions; None when there is none, "impossible" for one that cannot exist."""

    def made(year: int, month: int = 1, day: int = 1, precision: Precision = "day") -> ParsedDate | Literal["impossible"]:
        return _make(year, month, day, precision) or "impossible"

    for word in sorted(_DAY_WORDS, key=len, reverse=True):
        if word in text:
            return made(*(today + timedelta(days=_DAY_WORDS[word])).timetuple()[:3])
    # 个 may stand before any unit of time: "三个星期前" as well as "三个月前".
    if m := re.search(r"(\d+)个?(天|日|周|星期|礼拜|月|年)(?:以|之)?前", text):
        amount, unit = int(m.group(1)), m.group(2)
        if unit in ("天", "日"):
            return made(*(today - timedelta(days=amount)).timetuple()[:3])
        if unit in ("周", "星期", "礼拜"):
            return made(*(today - timedelta(weeks=amount)).timetuple()[:3])
        if unit == "月":
            return made(*_shift_months(today.year, today.month, -amount), precision="month")
        return made(today.year - amount, precision="year")
    if "半年前" in text:
        return made(*_shift_months(today.year, today.month, -6), precision="month")
    if m := re.search(r"(上上|上|这|本)个?月", text):
        delta = {"上上": -2, "上": -1, "这": 0, "本": 0}[m.group(1)]
        return made(*_shift_months(today.year, today.month, delta), precision="month")
    words = "|".join(sorted(_YEAR_WORDS, key=len, reverse=True))
    if m := re.search(rf"({words})(?:(\d{{1,2}})月(?:份)?(?:(\d{{1,2}})[日号])?)?", text):
        year = today.year + _YEAR_WORDS[m.group(1)]
        if m.group(3):
            return made(year, int(m.group(2)), int(m.group(3)))
        if m.group(2):
            return made(year, int(m.group(2)), precision="month")
        return made(year, precision="year")
    if m := re.search(r"(?<!\d)(\d{4})[年\-/.](\d{1,2})(?:[月\-/.](\d{1,2})[日号]?|月)?(?!\d)", text):
        if m.group(3):
            return made(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return made(int(m.group(1)), int(m.group(2)), precision="month")
    if m := re.search(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)", text):
        return made(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := re.search(r"(?<!\d)(\d{4})年", text):
        return made(int(m.group(1)), precision="year")
    if m := re.search(r"(?<!\d)(\d{1,2})月(?:份)?(?:(\d{1,2})[日号])?", text):
        if m.group(2):
            return made(today.year, int(m.group(1)), int(m.group(2)))
        return made(today.year, int(m.group(1)), precision="month")
    return None


def parse_date(text: str, today: date | None = None, *, must_be_past: bool = False) -> Result[ParsedDate]:
    """A date said in any common way ("2024年3月5日", "去年三月", "三个月前", "2023.5"), relative to `today`.

    A month or a year alone gives the first day of that period, marked by the
    result's `precision`. With `must_be_past`, a period that has not begun by
    `today` is refused; a day and month without a year then mean the last such day.
    """
    if not _normalize(text):
        return _EMPTY
    today = today or date.today()
    cleaned = _date_text(text)
    found = _read_date(cleaned, today)
    if found is None:
        return Invalid("date_not_found")
    if found == "impossible":
        return Invalid("date_impossible", "no such day")
    if found.year < 1900:
        return Invalid("date_impossible", "before 1900")
    said_year = re.search(r"\d{4}|" + "|".join(_YEAR_WORDS), cleaned)
    if must_be_past and found > today and not said_year:
        # "3月5日" asked about the past means the most recent 5 March.
        earlier = _make(found.year - 1, found.month, found.day, found.precision)
        found = earlier or found
    if must_be_past and found > today:
        return Invalid("date_future")
    return Valid(found)


# ---- names and addresses -----------------------------------------------------------------------

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef"
_NAME_FILLERS = re.compile(r"^(?:我的名字是|我的名字叫|我的姓名是|我名字叫|我名字是|名字是|名字叫|姓名是|姓名|名字|我叫|我是|叫)")
_NAME_DOTS = re.compile(r"[·•・‧∙.]")
_TRAILING = r"[\s,，。.!！?？~～、:：;；]"


def parse_full_name(text: str) -> Result[str]:
    """A Chinese personal name as on the ID card: 2-6 characters, or parts joined by · (阿卜杜·热合曼)."""
    cleaned = re.sub(r"\s+", "", _normalize(text))
    cleaned = re.sub(rf"^{_TRAILING}+|{_TRAILING}+$", "", cleaned)
    cleaned = re.sub(r"^[:：]", "", _NAME_FILLERS.sub("", cleaned))
    if len(cleaned) > 2:
        cleaned = re.sub(r"(?:啊|呀|哦|呢|吧)$", "", cleaned)
    name = _NAME_DOTS.sub("·", cleaned)
    if not name:
        return _EMPTY
    if re.search(rf"[^{_CJK}·]", name):
        return Invalid("name_not_chinese", "only Chinese characters and · belong in a name")
    if name.startswith("·") or name.endswith("·") or "··" in name:
        return Invalid("name_format", "· stands between two parts of a name")
    letters = len(name.replace("·", ""))
    if letters < 2:
        return Invalid("name_too_short")
    # Transliterated names (Uyghur, Tibetan...) joined by · run far longer than Han names.
    if letters > (20 if "·" in name else 6):
        return Invalid("name_too_long")
    return Valid(name)


_ADDRESS_FILLERS = re.compile(r"^(?:我的(?:家庭)?(?:住址|地址)是|我(?:家|现在)?住在|(?:家庭|现)?(?:住址|地址)(?:是|在)?|家住|住在|在)")


def parse_address(text: str) -> Result[str]:
    """A postal address: at least 5 characters with Chinese in it, fillers such as "我住在" removed."""
    cleaned = re.sub(r"\s+", " ", _normalize(text))
    cleaned = re.sub(rf"^{_TRAILING}+|{_TRAILING}+$", "", cleaned)
    cleaned = re.sub(rf"^{_TRAILING}+", "", _ADDRESS_FILLERS.sub("", cleaned))
    if not cleaned:
        return _EMPTY
    if not re.search(rf"[{_CJK}]", cleaned):
        return Invalid("address_not_chinese")
    if len(cleaned) < 5:
        return Invalid("address_too_short", f"{len(cleaned)} characters")
    if len(cleaned) > 120:
        return Invalid("address_too_long", f"{len(cleaned)} characters")
    return Valid(cleaned)


