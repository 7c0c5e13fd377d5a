"""Data is kept only as long as set, a resident can see and erase theirs, and the supervisor runs the clean-up."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from bot.db.models import Application, AuditEntry, Conversation, OutboxMessage, VaultEntry, utcnow
from bot.db.session import get_engine, unit_of_work
from bot.gateway.app import create_app
from bot.runner import Supervisor
from bot.services import applications, audit, conversations, people, retention, staff
from bot.services.vault import shield_message
from bot.settings import get_settings
from tests.fakes.rasa import FakeRasa

from .test_applications_redaction import EVENTS_DDL, new_person, store_events

LONG_AGO = utcnow() - dt.timedelta(days=400)


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request) -> str:
    """The clean-up and the erasure on the module's SQLite database and on a throw-away PostgreSQL one, with the
    engine's events table as its tracker store creates it there."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres")
    with get_engine().begin() as connection:
        connection.execute(text(EVENTS_DDL if request.param == "sqlite"
                                else EVENTS_DDL.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY")))
    return request.param


def old_conversation(days: int = 200) -> str:
    """A conversation last active `days` ago, with events, a held-back number and a waiting message."""
    cid = f"ret-{uuid.uuid4().hex[:10]}"
    then = utcnow() - dt.timedelta(days=days)
    conversations.ensure(cid, "web", "zh-CN")
    shield_message(cid, "电话13812345678", None)
    conversations.push(cid, "assistant", "您好")
    with unit_of_work() as session:
        session.execute(update(Conversation).where(Conversation.id == cid).values(created_at=then))
    with get_engine().begin() as connection:
        connection.execute(text(EVENTS_DDL))
        connection.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'user', :t, "
                                "'{}')"), {"s": cid, "t": then.timestamp()})
    return cid


def left_of(cid: str) -> dict[str, int]:
    with get_engine().connect() as connection:
        return {
            "events": connection.execute(text("SELECT COUNT(*) FROM events WHERE sender_id = :s"), {"s": cid}).scalar(),
            "vault": connection.execute(select(VaultEntry.id).where(VaultEntry.conversation_id == cid)).all().__len__(),
            "outbox": connection.execute(select(OutboxMessage.id).where(OutboxMessage.conversation_id == cid))
            .all().__len__(),
            "conversation": connection.execute(select(Conversation.id).where(Conversation.id == cid)).all().__len__(),
        }


def aged_draft(days: int) -> int:
    cid = f"ret-{uuid.uuid4().hex[:10]}"
    applications.save_draft(cid, "web", "residence_permit", new_person())
    with unit_of_work() as session:
        row = session.scalars(select(Application).where(Application.conversation_id == cid)).one()
        session.execute(update(Application).where(Application.id == row.id)
                        .values(updated_at=utcnow() - dt.timedelta(days=days)))
        return row.id


def test_quiet_conversations_and_old_drafts_go_recent_ones_and_submitted_applications_stay(dialect):
    old, recent = old_conversation(200), old_conversation(20)
    stale_draft, fresh_draft = aged_draft(40), aged_draft(5)
    submitted_cid = f"ret-{uuid.uuid4().hex[:10]}"
    reference = applications.submit(submitted_cid, "web", "residence_permit", new_person())
    with unit_of_work() as session:
        session.execute(update(Application).where(Application.reference == reference)
                        .values(updated_at=LONG_AGO))
    audit.record("li", "view_conversation", "old", "")
    audit.record("li", "view_conversation", "older", "")
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.subject == "old")
                        .values(created_at=utcnow() - dt.timedelta(days=400)))
        session.execute(update(AuditEntry).where(AuditEntry.subject == "older")
                        .values(created_at=utcnow() - dt.timedelta(days=4000)))

    report = retention.purge_expired()

    assert left_of(old) == {"events": 0, "vault": 0, "outbox": 0, "conversation": 0}
    assert left_of(recent) == {"events": 1, "vault": 1, "outbox": 1, "conversation": 1}
    with unit_of_work() as session:
        kept = set(session.scalars(select(Application.id).where(Application.id.in_([stale_draft, fresh_draft]))))
        assert kept == {fresh_draft}
        assert session.scalars(select(Application).where(Application.reference == reference)).one()
        subjects = set(session.scalars(select(AuditEntry.subject).where(AuditEntry.subject.in_(["old", "older"]))))
    assert subjects == {"old"}, "the audit log is kept longer than conversations"
    assert report.conversations >= 1 and report.drafts >= 1 and report.audit_entries >= 1


