"""A kiosk resident who walked away, through the real stack: a staff reply reaches them by SMS from the
supervisor's worker, TD from their phone opts them out, and staff see the next reply held back. And a web
chat resident who says "短信通知我" after booking confirms the number with a code, then gets the confirming
text and the reminder by SMS; a number nobody confirmed gets the code alone."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from bot.services import appointments, audit
from bot.settings import REPO_ROOT
from tests.chat_tokens import TOKENS
from tests.stack.test_handoff_flow import Desk

pytestmark = pytest.mark.stack


def kiosk_turn(stack, conversation_id: str, text: str) -> dict:
    response = httpx.post(f"{stack.base_url}/api/chat", json={"conversation_id": conversation_id, "text": text,
                                                               "channel": "kiosk"},
                          headers=TOKENS.headers(conversation_id), timeout=30)
    assert response.status_code == 200, response.text
    return TOKENS.remember(response.json())


def notices_of(desk: Desk, conversation_id: str, status: str, timeout: float = 30) -> list[dict]:
    """The conversation's notices in `status`, once there is one (the event a test waits on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        label = audit.conversation_label(conversation_id)  # staff see the audit label, never the id
        found = [n for n in desk.get("/sms", status=status).json() if n["conversation"] == label]
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"no {status} SMS notice for {conversation_id}")


def test_a_kiosk_resident_who_left_gets_the_staff_reply_by_sms_and_td_stops_the_next(stack, smsc):
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    person = f"kiosk-{uuid.uuid4().hex[:10]}"
    desk = Desk(stack)
    kiosk_turn(stack, person, f"我的手机号是{phone}")
    assert kiosk_turn(stack, person, "我要找工作人员")["state"]["handoff"] == "waiting"
    queued = desk.waiting_for(person)
    assert queued["channel"] == "kiosk"
    assert desk.post(f"/handoffs/{queued['id']}/accept").status_code == 200

    # The resident has left the kiosk: nobody reads the page, so the supervisor texts the reply.
    assert desk.post(f"/handoffs/{queued['id']}/messages", {"text": "您好，居住证材料已经齐了。"}).status_code == 200
    (sms,) = texts_to(smsc, phone, 1)
    assert "工作人员回复您" in sms and "材料已经齐了" in sms and phone not in sms
    assert notices_of(desk, person, "sent")[0]["phone"].endswith(phone[-4:])

    smsc.reply(phone, "TD")
    assert "已为您退订" in texts_to(smsc, phone, 2)[1]
    assert desk.post(f"/handoffs/{queued['id']}/messages", {"text": "还有问题可以再来。"}).status_code == 200
    held = notices_of(desk, person, "opted_out")
    assert len(held) == 1 and held[0]["attempts"] == 0 and held[0]["text"] is None  # a reply: supervisors only
    assert len(texts_to(smsc, phone, 2)) == 2


def texts_to(smsc, phone: str, count: int, timeout: float = 30) -> list[str]:
    """The texts the SMSC took for one number, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m.text for m in smsc.messages if m.destination == "86" + phone]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{count} texts expected for the number")


def book_with_phone(stack, conversation_id: str, phone: str) -> tuple[str, dt.datetime]:
    """Books a visit for a lost social security card, leaving `phone`; the reference and the slot's start.

    The confirmation offers texts with the button "短信提醒我".
    """
    stack.chat(conversation_id, "社保卡丢了怎么补")
    reply = stack.chat(conversation_id, "/book_appointment")
    district = next(b for m in reply["messages"] for b in m["buttons"] if "东城区" in b["title"])
    reply = stack.chat(conversation_id, district["payload"])
    chosen = next(b for m in reply["messages"] for b in m["buttons"])
    _, start = appointments.parse_slot_key(chosen["payload"].split('"appointment_slot": "')[1].rstrip('"}'))
    stack.chat(conversation_id, chosen["payload"])
    stack.chat(conversation_id, "张建国")
    reply = stack.chat(conversation_id, phone)
    code = reply["state"]["appointment_reference"]
    offers = [b for m in reply["messages"] for b in m["buttons"] if b["payload"] == "/sms_opt_in"]
    assert code and [b["title"] for b in offers] == ["短信提醒我"]
    return code, start


def said(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def confirm_number(stack, smsc, conversation_id: str, phone: str, asked: str) -> str:
    """Asks for texts in words; a code goes to the number first, and typing it back opts in. The answer to it."""
    answer = said(stack.chat(conversation_id, asked))
    assert "验证码" in answer and phone[-4:] in answer and phone not in answer and "已开通" not in answer
    code = re.search(r"\d{6}", texts_to(smsc, phone, 1)[0]).group()
    return said(stack.chat(conversation_id, code))


def filed_for(stack, conversation_id: str) -> list[dict]:
    """The conversation's notices staff see (one is filed in the very turn that opts in)."""
    label = audit.conversation_label(conversation_id)
    return [n for status in ("waiting", "sent") for n in Desk(stack).get("/sms", status=status).json()
            if n["conversation"] == label]


def test_a_web_resident_who_asks_for_texts_after_booking_gets_the_reminder_by_sms(stack, smsc, conversation_id):
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    code, start = book_with_phone(stack, conversation_id, phone)

    # Said in words rather than pressed; the number is confirmed by a code before anything else is texted to it.
    answer = confirm_number(stack, smsc, conversation_id, phone, "到时候短信提醒我一下")
    assert "TD" in answer and phone[-4:] in answer and phone not in answer
    assert "开通" in texts_to(smsc, phone, 2)[1]

    subprocess.run([sys.executable, "-m", "bot.cli", "reminders", "--now", (start - dt.timedelta(hours=1)).isoformat()],
                   cwd=REPO_ROOT, env=stack.env, check=True, capture_output=True)
    reminder = texts_to(smsc, phone, 3)[2]
    assert code in reminder and "TD" in reminder and phone not in reminder


def test_asking_to_be_texted_when_there_is_news_opts_the_resident_in(stack, smsc, conversation_id):
    # A request put as a condition ("有消息的话…"), not the button's words.
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    book_with_phone(stack, conversation_id, phone)
    answer = confirm_number(stack, smsc, conversation_id, phone, "有消息的话短信通知我吧")
    assert "已开通短信提醒" in answer and phone[-4:] in answer and phone not in answer
    assert "开通" in texts_to(smsc, phone, 2)[1]


def test_a_request_written_without_punctuation_and_with_a_slip_opts_in_and_a_question_about_a_text_does_not(
        stack, smsc, conversation_id):
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    book_with_phone(stack, conversation_id, phone)
    assert "验证码" not in said(stack.chat(conversation_id, "短信里说的材料是什么"))
    assert filed_for(stack, conversation_id) == []
    answer = confirm_number(stack, smsc, conversation_id, phone, "我不会上网 办好了短息告诉我一声")
    assert "已开通短信提醒" in answer and phone[-4:] in answer


def test_a_number_typed_into_a_booking_gets_nothing_but_the_code_until_the_code_comes_back(stack, smsc,
                                                                                         conversation_id):
    stranger = f"139{uuid.uuid4().int % 10**8:08d}"
    book_with_phone(stack, conversation_id, stranger)
    assert "验证码" in said(stack.chat(conversation_id, "短信提醒我"))
    code = re.search(r"\d{6}", texts_to(smsc, stranger, 1)[0]).group()
    assert "验证码不对" in said(stack.chat(conversation_id, "000000" if code != "000000" else "111111"))
    assert filed_for(stack, conversation_id) == []
    assert len(texts_to(smsc, stranger, 1)) == 1  # the code, and nothing more
