"""How the assistant's messages look on Telegram: split at the length limit, buttons as an inline keyboard."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.conversation import Button
from bot.services import channel_state

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
    """Maps payloads too long for callback_data (64 bytes) to short keys, stored in the database for every replica.

    A press often reaches another gateway than the one that drew the button (a restart, the balancer), so the
    key is written to the database when first used; the ones this replica has used are also kept in memory.
    """

    def __init__(self, capacity: int = 5000,
                 store: Callable[[str, str], None] = channel_state.remember_callback,
                 load: Callable[[str], str | None] = channel_state.callback_payload) -> None:
        self._capacity = capacity
        self._store, self._load = store, load
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def data_for(self, payload: str) -> str:
        """The callback_data for a payload: the payload itself when it fits (may write to the database)."""
        if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES and not payload.startswith(KEY_PREFIX):
            return payload
        key = KEY_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]
        if key not in self._payloads:
            self._store(key, payload)
        self._remember(key, payload)
        return key

    def payload_for(self, data: str) -> str | None:
        """The payload a pressed button stands for; None for a key no replica knows (may read the database)."""
        if not data.startswith(KEY_PREFIX):
            return data
        payload = self._payloads.get(data) or self._load(data)
        if payload is not None:
            self._remember(data, payload)
        return payload

    def _remember(self, key: str, payload: str) -> None:
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self._capacity:
            self._payloads.popitem(last=False)


def keyboard(buttons: Sequence[Button], keys: CallbackKeys) -> InlineKeyboardMarkup | None:
    """One button per row, so long Chinese titles stay readable on a phone."""
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.title, callback_data=keys.data_for(b.payload))]
                                 for b in buttons])
