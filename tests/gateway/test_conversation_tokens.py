"""Conversation tokens: only the web client that started a conversation can continue it or read what reached it."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from bot.conversation import ConversationService, IncomingMessage
from bot.db.models import Conversation
from bot.db.session import get_engine, unit_of_work
from bot.engine.client import RasaClient
from bot.errors import Forbidden
from bot.gateway.app import create_app
from bot.services import audit, conversations, staff
from bot.settings import get_settings
from tests.chat_tokens import HEADER

pytestmark = pytest.mark.timeout(60)


def new_id() -> str:
    return f"tok-{uuid.uuid4().hex[:10]}"


def first_turn(client: TestClient, conversation_id: str) -> str:
    response = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "你好"})
    assert response.status_code == 200, response.text
    return response.json()["conversation_token"]


def test_the_first_answer_carries_a_token_that_continues_the_conversation(client):
    conversation_id = new_id()
    token = first_turn(client, conversation_id)
    assert len(token) >= 40
    later = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "社保卡怎么补"},
                        headers={HEADER: token})
    assert later.status_code == 200 and "conversation_token" not in later.json()
    pushed = client.get(f"/api/chat/{conversation_id}/messages", headers={HEADER: token})
    assert pushed.status_code == 200 and pushed.json() == {"messages": [], "cursor": None}


def test_without_a_conversation_id_the_server_chooses_one_and_hands_out_its_token(client):
    response = client.post("/api/chat", json={"text": "你好"})
    assert response.status_code == 200, response.text
    body = response.json()
    conversation_id, token = body["conversation_id"], body["conversation_token"]
    assert conversation_id.startswith("web-") and token
    again = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "谢谢"},
                        headers={HEADER: token})
    assert again.status_code == 200
    assert client.post("/api/chat", json={"text": "你好"}).json()["conversation_id"] != conversation_id


@pytest.mark.parametrize("headers", [{}, {HEADER: ""}, {HEADER: "x" * 43}, {HEADER: "y" * 5000}])
def test_a_missing_or_wrong_token_gets_a_403_and_the_engine_hears_nothing(client, rasa, headers):
    conversation_id = new_id()
    first_turn(client, conversation_id)
    sent_before = len(rasa.messages_sent())
    response = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "我的申请办到哪了"},
                           headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "conversation_token_invalid"
    assert len(rasa.messages_sent()) == sent_before
    assert client.get(f"/api/chat/{conversation_id}/messages", headers=headers).status_code == 403


def test_another_conversations_token_opens_nothing(client):
    mine, theirs = new_id(), new_id()
    my_token = first_turn(client, mine)
    first_turn(client, theirs)
    response = client.post("/api/chat", json={"conversation_id": theirs, "text": "你好"}, headers={HEADER: my_token})
    assert response.status_code == 403
    assert client.get(f"/api/chat/{theirs}/messages", headers={HEADER: my_token}).status_code == 403


def test_every_refused_token_is_audited_without_the_token_tried(client):
    conversation_id = new_id()
    first_turn(client, conversation_id)
    tried = "stolen-looking-token-" + uuid.uuid4().hex
    client.post("/api/chat", json={"conversation_id": conversation_id, "text": "你好"}, headers={HEADER: tried})
    client.get(f"/api/chat/{conversation_id}/messages")
    logged = audit.recent(subject=f"conversation:{conversation_id}")
    refused = [e for e in logged if e.action == "conversation_token_refused"]
    assert len(refused) == 2 and {e.staff_username for e in refused} == {conversations.TOKEN_REFUSED_BY}
    assert {e.detail for e in refused} == {"a message: a wrong token", "reading messages: no token"}
    assert all(tried not in e.detail and tried[:20] not in e.subject for e in logged)


def test_an_unknown_conversation_and_a_wrong_token_answer_alike(client):
    known = new_id()
    first_turn(client, known)
    wrong = client.get(f"/api/chat/{known}/messages", headers={HEADER: "guess"})
    unknown = client.get(f"/api/chat/{new_id()}/messages", headers={HEADER: "guess"})
    assert wrong.status_code == unknown.status_code == 403
    assert wrong.json() == unknown.json()


def test_only_the_tokens_hash_is_stored(client):
    conversation_id = new_id()
    token = first_turn(client, conversation_id)
    with unit_of_work() as session:
        stored = session.scalar(select(Conversation.token_hash).where(Conversation.id == conversation_id))
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored


def test_a_later_turn_proves_its_token_within_the_one_read_it_already_does(client):
    conversation_id = new_id()
    token = first_turn(client, conversation_id)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        response = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "要带什么材料"},
                               headers={HEADER: token})
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    assert response.status_code == 200
    assert len(statements) == 1, statements


def test_two_first_messages_at_once_leave_one_token_valid(rasa):
    service = ConversationService(RasaClient(get_settings(), transport=rasa.transport()))
    conversation_id = new_id()
    first = asyncio.run(service.handle(IncomingMessage(conversation_id, "你好")))
    assert first.conversation_token
    # The second "first" message lost the race: it has no token of the conversation's, so it is refused.
    with pytest.raises(Forbidden):
        asyncio.run(service.handle(IncomingMessage(conversation_id, "你好", token=None)))
    assert conversations.ensure(conversation_id, "web", "zh-CN", conversations.new_token()[1]) is False


def test_telegram_and_phone_conversations_need_no_token(rasa):
    service = ConversationService(RasaClient(get_settings(), transport=rasa.transport()))
    for channel in ("telegram", "phone"):
        conversation_id = f"{channel}:{uuid.uuid4().int % 10**9}"
        first = asyncio.run(service.handle(IncomingMessage(conversation_id, "你好", channel=channel)))
        later = asyncio.run(service.handle(IncomingMessage(conversation_id, "谢谢", channel=channel)))
        assert first.conversation_token is None and later.messages


def test_the_kiosks_assisted_turn_needs_the_conversation_token_as_well(client):
    username = f"desk-{uuid.uuid4().hex[:6]}"
    staff.create_or_update(username, "correct-horse-battery", "staff")
    staff_token = staff.login(username, "correct-horse-battery")
    auth = {"Authorization": f"Bearer {staff_token}"}
    conversation_id = new_id()
    created = client.post("/kiosk/api/assisted-chat", json={"conversation_id": conversation_id, "text": "你好"},
                          headers=auth)
    assert created.status_code == 200 and created.json()["conversation_token"]
    token = created.json()["conversation_token"]
    refused = client.post("/kiosk/api/assisted-chat", json={"conversation_id": conversation_id, "text": "办居住证"},
                          headers=auth)
    assert refused.status_code == 403
    allowed = client.post("/kiosk/api/assisted-chat", json={"conversation_id": conversation_id, "text": "办居住证"},
                          headers={**auth, HEADER: token})
    assert allowed.status_code == 200


def test_a_website_on_another_origin_may_send_the_token(rasa):
    from bot.settings import load_settings

    app = create_app(load_settings(cors_origins=["https://www.example.gov.cn"]), rasa_transport=rasa.transport())
    preflight = TestClient(app).options("/api/chat", headers={
        "Origin": "https://www.example.gov.cn", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-conversation-token"})
    assert preflight.status_code == 200
    assert "x-conversation-token" in preflight.headers["access-control-allow-headers"].lower()


def test_an_ended_conversation_is_neither_continued_nor_read_with_its_old_token(client):
    conversation_id = new_id()
    token = first_turn(client, conversation_id)
    assert client.delete(f"/api/chat/{conversation_id}", headers={HEADER: "x" * 43}).status_code == 403
    assert client.delete(f"/api/chat/{conversation_id}", headers={HEADER: token}).status_code == 204
    later = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "社保卡怎么补"},
                        headers={HEADER: token})
    assert later.status_code == 403 and later.json()["error"]["code"] == "conversation_token_invalid"
    assert client.get(f"/api/chat/{conversation_id}/messages", headers={HEADER: token}).status_code == 403
    assert client.delete(f"/api/chat/{conversation_id}", headers={HEADER: token}).status_code == 403
    fresh = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "你好"})
    assert fresh.status_code == 403, "the id does not start over with a new token either"
