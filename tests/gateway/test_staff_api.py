"""The staff API in front of a fake Rasa: login, roles, the queue, answering a person, closing, tasks, audit."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from bot.db.models import Handoff
from bot.db.session import unit_of_work
from bot.gateway.app import create_app
from bot.services import appointments, audit, callbacks, conversations, handoff, staff
from bot.settings import get_settings
from tests.chat_tokens import TOKENS, open_web_conversation
from tests.fakes.rasa import FakeRasa

PASSWORD = "password-123"
CONTRACT_KEYS = {"id", "conversation_id", "channel", "service", "reason", "status", "created_at"}


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def client(rasa: FakeRasa) -> TestClient:
    with unit_of_work() as session:
        session.execute(update(Handoff).where(Handoff.status != "closed").values(status="closed"))
    return TestClient(create_app(get_settings(), rasa_transport=rasa.transport()))


def account(role: str = "staff", centre: str | None = None) -> str:
    username = f"a{uuid.uuid4().hex[:8]}"
    staff.create_or_update(username, PASSWORD, role, centre)
    return username


def login(client: TestClient, role: str = "staff", centre: str | None = None) -> tuple[str, dict[str, str]]:
    username = account(role, centre)
    response = client.post("/api/staff/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return username, {"Authorization": f"Bearer {response.json()['token']}"}


def waiting_person(service: str | None = "residence_permit") -> tuple[str, int]:
    conversation_id = f"w-{uuid.uuid4().hex[:10]}"
    open_web_conversation(conversation_id)
    return conversation_id, handoff.request(conversation_id, "web", service, "requested").handoff_id


def test_login_gives_a_token_and_wrong_details_get_a_json_401(client):
    username = account()
    ok = client.post("/api/staff/login", json={"username": username, "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["token"] and ok.json()["role"] == "staff"
    wrong = client.post("/api/staff/login", json={"username": username, "password": "nope-nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
    assert client.post("/api/staff/login", json={"username": username}).status_code == 422


def test_five_wrong_passwords_pause_the_login_with_the_same_answer_as_a_wrong_password(client):
    username = account()
    for _ in range(5):
        assert client.post("/api/staff/login", json={"username": username, "password": "x"}).status_code == 401
    locked = client.post("/api/staff/login", json={"username": username, "password": PASSWORD})
    unknown = client.post("/api/staff/login", json={"username": f"nobody{uuid.uuid4().hex[:6]}", "password": "x"})
    assert locked.status_code == unknown.status_code == 401 and locked.json() == unknown.json()


@pytest.mark.parametrize("method, path", [
    ("get", "/api/staff/handoffs?status=waiting"),
    ("post", "/api/staff/handoffs/1/accept"),
    ("post", "/api/staff/handoffs/1/messages"),
    ("post", "/api/staff/handoffs/1/close"),
    ("get", "/api/staff/tasks"),
    ("get", "/api/staff/appointments"),
])
def test_staff_endpoints_without_a_valid_token_are_401(client, method, path):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        response = getattr(client, method)(path, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_roles_without_the_right_get_403(client):
    _, clerk = login(client, "staff")
    _, supervisor = login(client, "supervisor")
    _, admin = login(client, "admin")
    assert client.get("/api/staff/audit", headers=clerk).status_code == 403
    assert client.get("/api/staff/audit", headers=supervisor).status_code == 200
    assert client.get("/api/staff/accounts", headers=supervisor).status_code == 403
    assert client.get("/api/staff/accounts", headers=admin).status_code == 200


def test_an_admin_deactivates_an_account_from_the_console_and_its_logins_end_at_once(client):
    clerk_name, clerk = login(client, "staff")
    admin_name, admin = login(client, "admin")
    assert client.post(f"/api/staff/accounts/{clerk_name}/deactivate", headers=clerk).status_code == 403
    assert client.post(f"/api/staff/accounts/{clerk_name}/deactivate", headers=admin).status_code == 204
    assert client.get("/api/staff/me", headers=clerk).status_code == 401
    refused = client.post("/api/staff/login", json={"username": clerk_name, "password": PASSWORD})
    assert refused.status_code == 401
    listed = {a["username"]: a for a in client.get("/api/staff/accounts", headers=admin).json()}
    assert listed[clerk_name]["active"] is False
    assert any(e.subject == f"staff:{clerk_name}" for e in audit.recent(staff_username=admin_name))
    unknown = client.post("/api/staff/accounts/nobody-here/deactivate", headers=admin)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_account"
    assert client.post(f"/api/staff/accounts/{admin_name}/deactivate", headers=admin).status_code == 422


def test_the_queue_lists_waiting_people_in_the_contract_shape(client):
    conversation_id, handoff_id = waiting_person()
    _, headers = login(client)
    listed = client.get("/api/staff/handoffs", params={"status": "waiting"}, headers=headers).json()
    entry = next(h for h in listed if h["id"] == handoff_id)
    assert CONTRACT_KEYS <= set(entry)
    assert (entry["conversation_id"], entry["channel"], entry["service"], entry["status"]) == \
        (conversation_id, "web", "residence_permit", "waiting")
    assert client.get("/api/staff/handoffs", params={"status": "lost"}, headers=headers).status_code == 422


def test_accept_answer_and_close_reach_the_person_while_the_assistant_stays_silent(client, rasa):
    conversation_id, handoff_id = waiting_person()
    _, headers = login(client)
    accepted = client.post(f"/api/staff/handoffs/{handoff_id}/accept", headers=headers)
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    turn = client.post("/api/chat", headers=TOKENS.headers(conversation_id), json={"conversation_id": conversation_id, "text": "我的居住证过期了"}).json()
    assert turn["state"]["handoff"] == "active" and turn["messages"] == [] and rasa.messages_sent() == []

    sent = client.post(f"/api/staff/handoffs/{handoff_id}/messages", json={"text": "您好，过期多久了？"},
                       headers=headers)
    assert sent.status_code == 200 and sent.json()["from"] == "staff"
    inbox = client.get(f"/api/chat/{conversation_id}/messages", headers=TOKENS.headers(conversation_id)).json()["messages"]
    assert {"from": "staff", "text": "您好，过期多久了？"}.items() <= inbox[-1].items()

    detail = client.get(f"/api/staff/handoffs/{handoff_id}", headers=headers).json()
    assert ["我的居住证过期了", "您好，过期多久了？"] == [line["text"] for line in detail["transcript"]][-2:]

    closed = client.post(f"/api/staff/handoffs/{handoff_id}/close", json={"resolution_note": "告知续签材料"},
                         headers=headers)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    last = client.get(f"/api/chat/{conversation_id}/messages", headers=TOKENS.headers(conversation_id)).json()["messages"][-1]
    assert last["from"] == "assistant" and len(last["buttons"]) == 5
    turn = client.post("/api/chat", headers=TOKENS.headers(conversation_id), json={"conversation_id": conversation_id, "text": "谢谢"}).json()
    assert turn["state"]["handoff"] == "none" and rasa.messages_sent()


def test_the_accepted_state_shows_in_the_chat_state(client):
    conversation_id, handoff_id = waiting_person()
    _, headers = login(client)
    client.post(f"/api/staff/handoffs/{handoff_id}/accept", headers=headers)
    assert client.post("/api/chat", headers=TOKENS.headers(conversation_id), json={"conversation_id": conversation_id, "text": "在吗"}).json()["state"][
        "handoff"] == "active"
    _, other = login(client)
    taken = client.post(f"/api/staff/handoffs/{handoff_id}/accept", headers=other)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "handoff_active"


def test_messages_over_the_length_limit_or_empty_are_422(client):
    _, handoff_id = waiting_person()
    _, headers = login(client)
    client.post(f"/api/staff/handoffs/{handoff_id}/accept", headers=headers)
    limit = get_settings().max_text_length
    too_long = client.post(f"/api/staff/handoffs/{handoff_id}/messages", json={"text": "字" * (limit + 1)},
                           headers=headers)
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "text_too_long"
    assert client.post(f"/api/staff/handoffs/{handoff_id}/messages", json={"text": "   "},
                       headers=headers).status_code == 422
    assert client.post(f"/api/staff/handoffs/{handoff_id}/messages", json={"text": 5},
                       headers=headers).status_code == 422
    assert client.post("/api/staff/handoffs/99999999/accept", headers=headers).status_code == 404


def test_a_staff_member_cannot_read_a_conversation_someone_else_handles_but_a_supervisor_can(client):
    _, handoff_id = waiting_person()
    _, owner = login(client)
    _, colleague = login(client)
    supervisor_name, supervisor = login(client, "supervisor")
    client.post(f"/api/staff/handoffs/{handoff_id}/accept", headers=owner)
    assert client.get(f"/api/staff/handoffs/{handoff_id}", headers=colleague).status_code == 403
    assert client.post(f"/api/staff/handoffs/{handoff_id}/messages", json={"text": "hi"},
                       headers=colleague).status_code == 403
    assert client.get(f"/api/staff/handoffs/{handoff_id}", headers=supervisor).status_code == 200
    logged = audit.recent(staff_username=supervisor_name)
    assert any(e.action == "view_conversation" and e.subject == f"handoff:{handoff_id}" for e in logged)


def test_a_staff_member_lists_the_queue_and_their_own_handoffs_only_a_supervisor_all(client):
    _, first = waiting_person()
    _, second = waiting_person()
    _, owner = login(client)
    _, colleague = login(client)
    _, supervisor = login(client, "supervisor")
    client.post(f"/api/staff/handoffs/{first}/accept", headers=owner)

    def listed(headers: dict[str, str], status: str) -> set[int]:
        return {h["id"] for h in client.get(f"/api/staff/handoffs?status={status}", headers=headers).json()}

    assert second in listed(colleague, "waiting") and first not in listed(colleague, "active")
    assert first in listed(owner, "active") and first in listed(supervisor, "active")
    client.post(f"/api/staff/handoffs/{first}/close", headers=owner)
    assert first in listed(owner, "closed") and first not in listed(colleague, "closed")
    assert first in listed(supervisor, "closed")


def test_call_back_numbers_are_masked_and_revealing_one_is_audited(client):
    task = callbacks.request_callback("cb-1", "web", "13700001111", "afternoon")
    username, headers = login(client)
    listed = client.get("/api/staff/tasks", headers=headers).json()
    assert next(t for t in listed if t["id"] == task.id)["phone"] == "137****1111"
    assert "13700001111" not in str(listed)
    revealed = client.post(f"/api/staff/tasks/{task.id}/phone", headers=headers)
    assert revealed.json() == {"phone": "13700001111"}
    entry = audit.recent(staff_username=username)[0]
    assert (entry.action, entry.subject) == ("reveal_phone", f"task:{task.id}")
    done = client.post(f"/api/staff/tasks/{task.id}/done", json={"note": "已回电"}, headers=headers)
    assert done.json()["status"] == "done"


def test_todays_appointments_per_centre_with_check_in_and_audited_contact(client):
    day = dt.date(2026, 12, 9)
    conversations.ensure("ap-1", "kiosk", "zh-CN")
    booked = appointments.book("ap-1", "kiosk", "id_card", "east_centre", dt.datetime.combine(day, dt.time(14, 0)),
                               "刘桂兰", "15907661234", now=dt.datetime(2026, 11, 22, 9, 0))
    username, headers = login(client, centre="east_centre")
    listed = client.get("/api/staff/appointments", params={"date": day.isoformat(), "centre": "east_centre"},
                        headers=headers).json()
    assert [(a["reference"], a["full_name"], a["phone"]) for a in listed] == \
        [(booked.reference, "刘**", "159****1234")]
    assert client.post(f"/api/staff/appointments/{booked.id}/check-in", headers=headers).json()["status"] == \
        "checked_in"
    contact = client.post(f"/api/staff/appointments/{booked.id}/contact", headers=headers).json()
    assert contact == {"full_name": "刘桂兰", "phone": "15907661234"}
    assert audit.recent(staff_username=username)[0].action == "reveal_contact"


DAY = dt.date(2026, 12, 9)  # a Wednesday: every centre is open


def booked_at(centre: str, name: str, phone: str) -> appointments.AppointmentView:
    conversation_id = f"ap-{uuid.uuid4().hex[:8]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    first = appointments.free_slots(centre, now=dt.datetime.combine(DAY - dt.timedelta(days=1), dt.time(9)))[0]
    return appointments.book(conversation_id, "web", "id_card", centre, first.start, name, phone,
                             now=dt.datetime(2026, 11, 22, 9, 0))


def test_a_staff_member_sees_the_appointments_of_their_own_centre_only_a_supervisor_all(client):
    east, west = booked_at("east_centre", "刘桂兰", "15907661234"), booked_at("west_centre", "赵红梅", "15907665678")
    clerk_name, clerk = login(client, centre="east_centre")
    _, nowhere = login(client)
    _, supervisor = login(client, "supervisor")

    def listed(headers: dict[str, str], **params: str) -> set[str]:
        response = client.get("/api/staff/appointments", params={"date": DAY.isoformat(), **params}, headers=headers)
        assert response.status_code == 200, response.text
        return {a["reference"] for a in response.json()}

    assert east.reference in listed(clerk) and west.reference not in listed(clerk)
    assert listed(nowhere) == set(), "a staff member without a centre sees no appointments"
    assert {east.reference, west.reference} <= listed(supervisor)
    assert listed(supervisor, centre="west_centre") >= {west.reference}
    asked = client.get("/api/staff/appointments", params={"date": DAY.isoformat(), "centre": "west_centre"},
                       headers=clerk)
    assert asked.status_code == 403 and asked.json()["error"]["code"] == "other_centre"
    assert any(e.action == "appointments_refused" for e in audit.recent(staff_username=clerk_name))
    # Another centre's appointment answers like one that does not exist: no name, no phone, no check-in.
    missing = client.post("/api/staff/appointments/2147483647/contact", headers=clerk)
    for path in (f"/api/staff/appointments/{west.id}/contact", f"/api/staff/appointments/{west.id}/check-in"):
        refused = client.post(path, headers=clerk)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == missing.json()["error"]["code"]
        assert "赵红梅" not in refused.text and "15907665678" not in refused.text
    assert client.post(f"/api/staff/appointments/{east.id}/contact", headers=nowhere).status_code == 404
    assert appointments.find(west.reference).status == "booked"
    assert client.post(f"/api/staff/appointments/{west.id}/contact", headers=supervisor).json()["phone"] == \
        "15907665678"


def test_an_admin_moves_an_account_to_a_centre_and_what_it_sees_follows(client):
    west = booked_at("west_centre", "孙建华", "15907669999")
    clerk_name, clerk = login(client, centre="east_centre")
    admin_name, admin = login(client, "admin")
    assert client.get("/api/staff/me", headers=clerk).json()["centre_id"] == "east_centre"
    body = {"centre_id": "west_centre"}
    assert client.post(f"/api/staff/accounts/{clerk_name}/centre", json=body, headers=clerk).status_code == 403
    moved = client.post(f"/api/staff/accounts/{clerk_name}/centre", json=body, headers=admin)
    assert moved.status_code == 200 and moved.json()["centre_id"] == "west_centre"
    seen = client.get("/api/staff/appointments", params={"date": DAY.isoformat()}, headers=clerk).json()
    assert west.reference in {a["reference"] for a in seen}
    assert any(e.action == "set_account_centre" for e in audit.recent(staff_username=admin_name))
    unknown = client.post(f"/api/staff/accounts/{clerk_name}/centre", json={"centre_id": "moon_base"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_centre"
    nobody = client.post("/api/staff/accounts/nobody-here/centre", json=body, headers=admin)
    assert nobody.status_code == 404
    assert client.post(f"/api/staff/accounts/{clerk_name}/centre", json={"centre_id": None},
                       headers=admin).json()["centre_id"] is None
    assert client.get("/api/staff/appointments", params={"date": DAY.isoformat()}, headers=clerk).json() == []


def test_no_staff_answer_carries_a_conversation_token_and_the_audit_log_names_conversations_by_label(client, rasa):
    rasa.replies = [{"text": "好的，正在为您转人工。"}]
    first = client.post("/api/chat", json={"text": "转人工"}).json()
    conversation_id, token = first["conversation_id"], first["conversation_token"]
    handoff_id = handoff.request(conversation_id, "web", "residence_permit", "requested").handoff_id
    assert client.get(f"/api/chat/{conversation_id}/messages", headers={"X-Conversation-Token": "wrong"}).status_code \
        == 403  # a refused token: audited under the conversation
    _, clerk = login(client)
    _, supervisor = login(client, "supervisor")
    client.post(f"/api/staff/handoffs/{handoff_id}/accept", headers=clerk)
    answers = [client.get(path, headers=headers) for headers in (clerk, supervisor) for path in (
        "/api/staff/me", "/api/staff/handoffs?status=waiting", "/api/staff/handoffs?status=active",
        f"/api/staff/handoffs/{handoff_id}", "/api/staff/tasks")]
    answers.append(client.get("/api/staff/audit", headers=supervisor))
    assert all(a.status_code == 200 for a in answers)
    assert not [a.url for a in answers if token in a.text]
    logged = client.get("/api/staff/audit", headers=supervisor).text
    assert conversation_id not in logged
    assert f"conversation:{audit.conversation_label(conversation_id)}" in logged
    assert any(e.subject == f"conversation:{conversation_id}" for e in audit.recent(limit=1000)), "kept in full"


def test_the_console_page_is_served(client):
    page = client.get("/staff")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert client.get("/staff/assets/console.js").status_code == 200


def test_the_running_gateway_turns_a_handoff_nobody_accepted_into_an_offer(rasa):
    conversation_id, handoff_id = waiting_person()
    with unit_of_work() as session:
        session.execute(update(Handoff).where(Handoff.id == handoff_id)
                        .values(created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
    with TestClient(create_app(get_settings(), rasa_transport=rasa.transport())) as client:
        deadline = time.monotonic() + 15
        offers: list[dict] = []
        while time.monotonic() < deadline and not offers:
            offers = [m for m in client.get(f"/api/chat/{conversation_id}/messages", headers=TOKENS.headers(conversation_id)).json()["messages"]
                      if "/request_callback" in {b["payload"] for b in m["buttons"]}]
            time.sleep(0.2)
    assert offers, "the person is offered an appointment or a call-back instead of waiting in silence"
    assert handoff.status_of(conversation_id) == "none"


def test_closing_needs_no_body_and_a_closed_handoff_cannot_be_answered(client):
    _, handoff_id = waiting_person()
    _, headers = login(client)
    client.post(f"/api/staff/handoffs/{handoff_id}/accept", headers=headers)
    assert client.post(f"/api/staff/handoffs/{handoff_id}/close", headers=headers).status_code == 200
    late = client.post(f"/api/staff/handoffs/{handoff_id}/messages", json={"text": "还在吗"}, headers=headers)
    assert late.status_code == 409 and late.json()["error"]["code"] == "handoff_closed"
    assert client.get("/api/staff/handoffs", params={"status": "closed"}, headers=headers).json()[0]["id"] == handoff_id
