"""Messages pushed to a conversation outside a request, read back by cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from bot.services import conversations
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
