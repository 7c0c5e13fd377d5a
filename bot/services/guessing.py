"""Limits on guessing: failed verifications and lookups, counted per conversation and per ID number.

Each failure is one upsert statement, so parallel guesses can never overwrite
each other's count. After MAX_FAILURES within PAUSE, the conversation (or the
ID number, from any conversation) gets a polite refusal for PAUSE, offering a
person or an appointment; everyone else is served as before.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.models import GuessCounter, utcnow
from bot.db.session import get_engine

MAX_FAILURES = 5
PAUSE = dt.timedelta(minutes=15)
PAUSE_MINUTES = 15


def keys(conversation_id: str, id_fingerprint: str | None = None) -> list[str]:
    """The counters a failure of this conversation (about this ID number) counts towards."""
    return [f"conversation:{conversation_id}"] + ([f"id:{id_fingerprint}"] if id_fingerprint else [])


def paused(counter_keys: list[str], now: dt.datetime | None = None) -> bool:
    """Whether any of the counters is in its pause."""
    now = now or utcnow()
    with get_engine().connect() as connection:
        rows = connection.execute(select(GuessCounter.paused_until)
                                  .where(GuessCounter.key.in_(counter_keys))).scalars().all()
    return any(until is not None and _aware(until) > now for until in rows)


def count_failure(counter_keys: list[str], now: dt.datetime | None = None,
                  limits: dict[str, int] | None = None) -> bool:
    """Counts one failure on each counter; True when this failure started a pause.

    `limits` gives some counters their own number of failures (default MAX_FAILURES).
    """
    now = now or utcnow()
    engine = get_engine()
    dialect_insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    started = False
    with engine.begin() as connection:
        for key in counter_keys:
            stale = GuessCounter.window_started_at < now - PAUSE
            statement = dialect_insert(GuessCounter).values(key=key, failures=1, window_started_at=now)
            connection.execute(statement.on_conflict_do_update(index_elements=[GuessCounter.key], set_={
                "failures": case((stale, 1), else_=GuessCounter.failures + 1),
                "window_started_at": case((stale, now), else_=GuessCounter.window_started_at),
            }))
            result = connection.execute(update(GuessCounter)
                                        .where(GuessCounter.key == key,
                                               GuessCounter.failures >= (limits or {}).get(key, MAX_FAILURES))
                                        .values(paused_until=now + PAUSE, failures=0, window_started_at=now))
            started = started or result.rowcount > 0
    return started


def forget_prefix(prefix: str) -> None:
    """Clears the counters whose key starts with `prefix` (an admin reset a password)."""
    with get_engine().begin() as connection:
        connection.execute(delete(GuessCounter).where(GuessCounter.key.startswith(prefix, autoescape=True)))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
