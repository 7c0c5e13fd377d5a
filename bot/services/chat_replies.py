"""Answers already given to a web or kiosk client's message ids: a retried message is answered once, not run twice.

A client that got no answer (a timeout, a gateway killed under it) sends the same
message again with the same `message_id`; the answer given the first time is sent
back unchanged, from whichever replica the retry reaches. An answer is remembered for
REPLIES_FOR (swept now and then) and only the last REPLIES_PER_CONVERSATION of a
conversation, so the table stays small. A retry that comes before the first attempt's answer was stored
runs the turn again with the same message id, and the dialogue engine recognises it
(`bot/rasa_plugins/channel.py`), as do bookings and submissions (their turn key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.models import ChatReply, utcnow
from bot.db.session import get_engine, unit_of_work
from bot.errors import Conflict

# Clients retry within seconds; a day covers a phone that went to sleep in the middle of a request.
REPLIES_FOR = dt.timedelta(days=1)
REPLIES_PER_CONVERSATION = 20
# A first message's token is given again only to a retry soon after: the client that lost the answer.
FIRST_ANSWER_RETRY_FOR = dt.timedelta(minutes=10)
# Client-chosen ids: long enough to be unguessable when random (a UUID), short enough to index.
MESSAGE_ID = r"^[A-Za-z0-9_.\-]{8,64}$"
# How many answers a process keeps between two sweeps of the expired ones (each sweep is one indexed delete).
PRUNE_EVERY = 100
_kept_since_prune = 0
RECALL_QUERY = select(ChatReply.text_digest, ChatReply.reply, ChatReply.conversation_token, ChatReply.created_at).where(
    ChatReply.conversation_id == bindparam("conversation_id"), ChatReply.message_id == bindparam("message_id"),
    ChatReply.created_at >= bindparam("since"))


class MessageIdReused(Conflict):
    """The message id was sent before with another text: a client bug, refused rather than answered wrongly."""

    code = "message_id_reused"


@dataclass(frozen=True)
class Remembered:
    """What is kept of a message: the answer given (None while its turn is in hand) and, for the message that
    created the conversation, the conversation's token."""

    reply: dict[str, Any] | None
    conversation_token: str | None = None


def digest(text: str) -> str:
    """The SHA-256 of a message's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recall(conversation_id: str, message_id: str, text: str) -> Remembered | None:
    """What is kept of this message id, or None; MessageIdReused when the id came with another text."""
    # Read on every turn that carries an id: a plain connection costs a fraction of an ORM session.
    with get_engine().connect() as connection:
        row = connection.execute(RECALL_QUERY, {"conversation_id": conversation_id, "message_id": message_id,
                                                "since": utcnow() - REPLIES_FOR}).first()
    if row is None:
        return None
    if row.text_digest != digest(text):
        raise MessageIdReused("this message_id was sent before with another text; send a new id for a new message")
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
    token = row.conversation_token if created >= utcnow() - FIRST_ANSWER_RETRY_FOR else None
    return Remembered(json.loads(row.reply) if row.reply else None, token)


def first_message(conversation_id: str, message_id: str, text: str, token: str) -> None:
    """Keeps the token of a conversation its first message has just created, before the turn runs.

    If the answer is lost (the gateway killed under the request), the client's retry of this message has no
    token to show; the same id and text prove it is that client, and it gets the token with the answer.
    """
    with unit_of_work() as session:
        session.add(ChatReply(conversation_id=conversation_id, message_id=message_id, text_digest=digest(text),
                              reply=None, conversation_token=token, created_at=utcnow()))


def remember(conversation_id: str, message_id: str, text: str, reply: dict[str, Any],
             now: dt.datetime | None = None) -> None:
    """Keeps the answer for retries (the first one stored stands) and forgets the conversation's oldest.

    Written on every turn that carries an id, so it is one transaction of plain statements; the expired
    answers of every conversation go now and then (every PRUNE_EVERY answers kept by this process).
    """
    global _kept_since_prune
    now = now or utcnow()
    encoded = json.dumps(reply, ensure_ascii=False)
    engine = get_engine()
    dialect_insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.begin() as connection:
        inserted = connection.execute(
            dialect_insert(ChatReply).values(conversation_id=conversation_id, message_id=message_id,
                                             text_digest=digest(text), reply=encoded, created_at=now)
            .on_conflict_do_nothing(index_elements=[ChatReply.conversation_id, ChatReply.message_id])
            .returning(ChatReply.message_id)).first()
        if inserted is None:
            # The message that created the conversation (its token kept before the turn), or a concurrent
            # attempt of the same message that stored its answer first: that one stands.
            connection.execute(update(ChatReply).where(ChatReply.conversation_id == conversation_id,
                                                       ChatReply.message_id == message_id, ChatReply.reply.is_(None))
                               .values(reply=encoded))
        kept = select(ChatReply.message_id).where(ChatReply.conversation_id == conversation_id).order_by(
            ChatReply.created_at.desc()).limit(REPLIES_PER_CONVERSATION)
        connection.execute(delete(ChatReply).where(ChatReply.conversation_id == conversation_id,
                                                   ChatReply.message_id.not_in(kept.scalar_subquery())))
    _kept_since_prune += 1
    if _kept_since_prune >= PRUNE_EVERY:
        _kept_since_prune = 0
        prune_expired(now)


def prune_expired(now: dt.datetime | None = None) -> None:
    """Drops every conversation's answers older than REPLIES_FOR (by the created_at index)."""
    with get_engine().begin() as connection:
        connection.execute(delete(ChatReply).where(ChatReply.created_at < (now or utcnow()) - REPLIES_FOR))


def forget(conversation_id: str) -> None:
    """Drops every answer kept for the conversation (it ended): not even its first message's retry gets its token."""
    with unit_of_work() as session:
        session.execute(delete(ChatReply).where(ChatReply.conversation_id == conversation_id))
