"""A client's retried message (the same message_id) gets the answer it was given, from any replica, run once."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from fastapi.testclient import TestClient

from bot.db.models import ChatReply, HandoffMessage, utcnow
from bot.conversation import engine_unavailable_message
from bot.db.session import unit_of_work
from bot.services import chat_replies, handoff
from tests.chat_tokens import TOKENS
from tests.fakes.rasa import FakeRasa
from tests.gateway.conftest import gateway


def send(client: TestClient, conversation_id: str, text: str, message_id: str | None):
    body = {"conversation_id": conversation_id, "text": text} | ({"message_id": message_id} if message_id else {})
    response = client.post("/api/chat", json=body, headers=TOKENS.headers(conversation_id))
    if response.status_code == 200:
        TOKENS.remember(response.json())
    return response


def new_conversation(client: TestClient) -> str:
    conversation_id = f"r-{uuid.uuid4().hex[:10]}"
    assert send(client, conversation_id, "你好", None).status_code == 200
    return conversation_id


def test_a_retry_gets_the_first_answer_and_the_engine_hears_the_message_once(client, rasa):
    conversation_id = new_conversation(client)
    rasa.active_loop, rasa.slots = "residence_permit", {"requested_slot": "phone"}
    rasa.replies = [{"text": "请说一下您的手机号", "buttons": [{"title": "上一步", "payload": "/go_back"}]}]
    first = send(client, conversation_id, "张建国", "m-00000001")
    # The engine has moved on meanwhile (another tab, a later message): the retry still gets its own answer.
    rasa.active_loop, rasa.replies = None, [{"text": "别的回答"}]
    again = send(client, conversation_id, "张建国", "m-00000001")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["state"]["requested_slot"] == "phone"
    sent = [m for m in rasa.messages_sent() if m["sender"] == conversation_id]
    assert [m["message_id"] for m in sent[1:]] == ["m-00000001"], "the engine is asked once, with the client's id"


def test_a_retry_reaching_another_gateway_replica_gets_the_same_answer(client, rasa):
    conversation_id = new_conversation(client)
    rasa.replies = [{"text": "需要身份证和居住证明"}]
    first = send(client, conversation_id, "要带什么", "m-replica-1")
    other_engine = FakeRasa(replies=[{"text": "另一个回答"}])
    again = send(gateway(other_engine), conversation_id, "要带什么", "m-replica-1")
    assert again.json() == first.json() and other_engine.messages_sent() == []


def test_the_same_id_with_another_text_is_refused_with_a_json_error(client, rasa):
    conversation_id = new_conversation(client)
    assert send(client, conversation_id, "要带什么", "m-reused-1").status_code == 200
    refused = send(client, conversation_id, "要交钱吗", "m-reused-1")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "message_id_reused"


def test_message_ids_are_per_conversation(client, rasa):
    one, two = new_conversation(client), new_conversation(client)
    rasa.replies = [{"text": "第一个"}]
    send(client, one, "要带什么", "m-shared-id")
    rasa.replies = [{"text": "第二个"}]
    assert send(client, two, "要交钱吗", "m-shared-id").json()["messages"][0]["text"] == "第二个"


def test_each_turn_without_a_client_id_reaches_the_engine_with_an_id_of_its_own(client, rasa):
    conversation_id = new_conversation(client)
    send(client, conversation_id, "要带什么", None)
    send(client, conversation_id, "要带什么", None)
    ids = [m["message_id"] for m in rasa.messages_sent() if m["sender"] == conversation_id]
    assert len(ids) == 3 and len(set(ids)) == 3 and all(ids)


def test_the_polite_fallback_is_not_kept_so_a_retry_runs_the_turn_when_the_engine_is_back(client, rasa):
    conversation_id = new_conversation(client)
    rasa.down = True
    fallback = send(client, conversation_id, "要带什么", "m-outage-1").json()
    rasa.down, rasa.replies = False, [{"text": "需要身份证"}]
    answered = send(client, conversation_id, "要带什么", "m-outage-1").json()
    assert fallback["messages"] != answered["messages"]
    assert answered["messages"] == [{"text": "需要身份证", "buttons": []}]


def test_a_turn_the_engine_did_not_save_gets_the_polite_answer_and_the_question_still_open(client, rasa):
    conversation_id = new_conversation(client)
    # A custom action failed in the turn: Rasa kept nothing of it, the form still waits for the same answer.
    rasa.active_loop, rasa.slots, rasa.not_saved = "residence_permit", {"requested_slot": "address"}, True
    fallback = send(client, conversation_id, "东城区幸福路10号", "m-unsaved-1").json()
    assert [m["text"] for m in fallback["messages"]] == [engine_unavailable_message().text]
    assert fallback["state"]["form"] == "residence_permit" and fallback["state"]["requested_slot"] == "address"
    rasa.not_saved, rasa.replies = False, [{"text": "请说一下您的工作单位"}]
    answered = send(client, conversation_id, "东城区幸福路10号", "m-unsaved-1").json()
    assert answered["messages"] == [{"text": "请说一下您的工作单位", "buttons": []}]
    sent = [m["message_id"] for m in rasa.messages_sent() if m["sender"] == conversation_id]
    assert sent[1:] == ["m-unsaved-1", "m-unsaved-1"], "the retry runs the turn again"


def test_a_retry_while_staff_serve_the_person_reaches_them_once(client, rasa):
    conversation_id = new_conversation(client)
    place = handoff.request(conversation_id, "web", None, "requested")
    handoff.accept(place.handoff_id, "li")
    send(client, conversation_id, "我的材料丢了", "m-staff-01")
    send(client, conversation_id, "我的材料丢了", "m-staff-01")
    with unit_of_work() as session:
        said = session.scalars(select(HandoffMessage.text).where(HandoffMessage.handoff_id == place.handoff_id)).all()
    assert said == ["我的材料丢了"]


def test_a_token_is_needed_to_read_a_kept_answer(client, rasa):
    conversation_id = new_conversation(client)
    send(client, conversation_id, "要带什么", "m-secret-1")
    stranger = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "要带什么",
                                              "message_id": "m-secret-1"})
    assert stranger.status_code == 403 and "messages" not in stranger.json()


@pytest.mark.parametrize("message_id", ["short", "a" * 65, "has space1", "冒号:不行12", 12345678])
def test_a_malformed_message_id_gets_422(client, message_id):
    response = client.post("/api/chat", json={"conversation_id": "r-bad", "text": "你好", "message_id": message_id})
    assert response.status_code == 422 and "error" in response.json()


def test_answers_are_kept_for_the_last_messages_of_a_conversation_and_for_a_day(client, rasa, monkeypatch):
    conversation_id = new_conversation(client)
    now = utcnow()
    for i in range(chat_replies.REPLIES_PER_CONVERSATION + 1):
        chat_replies.remember(conversation_id, f"m-{i:08d}", "你好", {"n": i},
                              now=now - dt.timedelta(seconds=100 - i))
    assert chat_replies.recall(conversation_id, "m-00000000", "你好") is None, "the oldest is forgotten"
    assert chat_replies.recall(conversation_id, "m-00000001", "你好") == chat_replies.Remembered({"n": 1})
    chat_replies.remember(conversation_id, "m-yesterday", "你好", {"n": -1},
                          now=now - chat_replies.REPLIES_FOR - dt.timedelta(minutes=1))
    assert chat_replies.recall(conversation_id, "m-yesterday", "你好") is None
    # Now and then, storing an answer drops every conversation's expired ones.
    monkeypatch.setattr(chat_replies, "PRUNE_EVERY", 2)
    chat_replies.remember(new_conversation(client), "m-00000000", "你好", {"n": 0})
    chat_replies.remember(new_conversation(client), "m-00000000", "你好", {"n": 0})
    with unit_of_work() as session:
        assert session.get(ChatReply, (conversation_id, "m-yesterday")) is None
        assert session.query(ChatReply).filter_by(conversation_id=conversation_id).count() == \
            chat_replies.REPLIES_PER_CONVERSATION


def test_an_answer_that_cannot_be_kept_still_reaches_the_person(client, rasa, monkeypatch):
    conversation_id = new_conversation(client)

    def database_gone(*_args, **_kwargs):
        raise OperationalError("INSERT", {}, ConnectionError("the database went away"))

    monkeypatch.setattr(chat_replies, "remember", database_gone)
    rasa.replies = [{"text": "需要身份证"}]
    assert send(client, conversation_id, "要带什么", "m-unkept-1").json()["messages"] == [
        {"text": "需要身份证", "buttons": []}]


def first_message(client: TestClient, conversation_id: str, text: str, message_id: str, token: str | None = None):
    headers = {"X-Conversation-Token": token} if token else {}
    return client.post("/api/chat", headers=headers, json={"conversation_id": conversation_id, "text": text,
                                                           "message_id": message_id})


def test_a_first_message_whose_answer_was_lost_gets_the_answer_and_the_token_again(client, rasa):
    conversation_id = f"r-{uuid.uuid4().hex[:10]}"
    rasa.replies = [{"text": "您好，我是便民助手"}]
    lost = first_message(client, conversation_id, "你好", "m-first-001").json()
    again = first_message(client, conversation_id, "你好", "m-first-001")
    assert again.status_code == 200, again.text
    assert again.json() == lost and lost["conversation_token"]
    assert len([m for m in rasa.messages_sent() if m["sender"] == conversation_id]) == 1
    assert first_message(client, conversation_id, "要带什么", "m-first-002", lost["conversation_token"]).status_code == 200


def test_a_first_message_lost_before_its_answer_was_kept_runs_again_and_gets_the_token(client, rasa):
    conversation_id = f"r-{uuid.uuid4().hex[:10]}"
    rasa.down = True  # the turn never finished: nothing but the token was kept
    first_message(client, conversation_id, "你好", "m-first-101")
    rasa.down, rasa.replies = False, [{"text": "您好"}]
    again = first_message(client, conversation_id, "你好", "m-first-101")
    assert again.status_code == 200 and again.json()["messages"] == [{"text": "您好", "buttons": []}]
    token = again.json()["conversation_token"]
    assert first_message(client, conversation_id, "要带什么", "m-first-102", token).status_code == 200


@pytest.mark.parametrize(("text", "message_id"), [("你好", "m-other-id"), ("别的话", "m-first-201")])
def test_without_the_token_only_the_same_first_message_gets_in(client, rasa, text, message_id):
    conversation_id = f"r-{uuid.uuid4().hex[:10]}"
    assert first_message(client, conversation_id, "你好", "m-first-201").status_code == 200
    refused = first_message(client, conversation_id, text, message_id)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "conversation_token_invalid"


def test_the_token_of_a_first_message_is_given_again_only_soon_after(client, rasa):
    conversation_id = f"r-{uuid.uuid4().hex[:10]}"
    assert first_message(client, conversation_id, "你好", "m-first-301").status_code == 200
    with unit_of_work() as session:
        row = session.get(ChatReply, (conversation_id, "m-first-301"))
        row.created_at = utcnow() - chat_replies.FIRST_ANSWER_RETRY_FOR - dt.timedelta(seconds=1)
    assert first_message(client, conversation_id, "你好", "m-first-301").status_code == 403


def test_an_ended_conversation_gives_its_token_to_no_retry_of_its_first_message(client, rasa):
    conversation_id = f"r-{uuid.uuid4().hex[:10]}"
    token = first_message(client, conversation_id, "你好", "m-first-401").json()["conversation_token"]
    assert client.delete(f"/api/chat/{conversation_id}", headers={"X-Conversation-Token": token}).status_code == 204
    assert first_message(client, conversation_id, "你好", "m-first-401").status_code == 403
