"""Many people booking the same slot at the same moment never get more seats than it has (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from sqlalchemy import func, select

from bot.db.models import Appointment
from bot.db.session import unit_of_work
from bot.services import appointments, conversations
from bot.knowledge.catalogue import get_catalogue

PEOPLE = 16
NOW = dt.datetime(2026, 11, 22, 15, 0)


def book_at_once(centre_id: str, start: dt.datetime) -> tuple[list[str], int]:
    """PEOPLE threads book the same slot released at the same instant; the codes they got and the errors."""
    barrier = threading.Barrier(PEOPLE)
    codes: list[str] = []
    full = 0
    lock = threading.Lock()

    def one(index: int) -> None:
        nonlocal full
        conversation_id = f"rush-{uuid.uuid4().hex[:8]}"
        conversations.ensure(conversation_id, "web", "zh-CN")
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
