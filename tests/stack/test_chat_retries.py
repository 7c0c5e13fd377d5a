"""Retried messages on the real stack: Rasa answers a message id it has handled from its tracker, and runs it once.

The gateway looks nothing up for an ordinary turn's message id (tests/gateway/test_chat_retries.py has the
gateway's side with an engine double); here the real gateway channel, tracker store and form do the rest.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

import httpx
import pytest

from tests.chat_tokens import TOKENS
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack


def post(stack: Stack, conversation_id: str, text: str, message_id: str, token: bool = True) -> httpx.Response:
    """One turn with a message id, as the widget sends it (with the conversation's token, unless told not to)."""
    response = httpx.post(f"{stack.base_url}/api/chat", timeout=30,
                          json={"conversation_id": conversation_id, "text": text, "message_id": message_id},
                          headers=TOKENS.headers(conversation_id) if token else {})
    if response.status_code == 200 and token:
        TOKENS.remember(response.json())
    return response


def stored_messages(stack: Stack, conversation_id: str) -> list[dict]:
    """The person's messages in the conversation's stored events, as Rasa's tracker store keeps them."""
    database = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id",
                                  (conversation_id,)).fetchall()
    return [json.loads(data) for (data,) in rows]


def test_a_retried_message_gets_the_same_answers_runs_once_and_its_id_takes_no_other_text(stack, conversation_id):
    question = post(stack, conversation_id, "高龄津贴怎么申请", uuid.uuid4().hex)
    assert question.status_code == 200, question.text
    message_id = uuid.uuid4().hex
    first = post(stack, conversation_id, "要带什么", message_id)
    again = post(stack, conversation_id, "要带什么", message_id)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() and first.json()["messages"]
    assert [m["message_id"] for m in stored_messages(stack, conversation_id)].count(message_id) == 1
    refused = post(stack, conversation_id, "要交钱吗", message_id)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "message_id_reused"
    assert len(stored_messages(stack, conversation_id)) == 2


def test_a_first_message_whose_answer_was_lost_gets_its_answers_and_token_from_a_retry(stack, conversation_id):
    message_id = uuid.uuid4().hex
    lost = post(stack, conversation_id, "高龄津贴怎么申请", message_id, token=False)
    again = post(stack, conversation_id, "高龄津贴怎么申请", message_id, token=False)
    assert lost.status_code == again.status_code == 200, again.text
    assert again.json() == lost.json() and lost.json()["conversation_token"]
    assert len(stored_messages(stack, conversation_id)) == 1


def test_a_retried_answer_moves_a_form_once_and_the_name_never_reaches_storage(stack, conversation_id):
    assert post(stack, conversation_id, "帮我办居住证", uuid.uuid4().hex).json()["state"]["requested_slot"] == \
        "full_name"
    name, message_id = "慕容晓云", uuid.uuid4().hex
    first = post(stack, conversation_id, name, message_id).json()
    # The form has moved on: the retry is sent as an answer to the next question would be, and still is
    # answered from the record without being run.
    again = post(stack, conversation_id, name, message_id).json()
    assert first["state"]["requested_slot"] == again["state"]["requested_slot"] == "id_number"
    assert again["messages"] == first["messages"]
    stored = stored_messages(stack, conversation_id)
    assert [m["message_id"] for m in stored].count(message_id) == 1
    assert all(name not in json.dumps(m, ensure_ascii=False) for m in stored)
