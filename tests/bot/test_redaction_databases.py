"""Redaction of stored conversations, and the other code that branches on the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sqlite3
import uuid

import pytest
from sqlalchemy import text, update

from bot.db import session as db_session
from bot.db.models import Application, Appointment
from bot.db.session import get_engine, unit_of_work
from bot.services import applications, conversations, redaction
from bot.services.people import cipher

ID_NUMBER, PHONE = "11010119900307451X", "13812345678"
VALUES = {"id_number": ID_NUMBER, "phone": PHONE, "full_name": "欧阳明月", "address": "北山区青松路27号院2栋301"}


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request) -> str:
    """Each test runs on the module's SQLite database and on a throw-away migrated PostgreSQL one."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres")
    assert get_engine().dialect.name == request.param
    return request.param


def _store(conversation_id: str, events: list[dict]) -> None:
    # The shape of Rasa's SQL tracker store table (rasa/core/tracker_store.py, SQLEvent).
    key = "SERIAL PRIMARY KEY" if get_engine().dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
    with get_engine().begin() as connection:
        connection.execute(text(f"CREATE TABLE IF NOT EXISTS events (id {key}, sender_id VARCHAR(255) NOT NULL, "
                                "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                                "action_name VARCHAR(255), data TEXT)"))
        for event in events:
            connection.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, 1, :d)"),
                               {"s": conversation_id, "t": event.get("event", "x"), "d": json.dumps(event) if event
                                else ""})


def _stored(conversation_id: str) -> list[dict | str]:
    with get_engine().connect() as connection:
        rows = connection.execute(text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                                  {"s": conversation_id}).all()
    return [json.loads(r.data) if r.data else r.data for r in rows]


def test_redaction_rewrites_only_the_events_that_held_a_value(dialect):
    mine, other = f"r-{uuid.uuid4().hex[:8]}", f"r-{uuid.uuid4().hex[:8]}"
    said = {"event": "user", "text": f"我叫欧阳明月，身份证 {ID_NUMBER}，电话 幺三八 1234 5678", "timestamp": 1.5,
            "parse_data": {"entities": [{"entity": "phone", "confidence": 0.97}]}}
    plain = {"event": "bot", "text": "请问还有什么可以帮您？", "timestamp": 2.5}
    slot = {"event": "slot", "name": "phone", "value": PHONE}
    # An event without data first: it is passed over, not the end of the conversation's events.
    _store(mine, [{}, said, plain, slot])
    _store(other, [said])
    assert redaction.redact_events(get_engine(), [mine], VALUES) == 2
    stored = _stored(mine)
    assert stored[0] == "" and stored[2] == plain
    assert stored[1]["text"] == "我叫欧***，身份证 110***********451X，电话 138****5678"
    assert stored[1]["parse_data"] == said["parse_data"] and stored[1]["timestamp"] == 1.5
    assert stored[3] == {"event": "slot", "name": "phone", "value": "138****5678"}
    assert _stored(other) == [said]  # another conversation is not this application's


def test_redaction_without_a_tracker_table_changes_nothing(dialect):
    with get_engine().begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS events"))
    assert redaction.redact_events(get_engine(), ["anyone"], VALUES) == 0


def test_the_write_ahead_log_is_emptied_on_sqlite_and_nothing_is_needed_on_postgresql(dialect):
    _store(f"r-{uuid.uuid4().hex[:8]}", [{"event": "user", "text": PHONE}])
    assert redaction.truncate_wal(get_engine()) is True
    if dialect == "sqlite":
        wal = get_engine().url.database + "-wal"
        with open(wal, "rb") as log_file:
            assert log_file.read() == b""


def test_a_failing_redaction_is_logged_and_never_reaches_the_person(monkeypatch, caplog):
    asked = []

    def broken(conversation_id):
        asked.append(conversation_id)
        raise RuntimeError("database gone")

    monkeypatch.setattr(applications, "awaiting_redaction", broken)
    with caplog.at_level(logging.ERROR, logger=redaction.__name__):
        redaction.after_turn_safely("c-1")
    assert asked == ["c-1"]
    assert caplog.messages == ["redaction after the turn failed (RuntimeError); it is retried on the next turn"]


