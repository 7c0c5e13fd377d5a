"""Numbers on the phone: keyed or spoken digits, read back in groups, and the caller's own number."""

from __future__ import annotations

import re
from typing import TypeGuard
import unicodedata

from bot import texts

# Slots whose answer is a number the caller may key in (ending with '#') instead of saying it.
NUMBER_SLOT_ENDINGS = ("id_number", "phone")
_OWN_NUMBER_SLOTS = ("callback_phone", "appointment_phone", "phone")
# An ID number's last character may be X, which a keypad lacks: '*' after 17 digits stands for it.
ID_X_AFTER_DIGITS = 17
# How people say digits: 幺 and 两 for 1 and 2, and 拐/洞 in radio style; X closes some ID numbers.
_SPOKEN_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "拐": "7", "八": "8", "九": "9", "勾": "9",
}
_SPOKEN_X = ("叉", "x", "X")
_FILLER = re.compile(r"[\s,，。.、\-–—:：;；!！?？]|[是的啊呀吧呢号码我]")


def is_number_slot(slot: str | None) -> TypeGuard[str]:
    """Whether the requested slot is an ID or phone number."""
    return slot is not None and slot.endswith(NUMBER_SLOT_ENDINGS)


def is_id_slot(slot: str | None) -> bool:
    """Whether the requested slot is a resident ID number (18 characters, the last may be X)."""
    return slot is not None and slot.endswith("id_number")


def offers_own_number(slot: str | None) -> bool:
    """Whether the caller's own number is a fitting answer (a phone number to call back on)."""
    return slot is not None and slot.endswith(_OWN_NUMBER_SLOTS)


def spoken_digits(text: str) -> str | None:
    """'幺三八 零零幺三 八零零零' or '138 0013 8000' → '13800138000'; None when the text is not just a number."""
    compact = _FILLER.sub("", unicodedata.normalize("NFKC", text or ""))
    if not compact:
        return None
    digits = []
    for index, char in enumerate(compact):
        if char.isdigit():
            digits.append(char)
        elif char in _SPOKEN_DIGITS:
            digits.append(_SPOKEN_DIGITS[char])
        elif char in _SPOKEN_X and index == len(compact) - 1:
            digits.append("X")
        else:
            return None
    return "".join(digits)


def mobile_of(caller: str) -> str | None:
    """The caller's mainland mobile number from a SIP user or telephone number, if it is one."""
    digits = re.sub(r"\D", "", (caller or "").split("@")[0])
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if re.fullmatch(r"1\d{10}", digits) else None


def groups(number: str) -> list[str]:
    """A number cut the way it is read: short ones whole, mobile 3-4-4, ID 6-8-4, references 3-3-3, others in fours."""
    if len(number) <= 6:
        return [number]
    if len(number) == 11 and number.startswith("1"):
        sizes: tuple[int, ...] = (3, 4, 4)
    elif len(number) == 18:
        sizes = (6, 8, 4)
    elif len(number) == 9:
        sizes = (3, 3, 3)  # an application reference, as it is printed: 123-456-789
    else:
        sizes = (4,) * ((len(number) + 3) // 4)
    result, start = [], 0
    for size in sizes:
        if start < len(number):
            result.append(number[start:start + size])
            start += size
    return result


def read_aloud(number: str) -> str:
    """The number as the synthesiser should say it: digit by digit, a pause between groups."""
    names = texts.text("utter_phone_digit_names")
    separator = texts.text("utter_phone_digit_group_separator")

    def say(group: str) -> str:
        return "".join(names[int(c)] if c.isdigit() else c for c in group)

    return separator.join(say(g) for g in groups(number))


# A long number in a reply (a phone number, an application reference "123-456-789"), and a
# reference code of letters and digits ("YY-7K3Q9P"); short numbers ("第1位", "9点") stay as they are.
_LONG_NUMBER = re.compile(r"(?<![\dA-Za-z])\d(?:[\d \-]*\d)?[Xx]?(?![\dA-Za-z])")
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2,3})-([A-Z0-9]{4,})(?![A-Za-z0-9])")
_MIN_DIGITS_READ_ONE_BY_ONE = 5


def _say_characters(value: str) -> str:
    names = texts.text("utter_phone_digit_names")
    return " ".join(names[int(c)] if c.isdigit() else c for c in value)


def speakable(text: str) -> str:
    """The text with long numbers read digit by digit in groups and codes letter by letter, as on the phone."""

    def number(match: re.Match[str]) -> str:
        raw = match.group(0)
        digits = re.sub(r"[ \-]", "", raw).upper()
        if sum(c.isdigit() for c in digits) < _MIN_DIGITS_READ_ONE_BY_ONE:
            return raw
        parts = [p for p in re.split(r"[ \-]+", raw.upper()) if p]
        if len(parts) > 1:
            separator = texts.text("utter_phone_digit_group_separator")
            return separator.join(_say_characters(p).replace(" ", "") for p in parts)
        return read_aloud(digits)

    def code(match: re.Match[str]) -> str:
        separator = texts.text("utter_phone_digit_group_separator")
        return _say_characters(match.group(1)) + separator + _say_characters(match.group(2))

    return _LONG_NUMBER.sub(number, _CODE.sub(code, text or ""))
