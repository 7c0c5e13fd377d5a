"""In a form: typing someone's ID number and phone only says a draft exists; the code sent to the phone resumes it."""

from __future__ import annotations

import re
import uuid

import pytest

from bot import texts
from bot.notify.sms import NoSms, SmppSender
from bot.services import applications, conversations, identity
from tests.bot.test_applications_service import other_person
from tests.bot.test_forms_validation import answer, run, said
from tests.fakes.smsc import PASSWORD, SYSTEM_ID, FakeSmsc

pytestmark = pytest.mark.timeout(60)
FORM = "residence_permit"


@pytest.fixture
def smsc(monkeypatch):
    with FakeSmsc() as running:
        sender = SmppSender("127.0.0.1", running.port, SYSTEM_ID, PASSWORD, "1069")
        monkeypatch.setattr(identity, "_default_sender", lambda: sender)
        yield running


def started_elsewhere() -> tuple[dict, str, str]:
    """A person's draft left in one conversation, and a second conversation that typed both numbers."""
    person = other_person()
    first, second = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    for conversation in (first, second):
        conversations.ensure(conversation, "web", "zh-CN")
    applications.save_draft(first, "web", FORM, {**person, "employer_or_school": None})
    return person, first, second


def test_the_numbers_alone_say_a_draft_exists_and_send_a_code_to_its_phone(smsc):
    person, first, second = started_elsewhere()
    slots, messages = run(FORM, answer(FORM, "phone", person["phone"], conversation_id=second,
                                       slots={"id_number": person["id_number"]}))
    assert "没填完" in said(messages) and person["phone"][-4:] in said(messages)
    assert person["address"] not in said(messages) and "address" not in slots
    assert smsc.wait_for(1)[0].destination == "86" + person["phone"]
    assert applications.draft_for(first, FORM) is not None, "the draft stays where it was"


def test_a_wrong_code_is_counted_and_the_right_one_resumes_the_draft(smsc):
    person, first, second = started_elsewhere()
    known = {"id_number": person["id_number"], "phone": person["phone"]}
    run(FORM, answer(FORM, "phone", person["phone"], conversation_id=second, slots={"id_number": person["id_number"]}))
    code = re.search(r"\d{6}", smsc.wait_for(1)[0].text).group()
    wrong = f"{(int(code) + 7) % 10**6:06d}"
    slots, messages = run(FORM, answer(FORM, "full_name", wrong, conversation_id=second, slots=known))
    assert slots["full_name"] is None and texts.text("utter_identity_code_wrong", tries=4) in said(messages)
    slots, messages = run(FORM, answer(FORM, "full_name", code, conversation_id=second, slots=known))
    assert texts.text("utter_identity_confirmed") in said(messages)
    assert slots["address"] == person["address"] and slots["full_name"] == person["full_name"]
    assert applications.draft_for(second, FORM) is not None and applications.draft_for(first, FORM) is None


def test_without_sms_the_person_is_told_the_other_ways(monkeypatch):
    monkeypatch.setattr(identity, "_default_sender", lambda: NoSms())
    person, _, second = started_elsewhere()
    slots, messages = run(FORM, answer(FORM, "phone", person["phone"], conversation_id=second,
                                       slots={"id_number": person["id_number"]}))
    assert "没填完" in said(messages) and "服务中心" in said(messages) and "address" not in slots


def test_a_phone_proven_another_way_resumes_on_the_next_answer(smsc):
    person, _, second = started_elsewhere()
    known = {"id_number": person["id_number"], "phone": person["phone"]}
    run(FORM, answer(FORM, "phone", person["phone"], conversation_id=second, slots={"id_number": person["id_number"]}))
    identity.record_proof(second, "telegram_contact", phone=person["phone"])
    slots, _ = run(FORM, answer(FORM, "full_name", "王秀英", conversation_id=second, slots=known))
    assert slots.get("address") == person["address"]
    assert identity.code_pending(second) is None
