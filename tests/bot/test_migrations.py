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

    command.upgrade(alembic_config(database_url), "0004")

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


# The shape of Rasa's SQL tracker store table (rasa/core/tracker_store.py, SQLEvent).
EVENTS_DDL = """CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"""


def test_an_old_database_gets_its_messages_encrypted_and_the_engine_events_purged_of_plain_numbers(database_url):
    command.upgrade(alembic_config(database_url), "0004")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(EVENTS_DDL if engine.dialect.name == "sqlite"
                                else EVENTS_DDL.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY")))
        connection.execute(text("INSERT INTO conversations (id, channel, locale, created_at) "
                                "VALUES ('web:1', 'web', 'zh-CN', :then)"), {"then": THEN})
        connection.execute(text("INSERT INTO outbox_messages (conversation_id, sender, text, buttons, created_at) "
                                "VALUES ('web:1', 'staff', '请回电13812345678', '[]', :then)"), {"then": THEN})
        connection.execute(text("INSERT INTO handoffs (conversation_id, channel, status, reason, context, created_at) "
                                "VALUES ('web:1', 'web', 'closed', 'asked', '{}', :then)"), {"then": THEN})
        connection.execute(text("INSERT INTO handoff_messages (handoff_id, sender, text, created_at) "
                                "SELECT id, 'person', '我的身份证11010519491231002X', :then FROM handoffs"),
                           {"then": THEN})
        connection.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES "
                                "('web:1', 'user', 1.0, :data)"),
                           {"data": '{"event": "user", "text": "身份证 110105 19491231 002X 电话13812345678"}'})

    upgrade(database_url)

    from bot.services.people import cipher
    with engine.connect() as connection:
        stored = [*connection.execute(text("SELECT text FROM outbox_messages")).scalars(),
                  *connection.execute(text("SELECT text FROM handoff_messages")).scalars()]
        events = connection.execute(text("SELECT data FROM events")).scalars().all()
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert "vault_entries" in tables
    assert [cipher().decrypt(value) for value in stored] == ["请回电13812345678", "我的身份证11010519491231002X"]
    assert not any("13812345678" in value or "19491231" in value for value in stored + events)
    assert "138****5678" in events[0] and "110***********002X" in events[0]


def test_accounts_from_before_centres_keep_logging_in_and_belong_to_no_centre_until_given_one(database_url):
    command.upgrade(alembic_config(database_url), "0010")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO staff_accounts (username, password_hash, role, active, failed_logins, "
                                "created_at, updated_at) VALUES ('li', 'hash', 'staff', :yes, 0, :then, :then)"),
                           {"then": THEN, "yes": True})

    command.upgrade(alembic_config(database_url), "0011")

    with engine.connect() as connection:
        assert connection.execute(text("SELECT username, centre_id FROM staff_accounts")).all() == [("li", None)]
    command.downgrade(alembic_config(database_url), "0010")
    with engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("staff_accounts")}
        assert connection.execute(text("SELECT username FROM staff_accounts")).scalars().all() == ["li"]
    engine.dispose()
    assert "centre_id" not in columns and "role" in columns


def test_kept_answers_leave_with_their_column_and_the_first_messages_tokens_stay(database_url):
    command.upgrade(alembic_config(database_url), "0013")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO chat_replies (conversation_id, message_id, text_digest, reply, "
                                "conversation_token, created_at) VALUES ('web-1', 'm-00000001', 'd', 'an answer', "
                                "'a token', :then)"), {"then": THEN})

    command.upgrade(alembic_config(database_url), "0014")

    with engine.connect() as connection:
        inspector = inspect(connection)
        columns = {column["name"] for column in inspector.get_columns("chat_replies")}
        indexes = {index["name"] for index in inspector.get_indexes("chat_replies")}
        rows = connection.execute(text("SELECT conversation_id, message_id, conversation_token FROM chat_replies")).all()
    assert "reply" not in columns and "ix_chat_replies_created_at" in indexes
    assert [tuple(row) for row in rows] == [("web-1", "m-00000001", "a token")]

    command.downgrade(alembic_config(database_url), "0013")
    with engine.connect() as connection:
        assert "reply" in {column["name"] for column in inspect(connection).get_columns("chat_replies")}
    engine.dispose()