def test_a_turn_with_nothing_submitted_redacts_nothing(monkeypatch):
    monkeypatch.setattr(redaction, "get_engine", lambda: pytest.fail("no application, no database work"))
    redaction.after_turn(f"c-{uuid.uuid4().hex[:8]}")


def test_a_conversation_is_recorded_once_even_when_its_first_message_arrives_twice(dialect):
    conversation_id = f"c-{uuid.uuid4().hex[:8]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    conversations.ensure(conversation_id, "telegram", "en")
    assert conversations.channel_of(conversation_id) == "web"


def test_a_short_read_gives_the_same_answer_on_either_database(dialect):
    conversation_id = f"c-{uuid.uuid4().hex[:8]}"
    conversations.ensure(conversation_id, "kiosk", "zh-CN")
    assert asyncio.run(db_session.read(conversations.channel_of, conversation_id)) == "kiosk"


def _sqlite_path() -> str:
    return get_engine().url.database


def test_a_reader_on_an_old_snapshot_delays_emptying_the_log_until_it_finishes(monkeypatch):
    _store(f"r-{uuid.uuid4().hex[:8]}", [{"event": "user", "text": PHONE}])
    reader = sqlite3.connect(_sqlite_path(), timeout=0)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchall()  # holds the snapshot: the log cannot be emptied
    _store(f"r-{uuid.uuid4().hex[:8]}", [{"event": "user", "text": PHONE}])
    waits: list[float] = []

    def reader_finishes(seconds: float) -> None:
        waits.append(seconds)
        reader.rollback()

    monkeypatch.setattr(redaction.time, "sleep", reader_finishes)
    assert redaction.truncate_wal(get_engine()) is True
    assert len(waits) == 1 and waits[0] > 0, "one short wait, then the checkpoint is tried again"
    with open(_sqlite_path() + "-wal", "rb") as log_file:
        assert log_file.read() == b""
    reader.close()


# The person who just submitted waits for this: each attempt gives up within moments instead of the connection's
# usual wait for a busy database (15 s), so five attempts take far less than this limit.
@pytest.mark.timeout(30)
def test_a_reader_that_stays_leaves_the_log_to_the_next_redaction_and_says_so(monkeypatch, caplog):
    _store(f"r-{uuid.uuid4().hex[:8]}", [{"event": "user", "text": PHONE}])
    reader = sqlite3.connect(_sqlite_path(), timeout=0)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchall()
    _store(f"r-{uuid.uuid4().hex[:8]}", [{"event": "user", "text": PHONE}])
    waits: list[float] = []
    monkeypatch.setattr(redaction.time, "sleep", waits.append)
    try:
        with caplog.at_level(logging.WARNING, logger=redaction.__name__):
            assert redaction.truncate_wal(get_engine()) is False
    finally:
        reader.close()
    assert len(waits) == redaction.CHECKPOINT_ATTEMPTS and waits == sorted(set(waits)), "each wait a little longer"
    assert sum(waits) <= 1.5, "the person who submitted waits for this: moments, not seconds"
    assert caplog.messages == ["the write-ahead log could not be truncated yet; it will be at the next redaction"]
    assert redaction.truncate_wal(get_engine()) is True
    with get_engine().connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000, "other work still waits as usual"


def test_a_redacted_value_leaves_no_trace_in_the_free_space_of_the_database_file():
    conversation_id = f"r-{uuid.uuid4().hex[:8]}"
    # The number in radio digits, first in the event: its stored (escaped) form is several times longer than its
    # mask, so the rewritten record shrinks and the start of the old one would stay in the page's free space.
    spoken = "".join("洞幺二三四五六拐八勾"[int(d)] if d.isdigit() else d for d in ID_NUMBER)
    _store(conversation_id, [{"text": spoken, "event": "user"}])
    with get_engine().begin() as connection:
        # As on a SQLite built without SQLITE_SECURE_DELETE (this one has it): redaction must turn it on itself.
        connection.exec_driver_sql("PRAGMA secure_delete=OFF")
        assert redaction.redact_events_on(connection, [conversation_id], VALUES) == 1
    assert redaction.truncate_wal(get_engine()) is True
    stored_number = json.dumps(spoken)[1:25].encode()  # its first four digits as they are stored
    with open(_sqlite_path(), "rb") as database_file:
        assert stored_number not in database_file.read()


