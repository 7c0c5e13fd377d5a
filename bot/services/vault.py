"""Personal values held back from the dialogue engine: the engine and its stored events see only references.

Before a message reaches the engine, the gateway replaces ID, mobile and bank
card numbers in it, a name the person gives of themselves ("我叫张三丰"), and
the whole answer to a question for a name or an address with references,
and keeps the values encrypted in `vault_entries`. The action server turns
the references back into values for the actions, so validators still check
the real number, and turns values the actions send back (slots, read-backs)
into references again; the gateway shows the person the values. A reference
is a string of digits of a shape no real number has (no ID number starts with
00, no mobile with 10), so the engine's understanding sees "a number was given
here" just as before.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.db.models import VaultEntry
from bot.db.session import unit_of_work
from bot.names import NAME_IN_TEXT, names_in_text
from bot.privacy import mask_address, mask_name, personal_numbers, replace_numbers

# kind: (prefix, length) of its references.
SHAPES = {"id_number": ("00", 18), "card": ("0000", 16), "phone": ("10", 11), "full_name": ("20", 8),
          "address": ("30", 8)}
REFERENCE = re.compile(r"(?<![0-9])(?:00[0-9]{16}|0000[0-9]{12}|10[0-9]{9}|[23]0[0-9]{6})(?![0-9])")
# The slots whose whole value is a name or an address (numbers are found wherever they are).
PERSONAL_SLOTS = {"full_name": "full_name", "appointment_name": "full_name", "address": "address"}
# Words of a request rather than an answer: "转人工" asked for a name must reach the engine as it is.
NOT_AN_ANSWER = re.compile(
    r"人工|客服|工作人员|真人|不办|不弄|不填|不要了|不用了|取消|算了|退出|停止|结束|返回|上一步|重新|紧急|救命|报警|"
    r"着火|晕倒|材料|哪里|哪儿|怎么|如何|多久|多长|多少|收费|费用|进度|状态|预约|什么|为什么|能不能|可不可以|"
    r"吗|呢|？|\?|几点|时间|条件|资格|帮我|我要|我想|查一下|修改|更改|改成|改一下|错了|跳过|不知道|忘了")
MAX_ATTEMPTS = 5
# An address written into free text: a district or street, then a door number ("青松路12号院3栋").
ADDRESS_IN_TEXT = re.compile(
    r"[\u4e00-\u9fff]{1,12}?(?:区|县|市|镇|乡|路|街|巷|道|村)[\u4e00-\u9fff]{0,12}?"
    r"[0-9零一二三四五六七八九十百]{1,6}(?:号|栋|幢|弄|组)[0-9A-Za-z零一二三四五六七八九十百号院栋幢楼单元室层弄组附-]{0,24}")


def _new_reference(kind: str) -> str:
    prefix, length = SHAPES[kind]
    return prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix)))


def is_reference(digits: str) -> bool:
    """Whether a digit string has the shape of a reference (so it is never taken for a number again)."""
    return bool(REFERENCE.fullmatch(digits))


def looks_like_an_answer(text: str) -> bool:
    """Whether a message asked for a name or an address reads as the answer rather than a request."""
    stripped = text.strip()
    # A button press ("/stop", '/inform{...}') is a request; numbers inside it are still held back.
    return (bool(stripped) and len(stripped) <= 120 and not stripped.startswith("/")
            and not NOT_AN_ANSWER.search(stripped))


class Vault:
    """The held-back values of one conversation, read once per use."""

    def __init__(self, conversation_id: str, entries: dict[str, tuple[str, str]]):
        self.conversation_id = conversation_id
        self._by_reference = entries
        self._by_value = {(kind, value): reference for reference, (kind, value) in entries.items()}

    @classmethod
    def of(cls, conversation_id: str) -> Vault:
        """The conversation's vault with the values already held."""
        with unit_of_work() as session:
            rows = session.scalars(select(VaultEntry).where(VaultEntry.conversation_id == conversation_id)).all()
            return cls(conversation_id, {row.reference: (row.kind, row.value) for row in rows})

    @property
    def is_empty(self) -> bool:
        """Whether the conversation has nothing held back."""
        return not self._by_reference

    def hold(self, kind: str, value: str) -> str:
        """The reference of a value, stored encrypted the first time it is seen in this conversation."""
        known = self._by_value.get((kind, value))
        if known:
            return known
        for _ in range(MAX_ATTEMPTS):
            reference = _new_reference(kind)
            if reference in self._by_reference:
                continue
            try:
                with unit_of_work() as session:
                    session.add(VaultEntry(conversation_id=self.conversation_id, reference=reference, kind=kind,
                                           value=value))
            except IntegrityError:
                continue  # taken meanwhile by another process for this conversation
            self._by_reference[reference] = (kind, value)
            self._by_value[(kind, value)] = reference
            return reference
        raise RuntimeError("no free vault reference after several tries")

    def hold_numbers(self, text: str) -> str:
        """The text with every ID, mobile and card number replaced by its reference."""
        def reference(span) -> str:  # noqa: ANN001 - a NumberSpan
            written = text[span.start:span.end]
            # Held as written (spaces, dashes, Chinese digits): the person and the actions get back exactly that.
            return written if is_reference(span.digits) else self.hold(span.kind, written)
        return replace_numbers(text, reference)

    def hold_names(self, text: str) -> str:
        """The text with every name a person gave of themselves in it ("我叫张三丰，…") replaced by its reference."""
        pieces, position = [], 0
        for start, end in names_in_text(text):
            pieces += [text[position:start], self.hold("full_name", text[start:end])]
            position = end
        return "".join(pieces) + text[position:] if pieces else text

    def hold_known(self, text: str, extra: Iterable[tuple[str, str]] = ()) -> str:
        """The text with numbers, and names and addresses this conversation gave, replaced by references."""
        for kind, value in extra:
            if value and len(value) >= 2:
                self.hold(kind, value)
        text = self.hold_numbers(text)
        words = sorted(((v, r) for r, (k, v) in self._by_reference.items() if k in ("full_name", "address")
                        and len(v) >= 2), key=lambda pair: -len(pair[0]))
        for value, reference in words:
            if value in text:
                text = text.replace(value, reference)
        return text

    def reveal(self, text: str) -> str:
        """The text with this conversation's references replaced by their values."""
        if not self._by_reference or not text:
            return text
        return REFERENCE.sub(lambda m: self._by_reference.get(m.group(0), (None, m.group(0)))[1], text)

    def masked(self, text: str) -> str:
        """The text for staff: references and numbers masked, names and addresses reduced to what masks show."""
        def mask(match: re.Match[str]) -> str:
            kind, value = self._by_reference.get(match.group(0), (None, match.group(0)))
            if kind == "full_name":
                return mask_name(value)
            if kind == "address":
                return mask_address(value)
            return value
        masked = replace_numbers(REFERENCE.sub(mask, text or ""), lambda span: span.masked)
        return ADDRESS_IN_TEXT.sub(lambda m: mask_address(m.group(0)), masked)


