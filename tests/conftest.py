"""Shared fixtures: a migrated SQLite database per test session, settings pointing at it."""

from __future__ import annotations

import pytest

from bot.db.migrate import upgrade
from bot.settings import get_settings


@pytest.fixture(scope="session", autouse=True)
def database(tmp_path_factory: pytest.TempPathFactory):
    """Every test process uses its own migrated database, never the developer's var/bianmin.db."""
    import os

    from bot.db import session

    path = tmp_path_factory.mktemp("db") / "test.db"
    url = f"sqlite:///{path}"
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    session.get_engine.cache_clear()
    upgrade(url)
    yield url
