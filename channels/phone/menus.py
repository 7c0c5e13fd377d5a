"""Buttons as keypad choices: which key stands for which payload, and how the options are read out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot import texts
from bot.conversation import Button

HUMAN_KEY = "0"
HUMAN_PAYLOAD = "/request_human"
MENU_KEYS = "123456789"
# What callers say instead of pressing a key; matched on the recognised text with spaces removed.
REPEAT_WORDS = ("再说一遍", "再说一次", "没听清", "重复一遍", "再讲一遍")
SLOWER_WORDS = ("说慢点", "说慢一点", "慢点说", "慢一点", "太快了")
HUMAN_WORDS = ("转人工", "人工服务", "找人工", "找工作人员", "转工作人员")
YES_WORDS = ("对的", "是的", "对", "是", "没错", "确认", "正确")
NO_WORDS = ("不对", "不是", "错了", "重新输入", "重新")
# Grammar for a read-back confirmation: the model then only chooses among these.
CONFIRM_GRAMMAR = ["对", "是", "对的", "是的", "不对", "不是", "一", "二"]
_ORDINAL = re.compile(r"^(?:按|选|第)?([一二三四五六七八九1-9])(?:个|号|项)?$")
_NUMERALS = {c: str(i) for i, c in enumerate("零一二三四五六七八九")}


@dataclass(frozen=True)
class Choice:
    """One keypad choice: the key, the button's title and the payload sent when it is pressed."""

    key: str
    title: str
    payload: str


def choices_for(buttons: Sequence[Button]) -> tuple[Choice, ...]:
    """Keys 1-9 in button order; a "find a person" button is always key 0."""
    result, keys = [], iter(MENU_KEYS)
    for button in buttons:
        if button.payload == HUMAN_PAYLOAD:
            result.append(Choice(HUMAN_KEY, button.title, button.payload))
            continue
        key = next(keys, None)
        if key is None:
            break  # a telephone keypad has nine choice keys; the rest is reachable by voice
        result.append(Choice(key, button.title, button.payload))
    return tuple(result)


def menu() -> tuple[str, tuple[Choice, ...]]:
    """The top-level phone menu: its sentence and the most asked services as choices."""
    buttons = tuple(Button(b["title"], b["payload"]) for b in texts.buttons("utter_phone_menu"))
    return texts.text("utter_phone_menu"), choices_for(buttons)


def read_options(choices: Sequence[Choice]) -> str:
    """"社保卡请按1，…，找工作人员请按0。" – a person is always offered, last."""
    ordered = [c for c in choices if c.key != HUMAN_KEY] + [c for c in choices if c.key == HUMAN_KEY]
    spoken = [texts.text("utter_phone_option", title=c.title, key=c.key) for c in ordered]
    if not any(c.key == HUMAN_KEY for c in choices):
        spoken.append(texts.text("utter_phone_option_human"))
    return texts.text("utter_phone_option_separator").join(spoken) + "。"


def choice_for_key(choices: Sequence[Choice], key: str) -> Choice | None:
    """The choice a key stands for, or None."""
    return next((c for c in choices if c.key == key), None)


def _compact(text: str) -> str:
    return re.sub(r"[\s,，。.!！?？、]", "", text or "")


def says_any(text: str, words: Sequence[str]) -> bool:
    """Whether the recognised text contains one of the phrases."""
    compact = _compact(text)
    return any(w in compact for w in words)


def asks_for_person(text: str) -> bool:
    """"转人工", "找工作人员", or just "人工"."""
    return _compact(text) == "人工" or says_any(text, HUMAN_WORDS)


def spoken_key(text: str) -> str | None:
    """"一", "第二个", "按3" → the key a caller names by voice, or None."""
    match = _ORDINAL.match(_compact(text))
    if match is None:
        return None
    value = match.group(1)
    return _NUMERALS.get(value, value)


def confirmation(text: str) -> bool | None:
    """True for yes ("对", "是的", "一"), False for no ("不对", "二"), None when unclear."""
    compact = _compact(text)
    if not compact:
        return None
    if any(w in compact for w in NO_WORDS) or spoken_key(compact) == "2":
        return False
    if any(w in compact for w in YES_WORDS) or spoken_key(compact) == "1":
        return True
    return None
