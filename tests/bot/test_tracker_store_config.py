"""The dialogue engine keeps its conversations in the assistant's own database, SQLite or PostgreSQL alike."""

from __future__ import annotations

import pytest

from bot.engine.build import tracker_store_config
from bot.errors import ConfigurationError


def test_on_sqlite_the_engine_writes_to_the_same_file():
    assert tracker_store_config("sqlite:///var/bianmin.db") == {"type": "SQL", "dialect": "sqlite",
                                                                "db": "var/bianmin.db"}


def test_on_postgresql_the_engine_gets_the_server_database_and_the_decoded_account():
    assert tracker_store_config("postgresql+psycopg://bian%40min:p%2Fss@db.internal:6543/bianmin") == {
        "type": "SQL", "dialect": "postgresql", "url": "db.internal", "port": 6543, "db": "bianmin",
        "username": "bian@min", "password": "p/ss"}


def test_on_postgresql_without_port_or_account_the_defaults_apply():
    assert tracker_store_config("postgresql:///bianmin") == {"type": "SQL", "dialect": "postgresql",
                                                             "url": "127.0.0.1", "port": 5432, "db": "bianmin"}


def test_another_database_is_refused_naming_it():
    with pytest.raises(ConfigurationError, match="mysql"):
        tracker_store_config("mysql://root@localhost/bianmin")
