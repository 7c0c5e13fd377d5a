"""The shared database fixtures: a PostgreSQL database is dropped by the process that made it, never by a fork."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text

from tests.conftest import POSTGRES_SERVER, _throwaway_postgres


def _exists(name: str) -> bool:
    server = create_engine(POSTGRES_SERVER)
    try:
        with server.connect() as connection:
            return bool(connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first())
    finally:
        server.dispose()


def test_a_forked_process_that_tears_down_leaves_the_database_to_its_maker():
    # The mutation check forks from a warm session; each fork tears the session's fixtures down after its last
    # test, and the template the next forks copy must survive that.
    made = _throwaway_postgres()
    name = made.__enter__()
    child = os.fork()
    if child == 0:
        try:
            made.__exit__(None, None, None)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert _exists(name)
    made.__exit__(None, None, None)
    assert not _exists(name)
