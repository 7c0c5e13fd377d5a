"""POST /api/understand over an engine double: the services a clarifying question would offer are reported."""

from __future__ import annotations

import pytest

from tests.fakes.rasa import FakeRasa


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa(parse_result={"intent": {"name": "ask_materials", "confidence": 0.9}, "entities": [],
                                  "intent_ranking": []})


def test_a_message_naming_two_services_reports_both_as_the_choice_offered(client):
    body = client.post("/api/understand", json={"text": "身份证和社保卡都丢了 补办要带什么"}).json()
    assert body["intent"] == "ask_materials"
    assert body["service"] in body["candidates"] and set(body["candidates"]) == {"id_card", "social_security_card"}


def test_a_message_about_one_service_offers_no_choice(client):
    body = client.post("/api/understand", json={"text": "居住证要带什么材料"}).json()
    assert (body["service"], body["candidates"]) == ("residence_permit", [])
