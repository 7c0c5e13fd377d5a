"""Upgrading a database in use keeps every conversation and the messages waiting for it (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import inspect, text

from bot.db.migrate import alembic_config, upgrade
from bot.db.session import make_engine

THEN = dt.datetime(2026, 11, 30, 9, 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'in-use.db'}"
    return request.getfixturevalue("empty_postgres")


def test_dropping_the_turn_counter_keeps_conversations_and_their_waiting_messages(database_url):
    command.upgrade(alembic_config(database_url), "0003")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO conversations (id, channel, locale, created_at, last_active_at, turns) "
                                "VALUES ('telegram:42', 'telegram', 'zh-CN', :then, :then, 7)"), {"then": THEN})
        connection.execute(text("INSERT INTO outbox_messages (conversation_id, sender, text, buttons, created_at) "
                                "VALUES ('telegram:42', 'staff', '您的材料齐了', '[]', :then)"), {"then": THEN})

    upgrade(database_url)

    with engine.connect() as connection:
        assert connection.execute(text("SELECT channel FROM conversations")).scalars().all() == ["telegram"]
        assert connection.execute(text("SELECT text FROM outbox_messages")).scalars().all() == ["您的材料齐了"]
        columns = {column["name"] for column in inspect(connection).get_columns("conversations")}
    engine.dispose()
    assert columns == {"id", "channel", "locale", "created_at"}


def test_the_analytics_indexes_and_tables_arrive_on_a_database_in_use_and_leave_again(database_url):
    command.upgrade(alembic_config(database_url), "0005")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO conversations (id, channel, locale, created_at) "
                                "VALUES ('kiosk:7', 'kiosk', 'zh-CN', :then)"), {"then": THEN})

    upgrade(database_url)

    with engine.connect() as connection:
        inspector = inspect(connection)
        tables = set(inspector.get_table_names())
        indexes = {index["name"] for index in inspector.get_indexes("conversations")}
        assert connection.execute(text("SELECT channel FROM conversations")).scalars().all() == ["kiosk"]
    assert {"clarifying_questions", "unanswered_reviews", "analytics_days", "analytics_handoff_days"} <= tables
    assert "ix_conversations_created_channel" in indexes

    command.downgrade(alembic_config(database_url), "0005")
    with engine.connect() as connection:
        inspector = inspect(connection)
        assert "analytics_days" not in inspector.get_table_names()
        assert "ix_conversations_created_channel" not in {i["name"] for i in inspector.get_indexes("conversations")}
        assert connection.execute(text("SELECT channel FROM conversations")).scalars().all() == ["kiosk"]
    engine.dispose()