def walk(data: Any, change: Callable[[str], str]) -> Any:
    """A copy of JSON-like data with every string changed."""
    if isinstance(data, str):
        return change(data)
    if isinstance(data, list):
        return [walk(item, change) for item in data]
    if isinstance(data, dict):
        return {key: walk(value, change) for key, value in data.items()}
    return data


def must_hold_back(text: str, asked_for: str | None) -> bool:
    """Whether a message holds anything for the vault (cheap: most messages do not, and skip the database)."""
    kind = PERSONAL_SLOTS.get(asked_for or "")
    return (bool(kind and looks_like_an_answer(text)) or bool(personal_numbers(text))
            or bool(NAME_IN_TEXT.search(text)))


def holds_references(texts: Iterable[str]) -> bool:
    """Whether any of the texts holds something that may be a reference (cheap: a regular expression)."""
    return any(text and REFERENCE.search(text) for text in texts)


def shield_message(conversation_id: str, text: str, asked_for: str | None) -> str:
    """What the engine receives of a person's message: numbers and names as references, an answer asked for as one."""
    kind = PERSONAL_SLOTS.get(asked_for or "")
    if not must_hold_back(text, asked_for):
        return text
    vault = Vault.of(conversation_id)
    if kind and looks_like_an_answer(text):
        return vault.hold(kind, text.strip())
    return vault.hold_names(vault.hold_numbers(text))


def reveal_for(conversation_id: str) -> Callable[[str], str]:
    """A function showing the person's own values in texts of their conversation (the engine's replies)."""
    vault: Vault | None = None

    def reveal(text: str) -> str:
        nonlocal vault
        if not text or not REFERENCE.search(text):
            return text
        vault = vault or Vault.of(conversation_id)
        return vault.reveal(text)

    return reveal


def masked_for(conversation_id: str, unmask: bool = False) -> Callable[[str], str]:
    """A function turning the conversation's stored texts into what staff see (values shown only if unmasked)."""
    vault = Vault.of(conversation_id)
    return vault.reveal if unmask else vault.masked
