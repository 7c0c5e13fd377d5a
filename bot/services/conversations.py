"""Conversations and the messages that reach them outside a request (staff replies, reminders, status changes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.models import Conversation, OutboxMessage, utcnow
from bot.db.session import get_engine, unit_of_work

KNOWN_QUERY = select(Conversation.id).where(Conversation.id == bindparam("conversation_id"))


@dataclass(frozen=True)
class PushedMessage:
    """A message delivered to a conversation outside a request; `id` doubles as the cursor."""

    id: int
    sender: str
    text: str
    buttons: list[dict[str, str]]


def ensure(conversation_id: str, channel: str, locale: str) -> None:
    """Records the conversation unless it is known (two first messages at once: the second leaves the row)."""
    engine = get_engine()
    dialect_insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.begin() as connection:
        connection.execute(dialect_insert(Conversation)
                           .values(id=conversation_id, channel=channel, locale=locale, created_at=utcnow())
                           .on_conflict_do_nothing(index_elements=[Conversation.id]))


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
