"""The answer to a name question is held back even when the gateway did not see the question asked.

The gateway remembers each conversation's pending question from its own turns; a gateway
started after the question (a restart, another replica) or one that missed the engine's
state reads it from the engine's tracker instead of letting the answer through in clear.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from bot.services.vault import REFERENCE, reveal_for
from bot.settings import get_settings
from tests.chat_tokens import HEADER
from tests.fakes.rasa import FakeRasa
from tests.gateway.conftest import gateway

pytestmark = pytest.mark.timeout(60)

NAME = "欧阳明月"


@pytest.fixture
def rasa() -> FakeRasa:
    """An engine in the middle of an application, asking for the person's name."""
    return FakeRasa(replies=[{"recipient_id": "x", "text": "请告诉我您的姓名。"}],
                    slots={"requested_slot": "full_name"}, active_loop="social_security_card")


def start(client: TestClient) -> tuple[str, str]:
    conversation_id = f"restart-{uuid.uuid4().hex[:10]}"
    response = client.post("/api/chat", json={"conversation_id": conversation_id, "text": "社保卡丢了 帮我补办一张"})
    assert response.status_code == 200, response.text
    assert response.json()["state"]["requested_slot"] == "full_name"
    return conversation_id, response.json()["conversation_token"]


def answer(client: TestClient, conversation_id: str, token: str, text: str) -> None:
    response = client.post("/api/chat", json={"conversation_id": conversation_id, "text": text},
                           headers={HEADER: token})
    assert response.status_code == 200, response.text


def test_the_first_answer_after_a_restart_reaches_the_engine_as_a_reference(rasa):
    conversation_id, token = start(gateway(rasa))
    answer(gateway(rasa), conversation_id, token, NAME)  # a new app: the gateway restarted meanwhile
    sent = rasa.messages_sent()[-1]["message"]
    assert NAME not in sent and REFERENCE.fullmatch(sent), sent
    assert reveal_for(conversation_id)(sent) == NAME


def test_a_request_after_a_restart_is_not_held_back_and_costs_no_tracker_read(rasa):
    conversation_id, token = start(gateway(rasa))
    rasa.received.clear()
    answer(gateway(rasa), conversation_id, token, "转人工")
    assert rasa.messages_sent()[-1]["message"] == "转人工"
    assert not [path for _, path, _ in rasa.received if path.endswith("/tracker")]


def test_after_a_turn_without_the_engine_the_next_answer_is_still_held_back(rasa):
    client = gateway(rasa)
    conversation_id, token = start(client)
    rasa.down = True
    answer(client, conversation_id, token, "我先问问")  # answered politely without the engine
    rasa.down = False
    answer(client, conversation_id, token, NAME)
    sent = rasa.messages_sent()[-1]["message"]
    assert REFERENCE.fullmatch(sent) and reveal_for(conversation_id)(sent) == NAME


def test_with_several_gateways_an_answer_is_held_back_though_this_gateway_saw_no_question(rasa, monkeypatch):
    monkeypatch.setenv("GATEWAY_REPLICAS", "2")
    get_settings.cache_clear()
    rasa.slots = {"requested_slot": None}
    first, second = gateway(rasa), gateway(rasa)
    conversation_id = f"replicas-{uuid.uuid4().hex[:10]}"
    response = first.post("/api/chat", json={"conversation_id": conversation_id, "text": "社保卡怎么补办"})
    token = response.json()["conversation_token"]
    answer(second, conversation_id, token, "我想办社保卡")  # this gateway sees no question pending
    rasa.slots = {"requested_slot": "full_name"}
    answer(first, conversation_id, token, "帮我申请")  # the other gateway's turn asks for the name
    answer(second, conversation_id, token, NAME)
    sent = rasa.messages_sent()[-1]["message"]
    assert REFERENCE.fullmatch(sent) and reveal_for(conversation_id)(sent) == NAME
