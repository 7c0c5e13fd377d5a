"""WeChat's side of a message: signatures, safe-mode encryption, the XML of requests and passive replies.

WeChat has no buttons in a conversation: the assistant's choices become numbered lines ("回复数字"), and
a reply of just that number (1-9, full-width or 一…九) stands for the choice.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.conversation import Button, OutgoingMessage
from bot.errors import BianminError, Forbidden, InvalidRequest

MAX_BODY_BYTES = 64 * 1024  # WeChat's messages are a few hundred bytes; a voice message carries only its media id
MAX_TEXT_CHARS = 2000
MAX_CHOICES = 9
OPENID = re.compile(r"^[A-Za-z0-9_\-]{6,64}$")
_NUMBER = re.compile(r"^\s*(?:第|选)?\s*([1-9１-９一二三四五六七八九])\s*(?:个|项|号)?\s*[。.!！]?\s*$")
_NUMERALS = {**{c: i + 1 for i, c in enumerate("一二三四五六七八九")},
             **{c: i + 1 for i, c in enumerate("１２３４５６７８９")}}


def verify(token: str, signature: str, timestamp: str, nonce: str) -> None:
    """Forbidden unless WeChat signed the request with the account's token."""
    try:
        check_signature(token, signature, timestamp, nonce)
    except InvalidSignatureException as err:
        raise Forbidden("the request is not signed by WeChat with this account's token") from err


@dataclass(frozen=True)
class Incoming:
    """A message or event from a follower, as the channel needs it."""

    openid: str
    account: str  # the Official Account's original id (ToUserName), the sender of a passive reply
    kind: str  # text, voice, event, other
    text: str
    message_key: str  # MsgId, or a key made of the event's sender, time and name
    media_id: str | None = None
    event: str | None = None


def parse(xml: bytes | str) -> Incoming:
    """The parts of WeChat's XML the channel uses; InvalidRequest for anything that is not a WeChat message."""
    try:
        return _incoming(parse_message(xml))
    except InvalidRequest:
        raise
    except Exception as err:  # expat, xmltodict and wechatpy's field converters raise many kinds
        raise InvalidRequest("the body is not a WeChat XML message", code="invalid_xml") from err


def _incoming(message: Any) -> Incoming:
    openid = str(getattr(message, "source", "") or "")
    if not OPENID.match(openid):
        raise InvalidRequest("the message has no valid FromUserName", code="invalid_xml")
    account = str(getattr(message, "target", "") or "")[:64]
    kind = message.type
    raw = getattr(message, "_data", {}) or {}  # the raw fields: CreateTime as sent, not converted to a date
    key = str(getattr(message, "id", "") or f"{openid}:{raw.get('CreateTime', '')}:{raw.get('Event', kind)}")[:128]
    if kind == "text":
        return Incoming(openid, account, "text", str(message.content or "")[:MAX_TEXT_CHARS], key)
    if kind == "voice":
        heard = str(getattr(message, "recognition", "") or "")
        return Incoming(openid, account, "voice", heard[:MAX_TEXT_CHARS], key, media_id=str(message.media_id or ""))
    if kind == "event":
        return Incoming(openid, account, "event", str(getattr(message, "key", "") or ""), key,
                        event=str(message.event or "").lower())
    return Incoming(openid, account, "other", "", key)


class SafeMode:
    """Safe mode (安全模式): requests arrive encrypted with the EncodingAESKey, and replies go back encrypted."""

    def __init__(self, token: str, aes_key: str, app_id: str):
        self._crypto = WeChatCrypto(token, aes_key, app_id)

    def decrypt(self, body: bytes, signature: str, timestamp: str, nonce: str) -> bytes:
        """The plain XML of an encrypted request; Forbidden when its msg_signature does not match."""
        try:
            return self._crypto.decrypt_message(body, signature, timestamp, nonce).encode("utf-8")
        except (InvalidSignatureException, InvalidAppIdException) as err:
            raise Forbidden("the encrypted message is not signed for this account") from err
        except BianminError:
            raise
        except Exception as err:  # malformed XML or ciphertext
            raise InvalidRequest("the encrypted body cannot be read", code="invalid_xml") from err

    def encrypt(self, reply_xml: str, nonce: str) -> str:
        """The encrypted envelope of a passive reply."""
        return self._crypto.encrypt_message(reply_xml, nonce, str(int(time.time())))


def chosen_number(text: str) -> int | None:
    """1-9 when the text is just a choice number ("2", "２", "二", "第二个"), else None."""
    found = _NUMBER.match(text)
    if not found:
        return None
    digit = found.group(1)
    return int(digit) if digit.isascii() else _NUMERALS[digit]


def render(messages: Sequence[OutgoingMessage]) -> tuple[str, list[str]]:
    """One text for WeChat from the assistant's messages, and the payloads of the numbered choices in it."""
    texts = [m.text for m in messages if m.text]
    buttons: list[Button] = [b for m in messages for b in m.buttons][:MAX_CHOICES]
    if buttons:
        lines = [f"{index}. {button.title}" for index, button in enumerate(buttons, start=1)]
        texts.append("请回复数字选择：\n" + "\n".join(lines))
    return "\n\n".join(texts), [b.payload for b in buttons]


def passive_reply(incoming_to: str, account: str, text: str) -> str:
    """The XML of a passive text reply to the follower."""
    reply = TextReply(content=text)
    reply.source, reply.target = account, incoming_to
    return reply.render()


def new_nonce() -> str:
    """A nonce for an encrypted reply."""
    return secrets.token_hex(8)
