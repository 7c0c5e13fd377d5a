"""Shared fixtures: a migrated SQLite database per test session, settings pointing at it, PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from bot.db import session as db_session
from bot.db.migrate import upgrade
from bot.settings import get_settings

# The tests drive many conversations, bookings and call-backs from one address and one test phone within
# minutes: the quotas a resident never reaches are raised for them (stacks inherit this environment), and the
# tests of the quotas themselves set their own (tests/bot/test_ratelimit.py).
for _name in ("CHAT_PER_CONVERSATION", "CHAT_PER_CLIENT", "NEW_CONVERSATIONS_PER_CLIENT", "SPEECH_PER_CLIENT",
              "HANDOFFS_PER_CONVERSATION", "CALLBACKS_PER_CONVERSATION", "CALLBACKS_PER_PHONE",
              "BOOKINGS_PER_CONVERSATION", "BOOKINGS_PER_PHONE"):
    os.environ.setdefault(f"RATE_LIMIT_{_name}", "100000/minute")

POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


def _use_database(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db_session.get_engine.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def database(tmp_path_factory: pytest.TempPathFactory):
    """Every test process uses its own migrated database, never the developer's var/bianmin.db."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    _use_database(url)
    upgrade(url)
    yield url


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """The URL of a throw-away, empty PostgreSQL database on the local server."""
    try:
        server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            name = f"bianmin_test_{uuid.uuid4().hex[:8]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # noqa: BLE001 - no server here: say so instead of failing
        pytest.skip(f"PostgreSQL at {POSTGRES_SERVER} is not reachable: {type(err).__name__}")
    try:
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture
def postgres(empty_postgres: str) -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated, used by the services for one test."""
    previous = os.environ["DATABASE_URL"]
    upgrade(empty_postgres)
    _use_database(empty_postgres)
    try:
        yield empty_postgres
    finally:
        db_session.get_engine().dispose()
        _use_database(previous)
