"""Messages pushed to a conversation outside a request, read back by cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from bot.db.models import Conversation, OutboxMessage
from bot.db.session import unit_of_work
from bot.errors import Forbidden
from bot.services import audit, chat_replies, conversations
from bot.services.conversations import PushedMessage


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("postgres")
    return request.param


def new_conversation() -> str:
    conversation_id = f"p-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    return conversation_id


def test_pushed_messages_are_read_back_oldest_first_after_the_cursor(dialect):
    mine, other = new_conversation(), new_conversation()
    first = conversations.push(mine, "staff", "您好，我是李老师", [{"title": "好的", "payload": "/affirm"}])
    conversations.push(other, "staff", "不是您的消息")
    second = conversations.push(mine, "assistant", "您的申请已受理")
    assert first == PushedMessage(first.id, "staff", "您好，我是李老师", [{"title": "好的", "payload": "/affirm"}])
    assert second.buttons == [] and second.id > first.id
    assert conversations.messages_after(mine, None) == [first, second]
    assert conversations.messages_after(mine, first.id) == [second]
    assert conversations.messages_after(mine, second.id) == []


def test_a_read_returns_at_most_its_limit_starting_from_the_oldest(dialect):
    conversation_id = new_conversation()
    pushed = [conversations.push(conversation_id, "staff", f"第{n}条") for n in range(5)]
    assert conversations.messages_after(conversation_id, None, limit=2) == pushed[:2]
    assert conversations.messages_after(conversation_id, pushed[1].id, limit=2) == pushed[2:4]
    assert len(conversations.messages_after(conversation_id, None)) == 5, "a hundred by default"


def test_a_read_without_a_limit_returns_a_hundred():
    conversation_id = new_conversation()
    for n in range(101):
        conversations.push(conversation_id, "assistant", f"第{n}条")
    read = conversations.messages_after(conversation_id, None)
    assert len(read) == 100 and read[-1].text == "第99条"


def test_messages_come_back_in_the_order_of_their_ids_whatever_order_the_rows_are_stored_in(dialect):
    # PostgreSQL returns rows in the order they lie in the table unless told otherwise: the cursor needs id order.
    conversation_id = new_conversation()
    with unit_of_work() as session:
        for message_id in (10**6 + 3, 10**6 + 1, 10**6 + 2):
            session.add(OutboxMessage(id=message_id, conversation_id=conversation_id, sender="staff",
                                      text=f"第{message_id}条", buttons=[]))
    assert [m.id for m in conversations.messages_after(conversation_id, None)] == [10**6 + 1, 10**6 + 2, 10**6 + 3]
    assert [m.id for m in conversations.messages_after(conversation_id, 10**6 + 1)] == [10**6 + 2, 10**6 + 3]


def test_a_conversation_is_recorded_once_with_the_channel_and_language_it_started_in(dialect):
    conversation_id = f"p-{uuid.uuid4().hex[:10]}"
    assert conversations.ensure(conversation_id, "kiosk", "en", "a" * 64)
    assert not conversations.ensure(conversation_id, "web", "zh-CN", "b" * 64), "the second first message"
    with unit_of_work() as session:
        row = session.get(Conversation, conversation_id)
        assert (row.channel, row.locale, row.token_hash) == ("kiosk", "en", "a" * 64)
    assert conversations.channel_of(conversation_id) == "kiosk"


def test_the_channel_of_an_unknown_conversation_is_none():
    assert conversations.channel_of(f"p-{uuid.uuid4().hex[:10]}") is None


# ---- conversation tokens ---------------------------------------------------------------------------------------

def test_a_new_token_is_long_random_and_only_its_hash_is_kept():
    token, stored = conversations.new_token()
    other, _ = conversations.new_token()
    assert len(token) == 43 and token != other and token not in stored
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert conversations.token_matches(token, stored) and not conversations.token_matches(other, stored)


def test_no_token_or_no_stored_hash_matches_nothing():
    token, stored = conversations.new_token()
    assert not conversations.token_matches(None, stored) and not conversations.token_matches("", stored)
    assert not conversations.token_matches(token, None) and not conversations.token_matches(token, "")


def test_a_token_longer_than_any_we_hand_out_is_refused_without_comparing():
    longest, too_long = "t" * conversations.MAX_TOKEN_LENGTH, "t" * (conversations.MAX_TOKEN_LENGTH + 1)
    assert conversations.token_matches(longest, conversations.hash_token(longest))
    assert not conversations.token_matches(too_long, conversations.hash_token(too_long))


def test_a_token_that_is_not_valid_text_is_hashed_and_refused_rather_than_failing():
    _, stored = conversations.new_token()
    assert not conversations.token_matches("\ud800abc", stored)


def test_reading_with_a_wrong_or_missing_token_is_refused_alike_and_audited_without_the_token():
    conversation_id = f"p-{uuid.uuid4().hex[:10]}"
    token, stored = conversations.new_token()
    conversations.ensure(conversation_id, "web", "zh-CN", stored)
    conversations.check_token(conversation_id, token)
    refusals = []
    for tried in ("wrong-token", None):
        with pytest.raises(Forbidden) as refused:
            conversations.check_token(conversation_id, tried)
        refusals.append((refused.value.code, refused.value.message))
    assert refusals == [("conversation_token_invalid", conversations.TOKEN_REFUSAL)] * 2
    entries = audit.recent(subject=f"conversation:{conversation_id}")
    assert [(e.staff_username, e.action, e.detail) for e in entries] == [
        ("anonymous", "conversation_token_refused", "reading messages: no token"),
        ("anonymous", "conversation_token_refused", "reading messages: a wrong token")]


def test_an_unknown_conversation_is_refused_like_a_wrong_token():
    with pytest.raises(Forbidden):
        conversations.check_token(f"p-{uuid.uuid4().hex[:10]}", conversations.new_token()[0])


def test_a_refusal_for_a_very_long_conversation_id_is_still_audited():
    conversation_id = "p" * 300
    conversations.audit_refusal(conversation_id, "x", "a turn")
    assert audit.recent(subject=f"conversation:{conversation_id}"[:160])[0].detail == "a turn: a wrong token"


def test_ending_with_a_wrong_or_missing_token_is_refused_and_audited_and_the_conversation_goes_on():
    conversation_id = f"p-{uuid.uuid4().hex[:10]}"
    token, stored = conversations.new_token()
    conversations.ensure(conversation_id, "web", "zh-CN", stored)
    for tried in ("wrong-token", None):
        with pytest.raises(Forbidden):
            conversations.end(conversation_id, tried)
    entries = audit.recent(subject=f"conversation:{conversation_id}")
    assert [(e.staff_username, e.action, e.detail) for e in entries] == [
        ("anonymous", "conversation_token_refused", "ending the conversation: no token"),
        ("anonymous", "conversation_token_refused", "ending the conversation: a wrong token")]
    conversations.check_token(conversation_id, token)


def test_an_ended_conversation_keeps_no_answer_that_would_hand_out_its_token_again():
    conversation_id = f"p-{uuid.uuid4().hex[:10]}"
    token, stored = conversations.new_token()
    conversations.ensure(conversation_id, "web", "zh-CN", stored)
    chat_replies.first_message(conversation_id, "m-1", "你好", token)
    assert chat_replies.recall(conversation_id, "m-1", "你好").conversation_token == token
    conversations.end(conversation_id, token)
    assert chat_replies.recall(conversation_id, "m-1", "你好") is None
    with pytest.raises(Forbidden):
        conversations.check_token(conversation_id, token)
