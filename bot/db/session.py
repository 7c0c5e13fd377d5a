"""Engine and unit of work shared by the gateway and the action server.

SQLite is the embedded default: WAL mode lets the Rasa tracker store, the action
server and the gateway read while one of them writes, and busy_timeout makes a
writer wait instead of failing when another process holds the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import get_settings

P = ParamSpec("P")
T = TypeVar("T")


def _create_private_file(path: Path) -> None:
    """Creates the database file readable by its owner only; SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        # A database created before this was world-readable: close it to others too.
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)


def make_engine(database_url: str) -> Engine:
    """Creates an engine; for SQLite, creates the folder and turns on WAL, foreign keys and busy waiting."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            _create_private_file(Path(path))
        engine = create_engine(database_url, connect_args={"timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:  # DB-API connections have no common type
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=10)


@functools.lru_cache(maxsize=4)
def get_engine(database_url: str | None = None) -> Engine:
    """The process-wide engine for a database URL (the settings' one by default)."""
    return make_engine(database_url or get_settings().database_url)


def session_factory(database_url: str | None = None) -> sessionmaker[Session]:
    """A session factory bound to the process-wide engine."""
    return sessionmaker(get_engine(database_url), expire_on_commit=False)


@contextlib.contextmanager
def unit_of_work(database_url: str | None = None) -> Iterator[Session]:
    """One transaction: commits when the block ends normally, rolls back on an exception."""
    session = session_factory(database_url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def read(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Runs a short read of the database from async code: on the event loop for SQLite, else in a worker thread.

    A read of SQLite in WAL mode never waits for a writer and takes a fraction of a
    millisecond, less than a trip to a worker thread and back (measured on every chat
    turn); a database server answers over the network, which must not hold up the loop.
    Writes always go to a worker thread: SQLite makes a writer wait for the lock.
    """
    if get_engine().dialect.name == "sqlite":
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)
