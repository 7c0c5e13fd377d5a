"""Many people booking the same slot at the same moment never get more seats than it has (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text

from bot.db import session as db_session
from bot.db.migrate import upgrade
from bot.db.models import Appointment
from bot.db.session import unit_of_work
from bot.services import appointments, conversations
from bot.settings import get_settings
from knowledge_base.catalogue import get_catalogue

POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
PEOPLE = 16
NOW = dt.datetime(2026, 11, 22, 15, 0)


def _use_database(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db_session.get_engine.cache_clear()


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated, used by the services for one test."""
    try:
        server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            name = f"bianmin_test_{uuid.uuid4().hex[:8]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # noqa: BLE001 - no server here: say so instead of failing
        pytest.skip(f"PostgreSQL at {POSTGRES_SERVER} is not reachable: {type(err).__name__}")
    url = POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    previous = os.environ["DATABASE_URL"]
    upgrade(url)
    _use_database(url)
    try:
        yield url
    finally:
        db_session.get_engine().dispose()
        _use_database(previous)
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()


def book_at_once(centre_id: str, start: dt.datetime) -> tuple[list[str], int]:
    """PEOPLE threads book the same slot released at the same instant; the codes they got and the errors."""
    barrier = threading.Barrier(PEOPLE)
    codes: list[str] = []
    full = 0
    lock = threading.Lock()

    def one(index: int) -> None:
        nonlocal full
        conversation_id = f"rush-{uuid.uuid4().hex[:8]}"
        conversations.touch(conversation_id, "web", "zh-CN")
        barrier.wait()
        try:
            booked = appointments.book(conversation_id, "web", "social_security_card", centre_id, start,
                                       "王德福", f"1390000{index:04d}", now=NOW)
            with lock:
                codes.append(booked.reference)
        except appointments.SlotFull:
            with lock:
                full += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(PEOPLE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return codes, full


def seats_taken(centre_id: str, start: dt.datetime) -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Appointment).where(
            Appointment.centre_id == centre_id, Appointment.slot_start == start, Appointment.seat.is_not(None)))


def _assert_never_overbooked(centre_id: str, start: dt.datetime) -> None:
    capacity = get_catalogue().centres[centre_id].capacity_per_slot
    codes, full = book_at_once(centre_id, start)
    assert len(codes) == capacity, "every free seat is booked"
    assert full == PEOPLE - capacity, "everyone else is told the slot is full"
    assert len(set(codes)) == capacity and seats_taken(centre_id, start) == capacity


def test_parallel_bookings_on_sqlite_never_overbook():
    _assert_never_overbooked("east_centre", dt.datetime(2026, 12, 7, 9, 0))


def test_parallel_bookings_on_postgresql_never_overbook(postgres):
    _assert_never_overbooked("east_centre", dt.datetime(2026, 12, 7, 9, 0))
    _assert_never_overbooked("xinhua_street_centre", dt.datetime(2026, 12, 7, 9, 30))
