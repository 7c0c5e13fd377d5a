"""The assistant remembers the offer of its last turn only; the "cannot come" answers come from the catalogue."""

from __future__ import annotations

import pytest

from bot.actions.offers import REQUEST_CALLBACK, START_APPLICATION, offer_of_last_turn
from bot.knowledge.catalogue import get_catalogue
from bot.services import answers
from tests.fakes.tracker import bot, slot, user

pytestmark = pytest.mark.timeout(30)
CATALOGUE = get_catalogue()


def test_the_offer_of_the_last_turn_is_remembered():
    events = [user("高龄津贴怎么申请"), bot("…要我现在一步步帮您申请吗？"), slot("offer", START_APPLICATION), user("好的")]
    assert offer_of_last_turn(events) == START_APPLICATION


def test_an_offer_lapses_after_one_turn():
    events = [user("高龄津贴怎么申请"), slot("offer", START_APPLICATION), user("谢谢"), bot("不客气"), user("好的")]
    assert offer_of_last_turn(events) is None


def test_no_offer_before_the_first_message():
    assert offer_of_last_turn([user("好的")]) is None


def test_a_later_offer_in_the_same_turn_replaces_an_earlier_one():
    events = [user("去不了"), slot("offer", START_APPLICATION), slot("offer", REQUEST_CALLBACK), user("行")]
    assert offer_of_last_turn(events) == REQUEST_CALLBACK


@pytest.mark.parametrize("service_id", sorted(CATALOGUE.services))
def test_every_service_says_who_may_do_it_for_the_person_and_whether_staff_come(service_id):
    service = CATALOGUE.services[service_id]
    assert service.proxy is not None and service.home_visit is not None
    assert not service.proxy.allowed or service.proxy.documents, "allowed proxies say what to bring"
    assert not service.home_visit.available or service.home_visit.for_whom, "home visits say for whom"
    replies = answers.for_those_who_cannot_come(CATALOGUE, service)
    assert service.proxy.summary in replies[0].text and service.home_visit.summary in replies[0].text
    assert "/request_callback" in {b["payload"] for b in replies[-1].buttons}


def test_without_a_service_the_answer_still_offers_a_way_and_the_services_to_choose():
    replies = answers.for_those_who_cannot_come(CATALOGUE, None)
    assert "代办" in replies[0].text and "上门" in replies[0].text
    assert all('"detail": "access"' in b["payload"] for b in replies[0].buttons)


def test_out_of_scope_gives_the_hotline_and_the_most_asked_services():
    reply = answers.out_of_scope(CATALOGUE)
    assert CATALOGUE.city.hotline in reply.text
    assert reply.buttons[0]["payload"] == '/ask_how_to_apply{"service": "social_security_card"}'
