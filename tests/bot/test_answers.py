"""Answers are short, come from the catalogue, and offer the next likely questions."""

from __future__ import annotations

import json
import re

import pytest

from bot.services import answers
from bot.knowledge.catalogue import get_catalogue

CATALOGUE = get_catalogue()
SENTENCE_END = re.compile(r"[。！？]")


@pytest.mark.parametrize("service_id", sorted(CATALOGUE.services))
@pytest.mark.parametrize("intent", answers.QUESTION_INTENTS)
def test_every_question_about_every_service_has_a_short_spoken_answer(intent, service_id):
    replies = answers.answer(CATALOGUE, intent, CATALOGUE.services[service_id])
    assert len(replies) == 1
    text = replies[0].text
    assert CATALOGUE.services[service_id].short_name in text
    # Read aloud on the phone: at most three short sentences.
    assert len(SENTENCE_END.findall(text)) <= 3 + (1 if intent == "ask_how_to_apply" else 0)
    assert "{" not in text, "every placeholder is filled"
    entities = [json.loads(b["payload"][b["payload"].index("{"):]) for b in replies[0].buttons]
    assert entities and all(e["service"] == service_id for e in entities)


def test_materials_answer_is_the_catalogue_summary_and_details_list_every_item():
    service = CATALOGUE.services["residence_permit"]
    short = answers.answer(CATALOGUE, "ask_materials", service)
    assert service.materials_summary in short[0].text
    detailed = answers.answer(CATALOGUE, "ask_materials", service, details=True)
    assert all(m.name in detailed[1].text for m in service.materials)
    assert service.source.title in detailed[1].text


def test_location_details_give_address_phone_and_opening_hours():
    service = CATALOGUE.services["senior_card"]
    text = answers.answer(CATALOGUE, "ask_location_hours", service, details=True)[1].text
    for centre_id in service.centres:
        centre = CATALOGUE.centres[centre_id]
        assert centre.address in text and centre.phone in text
    assert "周一至周五" in text


def test_services_applied_for_here_offer_to_apply_others_offer_an_appointment():
    applied = answers.answer(CATALOGUE, "ask_fee", CATALOGUE.services["residence_permit"])[0].buttons
    in_person = answers.answer(CATALOGUE, "ask_fee", CATALOGUE.services["id_card"])[0].buttons
    assert any(b["payload"].startswith("/start_application") for b in applied)
    assert any(b["payload"].startswith("/book_appointment") for b in in_person)


def test_asking_which_service_offers_the_candidates_as_buttons():
    reply = answers.which_service(["medical_reimbursement", "medical_transfer_registration"], CATALOGUE, "ask_fee")
    assert [b["payload"] for b in reply.buttons] == [
        '/ask_fee{"service": "medical_reimbursement"}', '/ask_fee{"service": "medical_transfer_registration"}']


def test_an_faq_question_is_answered_as_written_give_or_take_punctuation_and_spaces():
    catalogue = get_catalogue()
    service = catalogue.services["residence_permit"]
    question = service.faq[0].question
    found = answers.faq_answer(catalogue, " " + question.rstrip("？?") + " ?")
    assert found == ("residence_permit", answers.Reply(f"{service.short_name}：{service.faq[0].answer}"))
    assert answers.faq_answer(catalogue, question[:-3]) is None, "only the question itself, not a part of it"
