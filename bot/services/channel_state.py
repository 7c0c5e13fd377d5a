"""State a channel keeps between messages, in the database so that every gateway replica shares it.

- seen messages: a platform that retries (WeChat after 5 s, Telegram's webhook) gets one turn per message;
- offered choices: on a channel without buttons, "2" means the second choice offered last;
- platform credentials: one access token for all replicas, refreshed before it expires;
- preferences: a person's choices on a channel (answers as voice notes too);
- callback keys: the payload a short button key stands for, whichever replica drew the button.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.db.models import (
    CallbackKey,
    ChannelCredential,
    ChannelPreference,
    OfferedChoices,
    SeenMessage,
    utcnow,
)
from bot.db.session import unit_of_work
from bot.services.people import cipher

# How long a message id is remembered; platforms retry within seconds or minutes.
SEEN_FOR = dt.timedelta(days=2)
# Numbered choices older than this no longer stand for anything: "1" is then just a message.
CHOICES_FOR = dt.timedelta(hours=24)
MAX_CHOICES = 9
# A button's key outlives any keyboard a person might still press.
CALLBACK_KEYS_FOR = dt.timedelta(days=30)
# A credential is replaced this long before it expires, so no request carries one that expires on the way.
REFRESH_MARGIN = dt.timedelta(minutes=5)


def first_time(channel: str, key: str) -> bool:
    """Records a message id; False when it was recorded before (a retry to be answered without a second turn)."""
    try:
        with unit_of_work() as session:
            session.add(SeenMessage(channel=channel, key=key[:128], created_at=utcnow()))
    except IntegrityError:
        return False
    return True


def forget_old_seen(now: dt.datetime | None = None) -> int:
    """Drops message ids older than SEEN_FOR and button keys older than CALLBACK_KEYS_FOR; returns how many."""
    now = now or utcnow()
    with unit_of_work() as session:
        # A DELETE answers with a CursorResult, which has a rowcount.
        seen = session.execute(delete(SeenMessage).where(SeenMessage.created_at < now - SEEN_FOR))
        keys = session.execute(delete(CallbackKey).where(CallbackKey.created_at < now - CALLBACK_KEYS_FOR))
        return (seen.rowcount or 0) + (keys.rowcount or 0)  # type: ignore[attr-defined]


def set_voice_answers(conversation_id: str, on: bool) -> None:
    """Records whether this person wants answers as voice notes too."""
    with unit_of_work() as session:
        row = session.get(ChannelPreference, conversation_id)
        if row is None:
            row = ChannelPreference(conversation_id=conversation_id)
            session.add(row)
        row.voice_answers, row.updated_at = on, utcnow()


def voice_answers(conversation_id: str) -> bool:
    """True when this person asked for answers as voice notes too."""
    with unit_of_work() as session:
        row = session.get(ChannelPreference, conversation_id)
        return bool(row and row.voice_answers)


def remember_callback(key: str, payload: str) -> None:
    """Stores the payload a button key stands for (the same key always stands for the same payload)."""
    try:
        with unit_of_work() as session:
            if session.get(CallbackKey, key) is None:
                session.add(CallbackKey(key=key, payload=payload, created_at=utcnow()))
    except IntegrityError:
        pass  # another replica stored the same key at the same moment


def callback_payload(key: str) -> str | None:
    """The payload a button key stands for; None for a key never stored or forgotten."""
    with unit_of_work() as session:
        row = session.get(CallbackKey, key)
        return row.payload if row else None


def offer(conversation_id: str, payloads: Sequence[str]) -> None:
    """Remembers the choices just offered (at most nine; none clears them)."""
    with unit_of_work() as session:
        row = session.get(OfferedChoices, conversation_id)
        if row is None:
            row = OfferedChoices(conversation_id=conversation_id)
            session.add(row)
        row.payloads = list(payloads)[:MAX_CHOICES]
        row.offered_at = utcnow()


def chosen(conversation_id: str, number: int, now: dt.datetime | None = None) -> str | None:
    """The payload of choice `number` (from 1) offered last, or None when there is no such current choice."""
    with unit_of_work() as session:
        row = session.get(OfferedChoices, conversation_id)
        if row is None or not 1 <= number <= len(row.payloads):
            return None
        offered_at = row.offered_at if row.offered_at.tzinfo else row.offered_at.replace(tzinfo=dt.timezone.utc)
        if (now or utcnow()) - offered_at > CHOICES_FOR:
            return None
        return str(row.payloads[number - 1])


def credential(name: str, fetch: Callable[[], tuple[str, int]], now: dt.datetime | None = None) -> str:
    """A platform credential shared by all replicas: the stored one while valid, else `fetch()` (value, seconds).

    The row is locked while it is renewed (PostgreSQL), so replicas that find it expired together fetch once.
    """
    now = now or utcnow()
    with unit_of_work() as session:
        row = session.execute(select(ChannelCredential).where(ChannelCredential.name == name)
                              .with_for_update()).scalar_one_or_none()
        if row is not None:
            expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.timezone.utc)
            if expires - REFRESH_MARGIN > now:
                return cipher().decrypt(row.value_encrypted)
        value, lifetime = fetch()
        expires_at = now + dt.timedelta(seconds=lifetime)
        if row is None:
            session.add(ChannelCredential(name=name, value_encrypted=cipher().encrypt(value), expires_at=expires_at))
        else:
            row.value_encrypted, row.expires_at = cipher().encrypt(value), expires_at
        return value


def drop_credential(name: str) -> None:
    """Forgets a credential the platform refused (expired early, revoked), so the next use fetches a new one."""
    with unit_of_work() as session:
        session.execute(delete(ChannelCredential).where(ChannelCredential.name == name))
