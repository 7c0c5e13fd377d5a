"""What a retried web or kiosk message needs beyond the dialogue engine's own record of it.

A client that got no answer (a timeout, a gateway killed under it) sends the same
message again with the same `message_id`. An ordinary turn needs nothing here: the
engine keeps each message's id in the tracker and answers a message it has handled with
what it said then, without running it again (`bot/rasa_plugins/channel.py`), and it
refuses an id sent before with another text, told by the text's digest the gateway
sends with the message (`text_digests`). The gateway reads and writes this table only
where the engine cannot answer a retry:

- the message that created a conversation keeps the conversation's token, written before
  its turn runs: a client that lost that answer has no token to show, and the same id and
  text prove it is that client (`first_message`, `recall`);
- a message given to the staff member serving the person never reaches the engine; its id
  is claimed in the transaction that adds it for staff, so a retry adds nothing (`claim`).

So an ordinary turn costs no query of this table. Rows are kept for REPLIES_FOR (swept now
and then) and only the last REPLIES_PER_CONVERSATION of a conversation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.db.models import ChatReply, utcnow
from bot.db.session import get_engine, unit_of_work
from bot.errors import MessageIdReused
from bot.services.people import cipher

# Clients retry within seconds; a day covers a phone that went to sleep in the middle of a request.
REPLIES_FOR = dt.timedelta(days=1)
REPLIES_PER_CONVERSATION = 20
# A first message's token is given again only to a retry soon after: the client that lost the answer.
FIRST_ANSWER_RETRY_FOR = dt.timedelta(minutes=10)
# Client-chosen ids: long enough to be unguessable when random (a UUID), short enough to index.
MESSAGE_ID = r"^[A-Za-z0-9_.\-]{8,64}$"
# How many rows a process keeps between two sweeps of the expired ones (each sweep is one indexed delete).
PRUNE_EVERY = 100
# A digest is written with letters only: the masking of ID and phone numbers in stored events (bot/services/
# redaction.py) finds no number in it, so the engine's copy of it stays comparable after a redaction.
_DIGITS_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")
# 128 bits of the keyed digest: no two texts of a conversation share one.
DIGEST_LENGTH = 32
_kept_since_prune = 0
RECALL_QUERY = select(ChatReply.text_digest, ChatReply.conversation_token, ChatReply.created_at).where(
    ChatReply.conversation_id == bindparam("conversation_id"), ChatReply.message_id == bindparam("message_id"),
    ChatReply.created_at >= bindparam("since"))


@dataclass(frozen=True)
class FirstMessage:
    """What is kept of a message that created a conversation: its token, while a retry may still ask for it."""

    conversation_token: str | None


def text_digests(text: str) -> tuple[str, ...]:
    """The digest of a message's text under the current field key first, then under each former one.

    Keyed (HMAC), because the engine keeps the digest beside the message for as long as the conversation: a
    plain hash of a name or a phone number given as an answer could be found again by trying every name.
    The former keys' digests let a retry sent across a key rotation still match its first attempt.
    """
    return tuple(fingerprint[:DIGEST_LENGTH].translate(_DIGITS_AS_LETTERS)
                 for fingerprint in cipher().lookup_fingerprints(text))


def _refuse_another_text(kept_digest: str, text: str) -> None:
    if kept_digest not in text_digests(text):
        raise MessageIdReused()


def recall(conversation_id: str, message_id: str, text: str) -> FirstMessage | None:
    """What is kept of this message id, or None; MessageIdReused when the id came with another text."""
    with get_engine().connect() as connection:
        row = connection.execute(RECALL_QUERY, {"conversation_id": conversation_id, "message_id": message_id,
                                                "since": utcnow() - REPLIES_FOR}).first()
    if row is None:
        return None
    _refuse_another_text(row.text_digest, text)
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
    return FirstMessage(row.conversation_token if created >= utcnow() - FIRST_ANSWER_RETRY_FOR else None)


def first_message(conversation_id: str, message_id: str, text: str, token: str) -> None:
    """Keeps the token of a conversation its first message has just created, before the turn runs.

    If the answer is lost (the gateway killed under the request), the client's retry of this message has no
    token to show; the same id and text prove it is that client, and it gets the token with the answer,
    which the engine gives again from its own record of the message.
    """
    with unit_of_work() as session:
        session.add(ChatReply(conversation_id=conversation_id, message_id=message_id,
                              text_digest=text_digests(text)[0], conversation_token=token, created_at=utcnow()))
        _sweep_now_and_then(session)


def claim(session: Session, conversation_id: str, message_id: str, text: str) -> bool:
    """Claims the message id in the caller's transaction: False when it was claimed before (a retry).

    MessageIdReused when the id came before with another text. A second attempt running at the same time
    waits for the first one's transaction (PostgreSQL holds the new key, SQLite the write lock) and then sees
    its claim. The conversation's oldest claims beyond REPLIES_PER_CONVERSATION are forgotten.
    """
    digest = text_digests(text)[0]
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = session.execute(
        dialect_insert(ChatReply).values(conversation_id=conversation_id, message_id=message_id, text_digest=digest,
                                         created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[ChatReply.conversation_id, ChatReply.message_id])
        .returning(ChatReply.message_id)).first()
    if inserted is None:
        kept = session.scalar(select(ChatReply.text_digest).where(ChatReply.conversation_id == conversation_id,
                                                                  ChatReply.message_id == message_id))
        _refuse_another_text(kept or "", text)
        return False
    newest = select(ChatReply.message_id).where(ChatReply.conversation_id == conversation_id).order_by(
        ChatReply.created_at.desc()).limit(REPLIES_PER_CONVERSATION)
    session.execute(delete(ChatReply).where(ChatReply.conversation_id == conversation_id,
                                            ChatReply.message_id.not_in(newest.scalar_subquery())))
    _sweep_now_and_then(session)
    return True


def _sweep_now_and_then(session: Session) -> None:
    """Drops every conversation's expired rows, in the caller's transaction, once per PRUNE_EVERY rows kept."""
    global _kept_since_prune
    _kept_since_prune += 1
    if _kept_since_prune >= PRUNE_EVERY:
        _kept_since_prune = 0
        session.execute(delete(ChatReply).where(ChatReply.created_at < utcnow() - REPLIES_FOR))


def forget(conversation_id: str) -> None:
    """Drops every row kept for the conversation (it ended): not even its first message's retry gets its token."""
    with unit_of_work() as session:
        session.execute(delete(ChatReply).where(ChatReply.conversation_id == conversation_id))
