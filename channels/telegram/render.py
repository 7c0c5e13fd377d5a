"""How the assistant's messages look on Telegram: split at the length limit, buttons as an inline keyboard."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.conversation import Button

MAX_MESSAGE_CHARS = 4096
MAX_CALLBACK_BYTES = 64
KEY_PREFIX = "k:"
# A sentence ends after Chinese or Western end punctuation or a line break.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Cuts a long answer into messages Telegram accepts, on sentence boundaries where possible."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > limit:
            # One sentence longer than a message: nothing better than a hard cut.
            if current:
                parts.append(current)
                current = ""
            parts.append(sentence[:limit])
            sentence = sentence[limit:]
        if len(current) + len(sentence) > limit:
            parts.append(current)
            current = ""
        current += sentence
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()]


class CallbackKeys:
    """Maps payloads too long for callback_data (64 bytes) to short keys, keeping the most recent ones."""

    def __init__(self, capacity: int = 5000) -> None:
        self._capacity = capacity
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def data_for(self, payload: str) -> str:
        """The callback_data for a payload: the payload itself when it fits."""
        if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES and not payload.startswith(KEY_PREFIX):
            return payload
        key = KEY_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self._capacity:
            self._payloads.popitem(last=False)
        return key

    def payload_for(self, data: str) -> str | None:
        """The payload a pressed button stands for; None for a key that has been forgotten."""
        if data.startswith(KEY_PREFIX):
            return self._payloads.get(data)
        return data


def keyboard(buttons: Sequence[Button], keys: CallbackKeys) -> InlineKeyboardMarkup | None:
    """One button per row, so long Chinese titles stay readable on a phone."""
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.title, callback_data=keys.data_for(b.payload))]
                                 for b in buttons])
