"""On PostgreSQL too, the first message of a conversation creates it (and only the first)."""

from __future__ import annotations

import uuid

from bot.services import conversations


def test_ensure_says_which_call_created_the_conversation_on_postgresql(postgres):
    conversation_id = f"pg-{uuid.uuid4().hex[:8]}"
    assert conversations.ensure(conversation_id, "web", "zh-CN", "first")
    assert not conversations.ensure(conversation_id, "web", "zh-CN", "second")