def test_cleaning_every_stored_conversation_masks_what_each_was_given_and_any_other_number(dialect):
    """What the vault's migration does once: values given before the vault held them back are masked."""
    applicant, booker, anyone = (f"r-{uuid.uuid4().hex[:8]}" for _ in range(3))
    with get_engine().begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS events"))  # only this test's events: the count is exact
    person = {**VALUES, "id_number": "11010519900307451X", "phone": "13912345678"}
    earlier = f"r-{uuid.uuid4().hex[:8]}"
    conversations.ensure(applicant, "web", "zh-CN")
    reference = applications.submit(applicant, "web", "residence_permit", person)
    with unit_of_work() as session:  # the application was begun in another conversation
        session.execute(update(Application).where(Application.reference == reference)
                        .values(conversation_ids=[earlier, applicant]))
    c = cipher()
    with unit_of_work() as session:
        session.add(Appointment(reference=f"A{uuid.uuid4().hex[:8]}", centre_id="district_centre",
                                service_id="id_card", slot_start=dt.datetime(2026, 12, 2, 9),
                                slot_end=dt.datetime(2026, 12, 2, 9, 30), conversation_id=booker,
                                full_name_encrypted=c.encrypt("司马相如"), phone_encrypted=c.encrypt("13700001111")))
    _store(applicant, [{"event": "user", "text": "我叫欧阳明月，电话 1391234 5678"}])
    _store(earlier, [{"event": "user", "text": "我住北山区青松路27号院2栋301"}])
    _store(booker, [{"event": "user", "text": "司马相如，幺三七 洞洞洞洞 幺幺幺幺"}])
    _store(anyone, [{"event": "user", "text": "卡号6222021234567890123"}, {"event": "user", "text": "谢谢"}])
    with get_engine().begin() as connection:
        assert redaction.purge_plain_values(connection) == 4, "every event that held a value, and only those"
    assert _stored(applicant)[0]["text"] == "我叫欧***，电话 139****5678"
    assert _stored(earlier)[0]["text"] == "我住北山区青松路****"
    assert _stored(booker)[0]["text"] == "司***，137****1111"
    assert _stored(anyone) == [{"event": "user", "text": "卡号***************0123"}, {"event": "user", "text": "谢谢"}]


def test_cleaning_without_the_engines_table_has_nothing_to_do(dialect):
    with get_engine().begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS events"))
    with get_engine().begin() as connection:
        assert redaction.purge_plain_values(connection) == 0


def test_cleaning_masks_a_booking_phone_given_in_pieces_and_counts_the_events_of_every_application(dialect):
    """Only the booking's known phone shows that "幺三七洞洞洞洞" and "幺幺幺幺" are two halves of a number."""
    first, second, booker = (f"r-{uuid.uuid4().hex[:8]}" for _ in range(3))
    with get_engine().begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS events"))  # only this test's events: the count is exact
    for conversation_id, name in ((first, "欧阳明月"), (second, "上官婉儿")):
        conversations.ensure(conversation_id, "web", "zh-CN")
        applications.submit(conversation_id, "web", "residence_permit", {**VALUES, "full_name": name})
        _store(conversation_id, [{"event": "user", "text": f"我叫{name}"}])
    with unit_of_work() as session:
        session.add(Appointment(reference=f"A{uuid.uuid4().hex[:8]}", centre_id="district_centre",
                                service_id="id_card", slot_start=dt.datetime(2026, 12, 2, 9),
                                slot_end=dt.datetime(2026, 12, 2, 9, 30), conversation_id=booker,
                                full_name_encrypted=cipher().encrypt("司马相如"),
                                phone_encrypted=cipher().encrypt("13700001111")))
    _store(booker, [{"event": "user", "text": "电话 幺三七洞洞洞洞"}, {"event": "user", "text": "后面是 幺幺幺幺"}])
    with get_engine().begin() as connection:
        assert redaction.purge_plain_values(connection) == 4, "one event of each application, two of the booking"
    assert [_stored(first)[0]["text"], _stored(second)[0]["text"]] == ["我叫欧***", "我叫上***"]
    assert [e["text"] for e in _stored(booker)] == ["电话 *******", "后面是 ****"]
