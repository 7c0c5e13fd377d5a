"""Messages pushed to a conversation outside a request, read back by cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from bot.errors import Forbidden
from bot.services import audit, conversations
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
