"""On the real stack: knowing someone's numbers gives nothing; holding their phone or showing the ID card does."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from bot.services import applications
from tests.chat_tokens import TOKENS
from tests.stack.test_applications import (
    answer_until_done,
    new_id,
    staff_token,
    text_of,
    unique_person,
)

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]


def submitted(stack, person: dict) -> str:
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "帮我办居住证")
    reply, _ = answer_until_done(stack, conversation_id, reply, person)
    return reply["state"]["application_reference"]


def test_a_stranger_with_the_id_number_and_phone_gets_a_code_sent_to_the_phone_not_the_list(stack, smsc):
    person = unique_person()
    reference = submitted(stack, person)
    stranger = new_id()
    stack.chat(stranger, "我的居住证办到哪一步了")
    reply = stack.chat(stranger, f"{person['id_number']} {person['phone']}")
    assert reference not in text_of(reply) and "验证码" in text_of(reply)
    code = re.search(r"\d{6}", smsc.wait_for_to("86" + person["phone"]).text).group()
    for guess in ("000000", "123456", "999999"):
        if guess != code:
            assert reference not in text_of(stack.chat(stranger, guess))
    # The phone's holder types the code and sees the list.
    holder = stack.chat(stranger, code)
    assert reference in text_of(holder), text_of(holder)


def test_a_staff_member_who_checked_the_id_card_lets_the_kiosk_resume_a_draft(stack, smsc):
    person = unique_person()
    web, kiosk = new_id(), f"kiosk-{uuid.uuid4().hex[:8]}"
    reply = stack.chat(web, "帮我办居住证")
    answer_until_done(stack, web, reply, person, stop_at="employer_or_school")
    stack.chat(web, "先不办了")

    auth = {"Authorization": f"Bearer {staff_token(stack)}"}
    first = httpx.post(f"{stack.base_url}/kiosk/api/assisted-chat", headers=auth, timeout=30,
                       json={"conversation_id": kiosk, "text": "帮我办居住证", "channel": "kiosk"})
    assert first.status_code == 200, first.text
    TOKENS.remember(first.json())
    checked = httpx.post(f"{stack.base_url}/kiosk/api/assisted-identity", timeout=10,
                         headers={**auth, **TOKENS.headers(kiosk)},
                         json={"conversation_id": kiosk, "id_number": person["id_number"]})
    assert checked.status_code == 204, checked.text
    reply = first.json()
    for slot in ("full_name", "id_number", "phone"):
        assert reply["state"]["requested_slot"] == slot
        response = httpx.post(f"{stack.base_url}/kiosk/api/assisted-chat", timeout=30,
                              headers={**auth, **TOKENS.headers(kiosk)},
                              json={"conversation_id": kiosk, "text": person[slot], "channel": "kiosk"})
        reply = response.json()
    assert reply["state"]["requested_slot"] == "employer_or_school" and "接上" in text_of(reply)


def test_guessing_references_is_paused_after_five_misses_and_everyone_else_is_still_served(stack):
    guesser = new_id()
    stack.chat(guesser, "我的居住证办到哪一步了")
    # Well-formed references (right check digit) that belong to nobody, as a script would generate them.
    guesses = [applications.display_reference(applications.new_reference()) for _ in range(6)]
    answers = [text_of(stack.chat(guesser, f"{guess} 13800000000")) for guess in guesses]
    assert "没有查到" in answers[0]
    assert "停一下" in answers[4] and "停一下" in answers[5], answers
    assert "找工作人员" in answers[5] or "预约" in answers[5]
    bystander = new_id()
    assert stack.chat(bystander, "社保卡丢了怎么补办")["messages"], "the service keeps answering everyone else"
