"""A client's retried message (the same message_id) gets the answers it was given, from any replica, run once.

The engine double answers a message id it has handled from its record, as the real gateway channel does
(bot/rasa_plugins/channel.py); the gateway keeps only what the engine cannot answer (bot/services/chat_replies.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from bot.db.models import ChatReply, HandoffMessage, utcnow
from bot.conversation import engine_unavailable_message
from bot.db.session import get_engine, unit_of_work
from bot.services import chat_replies, handoff, redaction, vault
from tests.chat_tokens import TOKENS
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


def test_a_retry_gets_the_first_answer_and_the_turn_runs_once(client, rasa):
    conversation_id = new_conversation(client)
    rasa.active_loop, rasa.slots = "residence_permit", {"requested_slot": "phone"}
    rasa.replies = [{"text": "请说一下您的手机号", "buttons": [{"title": "上一步", "payload": "/go_back"}]}]
    first = send(client, conversation_id, "张建国", "m-00000001")
    # Run again, the turn would answer otherwise now: the retry gets the answers given the first time.
    rasa.replies = [{"text": "别的回答"}]
    again = send(client, conversation_id, "张建国", "m-00000001")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["state"]["requested_slot"] == "phone"
    ran = rasa.turns_run(conversation_id)
    assert [m["message_id"] for m in ran[1:]] == ["m-00000001"], "the turn runs once, with the client's id"


def test_a_retry_reports_the_conversation_as_it_is_now(client, rasa):
    conversation_id = new_conversation(client)
    rasa.active_loop, rasa.slots = "residence_permit", {"requested_slot": "phone"}
    rasa.replies = [{"text": "请说一下您的手机号"}]
    first = send(client, conversation_id, "张建国", "m-00000002").json()
    # Another tab went on meanwhile: the retry's answers are its own, the state is the conversation's.
    rasa.active_loop, rasa.slots = None, {}
    again = send(client, conversation_id, "张建国", "m-00000002").json()
    assert again["messages"] == first["messages"]
    assert again["state"]["form"] is None and again["state"]["requested_slot"] is None


def test_a_retry_reaching_another_gateway_replica_gets_the_same_answer(client, rasa):
    conversation_id = new_conversation(client)
    rasa.replies = [{"text": "需要身份证和居住证明"}]
    first = send(client, conversation_id, "要带什么", "m-replica-1")
    rasa.replies = [{"text": "另一个回答"}]
    # Another replica (nothing of this conversation in its memory) in front of the same engine.
    again = send(gateway(rasa), conversation_id, "要带什么", "m-replica-1")
    assert again.json() == first.json()
    assert len(rasa.turns_run(conversation_id)) == 2, "the greeting and the message, each once"


def test_a_retry_shows_the_persons_own_values_as_the_first_answer_did(client, rasa):
    conversation_id = new_conversation(client)
    rasa.active_loop, rasa.slots = "residence_permit", {"requested_slot": "full_name"}
    send(client, conversation_id, "帮我办居住证", "m-vault-001")
    reference = vault.shield_message(conversation_id, "欧阳明月", "full_name")
    # The engine holds only the reference; it repeats it in its read-back, and the person sees their name.
    rasa.replies = [{"text": f"您的姓名是{reference}，对吗？"}]
    first = send(client, conversation_id, "欧阳明月", "m-vault-002").json()
    again = send(client, conversation_id, "欧阳明月", "m-vault-002").json()
    assert first["messages"][0]["text"] == "您的姓名是欧阳明月，对吗？"
    assert again["messages"] == first["messages"]


def test_a_turn_with_a_message_id_costs_the_database_nothing_more_than_one_without(client, rasa):
    conversation_id = new_conversation(client)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        send(client, conversation_id, "要带什么", None)
        without_id = len(statements)
        statements.clear()
        send(client, conversation_id, "要交钱吗", "m-costs-001")
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    assert len(statements) == without_id, statements


def test_the_same_id_with_another_text_is_refused_with_a_json_error(client, rasa):
    conversation_id = new_conversation(client)
    assert send(client, conversation_id, "要带什么", "m-reused-1").status_code == 200
    refused = send(client, conversation_id, "要交钱吗", "m-reused-1")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "message_id_reused"
    assert [m["message"] for m in rasa.turns_run(conversation_id)][1:] == ["要带什么"]


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


def staff_serving(conversation_id: str) -> int:
    place = handoff.request(conversation_id, "web", None, "requested")
    handoff.accept(place.handoff_id, "li")
    return place.handoff_id


def said_to_staff(handoff_id: int) -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(select(HandoffMessage.text).where(HandoffMessage.handoff_id == handoff_id)).all())


def test_a_retry_while_staff_serve_the_person_reaches_them_once(client, rasa):
    conversation_id = new_conversation(client)
    handoff_id = staff_serving(conversation_id)
    first = send(client, conversation_id, "我的材料丢了", "m-staff-01")
    again = send(client, conversation_id, "我的材料丢了", "m-staff-01")
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert said_to_staff(handoff_id) == ["我的材料丢了"]
    assert len(rasa.turns_run(conversation_id)) == 1, "only the greeting reached the engine"


def test_while_staff_serve_the_person_the_same_id_with_another_text_is_refused(client, rasa):
    conversation_id = new_conversation(client)
    handoff_id = staff_serving(conversation_id)
    send(client, conversation_id, "我的材料丢了", "m-staff-02")
    refused = send(client, conversation_id, "我要补办", "m-staff-02")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "message_id_reused"
    assert said_to_staff(handoff_id) == ["我的材料丢了"]


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


def test_ids_given_to_staff_are_kept_for_the_last_messages_of_a_conversation_and_for_a_day(client, monkeypatch):
    conversation_id = new_conversation(client)
    handoff_id = staff_serving(conversation_id)
    for i in range(chat_replies.REPLIES_PER_CONVERSATION + 1):
        handoff.add_person_message(conversation_id, "你好", f"m-{i:08d}")
    handoff.add_person_message(conversation_id, "你好", "m-00000001")  # still known: a retry, nothing added
    handoff.add_person_message(conversation_id, "你好", "m-00000000")  # the oldest was forgotten: added again
    assert len(said_to_staff(handoff_id)) == chat_replies.REPLIES_PER_CONVERSATION + 2
    # Now and then, keeping an id drops every conversation's expired ones.
    with unit_of_work() as session:
        session.execute(update(ChatReply).where(ChatReply.conversation_id == conversation_id)
                        .values(created_at=utcnow() - chat_replies.REPLIES_FOR - dt.timedelta(minutes=1)))
    monkeypatch.setattr(chat_replies, "PRUNE_EVERY", 1)
    handoff.add_person_message(conversation_id, "还在吗", "m-later-01")
    with unit_of_work() as session:
        kept = session.scalars(select(ChatReply.message_id).where(ChatReply.conversation_id == conversation_id)).all()
    assert kept == ["m-later-01"]


def test_a_text_digest_is_keyed_and_has_no_digit_a_redaction_could_mask():
    digests = chat_replies.text_digests("13812345678")
    assert digests and all(len(d) == chat_replies.DIGEST_LENGTH and not any(c.isdigit() for c in d) for d in digests)
    assert all(redaction.replacer({"phone": "13812345678"})(d) == d for d in digests)
    assert hashlib.sha256(b"13812345678").hexdigest()[:chat_replies.DIGEST_LENGTH].translate(
        str.maketrans("0123456789", "ghijklmnop")) not in digests, "keyed: not a plain hash of the text"
    assert chat_replies.text_digests("13812345679")[0] != digests[0]


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
    assert len(rasa.turns_run(conversation_id)) == 1
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