def test_the_periods_come_from_the_settings(monkeypatch):
    cid = old_conversation(200)
    monkeypatch.setenv("RETENTION_CONVERSATION_DAYS", "365")
    get_settings.cache_clear()
    try:
        retention.purge_expired()
    finally:
        monkeypatch.delenv("RETENTION_CONVERSATION_DAYS")
        get_settings.cache_clear()
    assert left_of(cid)["conversation"] == 1


def resident() -> tuple[dict[str, str], str, str]:
    """A resident with a submitted application, a draft in another conversation and a remembered profile.

    Each conversation has an event stored by the engine, so it is there to be erased (or kept) whatever ran before.
    """
    values = new_person()
    first, second = f"ret-{uuid.uuid4().hex[:10]}", f"ret-{uuid.uuid4().hex[:10]}"
    conversations.ensure(first, "web", "zh-CN")
    store_events(first, [{"event": "user", "text": "我要办居住证"}])
    store_events(second, [{"event": "user", "text": "我要办老年卡"}])
    shield_message(first, f"身份证{values['id_number']}", None)
    applications.submit(first, "web", "residence_permit", values)
    people.remember(first, values)
    applications.save_draft(second, "web", "senior_card", {"id_number": values["id_number"]})
    return values, first, second


def test_an_erasure_deletes_everything_about_the_resident_and_is_audited(dialect):
    values, first, second = resident()
    other, other_cid, _ = resident()

    found = retention.erase(values["id_number"], values["phone"], "supervisor-li")

    assert set(found.conversations) >= {first, second} and len(found.applications) == 2
    assert left_of(first) == {"events": 0, "vault": 0, "outbox": 0, "conversation": 0}
    assert people.identify("x", values["id_number"], values["phone"]) is None
    assert retention.access(values["id_number"], values["phone"]).applications == []
    assert people.identify("y", other["id_number"], other["phone"]) is not None, "nobody else is touched"
    assert left_of(other_cid)["vault"] == 1 and left_of(other_cid)["events"] == 1
    entry = audit.recent(staff_username="supervisor-li")[0]
    assert entry.action == "erase_person" and values["id_number"] not in entry.subject + entry.detail


def test_an_erasure_with_the_wrong_phone_deletes_nothing():
    values, first, _ = resident()
    retention.erase(values["id_number"], "13900000000", "supervisor-li")
    assert left_of(first)["conversation"] == 1 and left_of(first)["events"] == 1
    assert len(retention.access(values["id_number"], values["phone"]).applications) == 2


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(get_settings(), rasa_transport=FakeRasa().transport()))


def headers(client: TestClient, role: str) -> dict[str, str]:
    username = f"r{uuid.uuid4().hex[:8]}"
    staff.create_or_update(username, "password-123", role)
    token = client.post("/api/staff/login", json={"username": username, "password": "password-123"}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_supervisor_answers_access_and_erasure_requests_at_the_console_and_staff_cannot(client):
    values, first, _ = resident()
    body = {"id_number": values["id_number"], "phone": values["phone"]}
    assert client.post("/api/staff/residents/erase", json=body, headers=headers(client, "staff")).status_code == 403
    supervisor = headers(client, "supervisor")
    shown = client.post("/api/staff/residents/access", json=body, headers=supervisor)
    assert shown.status_code == 200 and len(shown.json()["applications"]) == 2
    assert values["id_number"] not in shown.text
    bad = client.post("/api/staff/residents/erase", json={**body, "id_number": "123"}, headers=supervisor)
    assert bad.status_code == 422 or bad.json()["error"]["code"]
    assert client.post("/api/staff/residents/erase", json=body, headers=supervisor).json()["conversations"] >= 2
    assert left_of(first)["conversation"] == 0


def test_the_supervisor_process_runs_the_clean_up():
    cid = old_conversation(300)
    supervisor = Supervisor(get_settings(), [])
    job = threading.Thread(target=supervisor._housekeeping, daemon=True)
    job.start()
    deadline = time.monotonic() + 60
    while left_of(cid)["conversation"] and time.monotonic() < deadline:
        time.sleep(0.1)
    supervisor.stopping.set()
    job.join(10)
    assert left_of(cid)["conversation"] == 0 and not job.is_alive()
