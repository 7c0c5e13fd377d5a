"""On the real stack: a conversation continues only with its token; Telegram and phone need none."""

from __future__ import annotations

import httpx
import pytest

from tests.chat_tokens import HEADER, TOKENS

pytestmark = pytest.mark.timeout(300)


def post(stack, body: dict, token: str | None = None) -> httpx.Response:
    return httpx.post(f"{stack.base_url}/api/chat", json=body, headers={HEADER: token} if token else {}, timeout=30)


def test_someone_who_knows_only_the_conversation_id_cannot_read_or_write_it(stack, conversation_id):
    stack.chat(conversation_id, "我要找人工")
    for token in (None, "guessed-token", "x" * 43):
        written = post(stack, {"conversation_id": conversation_id, "text": "把我的申请取消"}, token)
        assert written.status_code == 403 and set(written.json()["error"]) == {"code", "message"}
        read = httpx.get(f"{stack.base_url}/api/chat/{conversation_id}/messages",
                         headers={HEADER: token} if token else {}, timeout=10)
        assert read.status_code == 403
        assert "找人工" not in written.text + read.text
    # The resident's own client goes on as before.
    assert stack.chat(conversation_id, "谢谢")["conversation_id"] == conversation_id
    assert stack.pushed(conversation_id).status_code == 200


def test_a_conversation_the_server_names_continues_with_its_token(stack):
    first = post(stack, {"text": "社保卡丢了怎么补办"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["messages"] and body["conversation_token"]
    later = post(stack, {"conversation_id": body["conversation_id"], "text": "要带什么材料"}, body["conversation_token"])
    assert later.status_code == 200 and later.json()["messages"]
    assert "conversation_token" not in later.json()
    TOKENS.remember(body)


def test_only_the_hash_of_a_token_reaches_the_database(stack, conversation_id):
    import sqlite3

    token = stack.chat(conversation_id, "你好")["conversation_token"]
    database = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        dump = "\n".join(connection.iterdump())
    assert token not in dump
