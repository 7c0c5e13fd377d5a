"""The answers a form accepts: each field's check (bot.validators) and how its value is read back.

A check returns `Accepted(value)` with the value in its stored form (ISO dates,
digits only) or `Rejected(response, values)` naming the domain response that
explains the problem in plain words.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot import texts, validators
from bot.privacy import mask_id_number, mask_phone


@dataclass(frozen=True)
class Accepted:
    """A valid answer, in its stored form."""

    value: Any


@dataclass(frozen=True)
class Rejected:
    """A wrong answer: the response that explains it, with its placeholders."""

    response: str
    values: dict[str, Any] = field(default_factory=dict)


Answer = Accepted | Rejected
Check = Callable[[str], Answer]

# What a person says to accept an offered value or the summary, and to refuse one.
YES_WORDS = {"是", "是的", "是啊", "对", "对的", "对啊", "嗯", "嗯嗯", "好", "好的", "可以", "行", "用", "还用", "还是",
             "没变", "不变", "一样", "没错", "确认", "确认提交", "提交", "没问题", "ok", "yes", "y", "确定"}
NO_WORDS = {"不是", "不对", "不", "否", "换", "换一个", "不用", "不用了", "变了", "换了", "要修改", "修改", "改", "no", "n",
            "错了", "有错"}

_PUNCTUATION = re.compile(r"[\s，。,.!！?？~～、]+")


def bare(text: str) -> str:
    """The text without spaces and punctuation, lower-cased, for matching short answers like "是的。"."""
    return _PUNCTUATION.sub("", text or "").lower()


def is_yes(text: str) -> bool:
    """True for a short "yes"."""
    return bare(text) in YES_WORDS


def is_no(text: str) -> bool:
    """True for a short "no"."""
    return bare(text) in NO_WORDS


def _explain(kind: str, result: Any) -> Rejected:
    """The explanation of a validator's Invalid result: by its code ("id_checksum"), else by the kind of field."""
    code = str(getattr(result, "code", "") or "")
    responses = texts.load_responses()
    for name in (f"utter_invalid_{code}", f"utter_invalid_{kind}"):
        if name in responses:
            return Rejected(name)
    return Rejected("utter_invalid_generic")


def _run(kind: str, parse: Callable[[str], Any], text: str) -> Answer:
    result = parse(text)
    if isinstance(result, validators.Valid):
        return Accepted(result.value)
    return _explain(kind, result)


# ---- checks of the common fields -----------------------------------------------------------------

def check_full_name(text: str) -> Answer:
    """A name as on the ID card."""
    return _run("full_name", validators.parse_full_name, text)


def check_id_number(text: str) -> Answer:
    """An 18-digit resident ID with the GB 11643 check character and a real birth date."""
    answer = _run("id_number", validators.parse_id_number, text)
    return Accepted(str(answer.value).upper()) if isinstance(answer, Accepted) else answer


def check_phone(text: str) -> Answer:
    """An 11-digit mainland mobile number."""
    answer = _run("phone", validators.parse_mobile, text)
    return Accepted(re.sub(r"\D", "", str(answer.value))) if isinstance(answer, Accepted) else answer


def check_address(text: str) -> Answer:
    """An address down to a street, estate or house number."""
    return _run("address", validators.parse_address, text)


# ---- checks of other kinds of field ------------------------------------------------------------

def check_date(text: str, *, past_only: bool = False, earliest: dt.date | None = None,
               latest: dt.date | None = None, today: dt.date | None = None) -> Answer:
    """A calendar date, stored as ISO text; `past_only` refuses dates after today."""
    today = today or dt.date.today()
    answer = _run("date", lambda t: validators.parse_date(t, today, must_be_past=past_only), text)
    if not isinstance(answer, Accepted):
        return answer
    value = dt.date(answer.value.year, answer.value.month, answer.value.day)
    if earliest and value < earliest:
        return Rejected("utter_invalid_date_too_old" if past_only else "utter_invalid_date_too_far")
    if latest and value > latest:
        return Rejected("utter_invalid_date_too_far")
    return Accepted(value.isoformat())


def check_amount(text: str) -> Answer:
    """An amount of money in yuan, also in Chinese numerals ("三千五"); stored as a number."""
    answer = _run("amount", validators.parse_amount, text)
    if not isinstance(answer, Accepted):
        return answer
    value = Decimal(str(answer.value))
    if value <= 0:
        return Rejected("utter_invalid_amount")
    return Accepted(int(value) if value == value.to_integral_value() else float(value))


def check_count(text: str, *, low: int = 1, high: int = 600) -> Answer:
    """A whole number such as a count of months ("三个月", "半年")."""
    answer = _run("count", lambda t: validators.parse_count(t, minimum=low, maximum=high), text)
    return Accepted(int(answer.value)) if isinstance(answer, Accepted) else answer


def check_text(text: str, *, shortest: int = 2, longest: int = 60) -> Answer:
    """Free text such as an employer's name: a few characters, not a long story."""
    value = (text or "").strip()
    if not shortest <= len(value) <= longest or is_yes(value) or is_no(value):
        return Rejected("utter_invalid_text")
    return Accepted(value)


def check_city(text: str) -> Answer:
    """A city name; "上海" becomes "上海市" so two spellings of one city compare equal."""
    value = re.sub(r"^(在|去|是|到)", "", bare(text))
    value = re.sub(r"(看病|就医|居住|住|工作)$", "", value)
    if not re.fullmatch(r"[\u4e00-\u9fff]{2,10}", value):
        return Rejected("utter_invalid_city")
    if not value.endswith(("市", "州", "盟", "地区", "县")):
        value += "市"
    return Accepted(value)


def check_choice(text: str, choices: dict[str, tuple[str, ...]]) -> Answer:
    """One of a few options, recognised by any of its keywords."""
    said = bare(text)
    for value, keywords in choices.items():
        if said == value or any(k in said for k in keywords):
            return Accepted(value)
    return Rejected("utter_invalid_choice")


# ---- reading values back -----------------------------------------------------------------------

def age_on(id_number: str, day: dt.date | None = None) -> int:
    """Age in whole years on `day` (today by default), from the birth date inside an 18-digit ID number."""
    return validators.age_on(id_number, day or dt.date.today())


def spoken_date(iso: str) -> str:
    """2023-05-01 → 2023年5月1日."""
    day = dt.date.fromisoformat(iso)
    return f"{day.year}年{day.month}月{day.day}日"


def display(slot: str, value: Any) -> str:
    """A field's value as the read-back summary shows it (ID number and phone masked)."""
    if value is None or value == "":
        return texts.text("utter_application_not_given")
    if slot == "id_number":
        return mask_id_number(str(value))
    if slot == "phone":
        return mask_phone(str(value))
    if slot.endswith("_date"):
        return spoken_date(str(value))
    if slot == "months_unpaid":
        return texts.text("utter_months_value", months=value)
    if slot == "amount_owed":
        return texts.text("utter_amount_value", amount=value)
    if slot == "transfer_reason":
        return texts.text(f"utter_transfer_reason_{value}")
    return str(value)
