"""Conversations and the messages that reach them outside a request (staff replies, reminders, status changes)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.models import Conversation, OutboxMessage, utcnow
from bot.db.session import get_engine, unit_of_work
from bot.errors import Forbidden
from bot.services import audit, chat_replies

KNOWN_QUERY = select(Conversation.id).where(Conversation.id == bindparam("conversation_id"))
TOKEN_HASH_QUERY = select(Conversation.token_hash).where(Conversation.id == bindparam("conversation_id"))
# Web clients choose their own conversation ids, so the id proves nothing: every call after the first
# carries the token the first answer gave. Telegram and phone conversations are bound to the channel's identity.
TOKEN_CHANNELS = frozenset({"web", "kiosk"})
TOKEN_HEADER = "X-Conversation-Token"
MAX_TOKEN_LENGTH = 128  # ours are 43 characters; longer is wrong without hashing it
# One answer for a missing token, a wrong one and an unknown conversation: it reveals nothing.
TOKEN_REFUSAL = "这个对话需要有效的对话凭证（X-Conversation-Token），请重新开始一个对话。"
# The audit log's "who" of a refused token: the caller proved nothing, so it is nobody we know.
TOKEN_REFUSED_BY = "anonymous"


@dataclass(frozen=True)
class PushedMessage:
    """A message delivered to a conversation outside a request; `id` doubles as the cursor."""

    id: int
    sender: str
    text: str
    buttons: list[dict[str, str]]


def new_token() -> tuple[str, str]:
    """A fresh conversation token and its hash: the client keeps the token, the database only the hash."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """The stored form of a token; 256 random bits need no slow hash, only one that cannot be reversed."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: str | None, stored_hash: str | None) -> bool:
    """Whether a presented token is the conversation's (constant time; no stored hash matches nothing)."""
    if not token or not stored_hash or len(token) > MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)


def refuse_token() -> Forbidden:
    """The one 403 for a missing or wrong token and for an unknown conversation."""
    return Forbidden(TOKEN_REFUSAL, code="conversation_token_invalid")


def audit_refusal(conversation_id: str, token: str | None, during: str) -> None:
    """Notes a refused token in the audit log: which conversation, when, during what; never the token tried."""
    audit.record(TOKEN_REFUSED_BY, "conversation_token_refused", f"conversation:{conversation_id}"[:160],
                 f"{during}: {'a wrong token' if token else 'no token'}")


def check_token(conversation_id: str, token: str | None) -> None:
    """Raises the 403 unless `token` is the conversation's; for calls that are not a turn (reading pushed messages)."""
    with get_engine().connect() as connection:
        stored = connection.scalar(TOKEN_HASH_QUERY, {"conversation_id": conversation_id})
    if not token_matches(token, stored):
        audit_refusal(conversation_id, token, "reading messages")
        raise refuse_token()


# What an ended conversation keeps instead of its token's hash: no token hashes to it, so none continues it.
ENDED = "ended"


def end(conversation_id: str, token: str | None) -> None:
    """Ends a web or kiosk conversation for good when the person taps 结束: its token stops working.

    The device forgets the conversation too, but a copy of the token (a shared computer's memory, a screenshot
    at the kiosk) must not let the next person read or continue it. The same 403 as a wrong token otherwise.
    """
    with get_engine().connect() as connection:
        stored = connection.scalar(TOKEN_HASH_QUERY, {"conversation_id": conversation_id})
    if not token_matches(token, stored):
        audit_refusal(conversation_id, token, "ending the conversation")
        raise refuse_token()
    with get_engine().begin() as connection:
        connection.execute(update(Conversation).where(Conversation.id == conversation_id).values(token_hash=ENDED))
    chat_replies.forget(conversation_id)


def ensure(conversation_id: str, channel: str, locale: str, token_hash: str | None = None) -> bool:
    """Records the conversation unless it is known; True if this call created it.

    Two first messages at once: the second leaves the row as it is (and its token is not the conversation's).
    """
    engine = get_engine()
    dialect_insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.begin() as connection:
        result = connection.execute(dialect_insert(Conversation)
                                    .values(id=conversation_id, channel=channel, locale=locale,
                                            created_at=utcnow(), token_hash=token_hash)
                                    .on_conflict_do_nothing(index_elements=[Conversation.id])
                                    .returning(Conversation.id))
        # The row it inserted, if any: psycopg reports no rowcount (-1) for an INSERT … ON CONFLICT DO NOTHING.
        return result.first() is not None


def channel_of(conversation_id: str) -> str | None:
    """The channel a conversation came in on, or None for an unknown conversation."""
    with unit_of_work() as session:
        conversation = session.get(Conversation, conversation_id)
        return conversation.channel if conversation else None


def push(conversation_id: str, sender: str, text: str, buttons: list[dict[str, Any]] | None = None) -> PushedMessage:
    """Stores a message for the person; their channel delivers it (web chat reads it by cursor)."""
    with unit_of_work() as session:
        message = OutboxMessage(conversation_id=conversation_id, sender=sender, text=text, buttons=buttons or [])
        session.add(message)
        session.flush()
        return PushedMessage(message.id, sender, text, list(message.buttons))


def messages_after(conversation_id: str, cursor: int | None, limit: int = 100) -> list[PushedMessage]:
    """Messages pushed to the conversation after `cursor` (all when None), oldest first."""
    with unit_of_work() as session:
        query = select(OutboxMessage).where(OutboxMessage.conversation_id == conversation_id)
        if cursor is not None:
            query = query.where(OutboxMessage.id > cursor)
        rows = session.scalars(query.order_by(OutboxMessage.id).limit(limit)).all()
        return [PushedMessage(r.id, r.sender, r.text, list(r.buttons)) for r in rows]
