"""Text messages to residents who came by phone or kiosk, through the real SMPP client against the SMSC double:
reminders once, status changes, staff replies not read in time, the opt-out word, and an SMSC that is down;
and residents on web chat who asked for them with "短信提醒我"."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, update

from bot.actions.applications import ActionSubmitApplication
from bot.actions.forms import FORMS
from bot.actions.forms.base import CONFIRM
from bot.actions.sms import ActionSmsOptIn, offer_sms
from bot.db.models import Appointment, SmsNotice, SmsOptOut
from bot.db.session import unit_of_work
from bot.gateway.app import create_app
from bot.notify.sms import SmppReceiver, SmppSender
from bot.notify.sms_outbox import SmsOutbox
from bot.privacy import personal_numbers
from bot.services import (appointments, applications, audit, conversations, handoff, identity, reminders, sms_notices,
                          staff)
from bot.services.vault import Vault
from bot.settings import get_settings
from tests.chat_tokens import open_web_conversation
from tests.fakes.rasa import FakeRasa
from tests.fakes.smsc import PASSWORD, SYSTEM_ID, FakeSmsc

DETAILS = {"full_name": "张建国", "id_number": "110101199003071233", "phone": "13812345678",
           "address": "东城区幸福路12号3单元502", "arrival_date": "2023-05-01", "employer_or_school": "示例市宏达建筑公司"}


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc() as fake:
        yield fake


def outbox(smsc: FakeSmsc, owner: str = "supervisor-a") -> SmsOutbox:
    return SmsOutbox(SmppSender("127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, "1069"), owner=owner)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Lets a test change a setting; the settings are read again afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def new_conversation(channel: str) -> str:
    conversation_id = f"{channel}-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, channel, "zh-CN")
    return conversation_id


def mobile() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


def notices(conversation_id: str) -> list[SmsNotice]:
    with unit_of_work() as session:
        rows = session.scalars(select(SmsNotice).where(SmsNotice.conversation_id == conversation_id)
                               .order_by(SmsNotice.id)).all()
        session.expunge_all()
        return list(rows)


def book(channel: str, start: dt.datetime, phone: str) -> tuple[str, appointments.AppointmentView]:
    conversation_id = new_conversation(channel)
    booked_on = start - dt.timedelta(days=4)
    view = appointments.book(conversation_id, channel, "social_security_card", "east_centre", start, "张建国", phone,
                             now=booked_on)
    with unit_of_work() as session:
        session.execute(update(Appointment).where(Appointment.reference == view.reference)
                        .values(created_at=appointments.to_utc(booked_on)))
    return conversation_id, view


def test_a_kiosk_booking_is_reminded_by_sms_the_day_before_once_even_after_a_restart(smsc):
    phone = mobile()
    start = dt.datetime(2030, 4, 9, 9, 0)  # a Tuesday
    kiosk, booked = book("kiosk", start, phone)
    _, on_the_web = book("web", start.replace(hour=10), mobile())

    assert booked.reference not in reminders.send_due(now=start - dt.timedelta(hours=30))
    assert set(reminders.send_due(now=start - dt.timedelta(hours=20))) == {booked.reference, on_the_web.reference}
    assert outbox(smsc).send_round() == 1
    sms = smsc.wait_for(1)[0]
    assert sms.destination == "86" + phone
    assert booked.reference in sms.text and "明天" in sms.text and "TD" in sms.text
    assert personal_numbers(sms.text) == []

    # A supervisor started again, and the hourly job run again the same afternoon: nothing goes out twice.
    restarted = outbox(smsc, owner="supervisor-b")
    assert reminders.send_due(now=start - dt.timedelta(hours=19)) == []
    assert restarted.send_round() == 0
    assert len(smsc.messages) == 1
    assert [(n.kind, n.status, n.attempts) for n in notices(kiosk)] == [("reminder", "sent", 1)]


def test_a_notice_a_dead_supervisor_held_goes_out_once_its_lease_runs_out(smsc):
    conversation_id = new_conversation("kiosk")
    assert sms_notices.file(conversation_id, "status", f"status:test-{conversation_id}", "【便民助手】测试",
                            phone=mobile())
    assert [n.id for n in sms_notices.claim_due("dead-supervisor")]  # it died before sending
    assert outbox(smsc).send_round() == 0
    with unit_of_work() as session:
        session.execute(update(SmsNotice).where(SmsNotice.conversation_id == conversation_id)
                        .values(lease_until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    assert outbox(smsc).send_round() == 1
    assert outbox(smsc).send_round() == 0
    assert len(smsc.messages) == 1


def test_a_status_change_reaches_a_phone_applicant_by_sms_without_the_staff_note(smsc):
    caller = f"phone:{uuid.uuid4().hex[:10]}"
    conversations.ensure(caller, "phone", "zh-CN")
    phone = mobile()
    reference = applications.submit(caller, "phone", "residence_permit", {**DETAILS, "phone": phone})
    applications.change_status(reference, "more_materials_needed", "请补交租房合同，联系13812345678", "li")

    outbox(smsc).send_round()
    sms = smsc.wait_for_to("86" + phone)
    assert applications.display_reference(reference) in sms.text
    assert applications.status_text("more_materials_needed") in sms.text
    assert "租房合同" not in sms.text and "13812345678" not in sms.text
    assert len(sms.text) <= 70  # one UCS-2 part


def test_a_web_conversation_gets_no_sms_it_reads_its_messages_on_the_page(smsc):
    conversation_id = new_conversation("web")
    reference = applications.submit(conversation_id, "web", "residence_permit", {**DETAILS, "phone": mobile()})
    applications.change_status(reference, "under_review", None, "li")
    assert notices(conversation_id) == []


def serving(conversation_id: str, channel: str = "kiosk") -> tuple[int, staff.StaffIdentity]:
    username = f"s{uuid.uuid4().hex[:8]}"
    staff.create_or_update(username, "password-123", "staff")
    member = staff.identity_for_token(staff.login(username, "password-123"))
    handoff_id = handoff.request(conversation_id, channel, None, "requested").handoff_id
    handoff.accept(handoff_id, member.username)
    return handoff_id, member


def test_a_staff_reply_goes_by_sms_only_to_a_resident_who_did_not_read_it_in_time(smsc, settings_env):
    setting(settings_env, "SMS_STAFF_REPLY_GRACE_SECONDS", "0")
    client = TestClient(create_app(get_settings(), rasa_transport=FakeRasa().transport()))
    left, stayed = f"k-{uuid.uuid4().hex[:10]}", f"k-{uuid.uuid4().hex[:10]}"
    stayed_headers = open_web_conversation(stayed, channel="kiosk")
    open_web_conversation(left, channel="kiosk")
    left_phone, stayed_phone = mobile(), mobile()
    Vault.of(left).hold("phone", left_phone)
    Vault.of(stayed).hold("phone", stayed_phone)
    for conversation_id in (left, stayed):
        handoff_id, member = serving(conversation_id)
        handoff.send_staff_message(handoff_id, member, "您的材料齐了，身份证110101199003071233请带原件。")
        handoff.send_staff_message(handoff_id, member, "还有别的问题吗？")

    # The resident still at the kiosk sees the replies on the page; the one who left does not.
    assert len(client.get(f"/api/chat/{stayed}/messages", headers=stayed_headers).json()["messages"]) >= 2
    assert outbox(smsc).send_round() == 1
    sms = smsc.wait_for_to("86" + left_phone)
    assert "工作人员回复您" in sms.text and "材料齐了" in sms.text
    assert "110101199003071233" not in sms.text and personal_numbers(sms.text) == []
    assert [n.status for n in notices(left)] == ["sent"]  # one text for both replies
    assert [n.status for n in notices(stayed)] == ["not_needed"]
    assert all(m.destination != "86" + stayed_phone for m in smsc.messages)

    # What a staff member answered someone else is for supervisors only, as the conversation is.
    def listed(role: str) -> dict:
        username = f"s{uuid.uuid4().hex[:8]}"
        staff.create_or_update(username, "password-123", role)
        token = client.post("/api/staff/login", json={"username": username, "password": "password-123"}).json()
        rows = client.get("/api/staff/sms?status=sent", headers={"Authorization": f"Bearer {token['token']}"}).json()
        assert all(left not in str(n) and stayed not in str(n) for n in rows)  # ids open conversations
        return next(n for n in rows if n["conversation"] == audit.conversation_label(left))

    assert listed("staff")["text"] is None and "材料齐了" in listed("supervisor")["text"]


def test_the_opt_out_word_is_recorded_confirmed_once_and_stops_every_notice(smsc, caplog):
    phone = mobile()
    caller = f"phone:{uuid.uuid4().hex[:10]}"
    conversations.ensure(caller, "phone", "zh-CN")
    reference = applications.submit(caller, "phone", "senior_card", {**DETAILS, "phone": phone})
    applications.change_status(reference, "under_review", None, "li")  # waiting when the reply comes

    worker = outbox(smsc)
    receiver = SmppReceiver("127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD)
    stopping = threading.Event()
    listening = threading.Thread(target=worker.listen, args=(receiver, stopping), daemon=True)
    listening.start()
    try:
        with caplog.at_level(logging.DEBUG):
            smsc.reply(phone, "我不想退订")  # a sentence is not the word
            smsc.reply(phone, " td ")
            smsc.reply(phone, "退订")  # again: confirmed only once
    finally:
        stopping.set()
        listening.join(10)
    with unit_of_work() as session:
        recorded = session.scalars(select(SmsOptOut)).all()
        assert [row.word for row in recorded] == ["TD"]
    confirmations = smsc.wait_for(1)
    assert [m.destination for m in confirmations] == ["86" + phone] and "退订" in confirmations[0].text

    applications.change_status(reference, "approved", None, "li")
    assert worker.send_round() == 0
    assert len(smsc.messages) == 1
    assert [n.status for n in notices(caller)] == ["opted_out", "opted_out"]
    assert phone not in caplog.text


def test_an_smsc_that_is_down_is_retried_with_back_off_and_staff_see_the_attempts(settings_env):
    setting(settings_env, "SMS_MAX_ATTEMPTS", "3")
    with FakeSmsc() as gone:
        port = gone.port  # nobody listens there any more
    down = SmsOutbox(SmppSender("127.0.0.1", port, SYSTEM_ID, PASSWORD, "1069"), owner="supervisor-a")
    conversation_id, phone = new_conversation("kiosk"), mobile()
    Vault.of(conversation_id).hold("phone", phone)
    assert sms_notices.file(conversation_id, "status", f"status:down-{conversation_id}", "【便民助手】测试", phone=phone)

    def tried(times: int) -> SmsNotice:
        (notice,) = notices(conversation_id)
        assert notice.attempts == times
        return notice

    started = dt.datetime.now(dt.UTC)
    assert down.send_round() == 0
    first = tried(1)
    assert first.status == "waiting" and "did not take the message" in (first.last_error or "")
    assert started + dt.timedelta(seconds=25) < first.next_attempt_at.replace(tzinfo=dt.UTC)
    assert down.send_round() == 0 and tried(1)  # not before its time

    def due_now() -> None:
        with unit_of_work() as session:
            session.execute(update(SmsNotice).where(SmsNotice.conversation_id == conversation_id)
                            .values(next_attempt_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))

    due_now()
    down.send_round()
    assert sms_notices.backoff(2) == 2 * sms_notices.backoff(1)
    with FakeSmsc(refuse=True) as refusing:  # up again, but refusing what it is given
        due_now()
        assert SmsOutbox(SmppSender("127.0.0.1", refusing.port, SYSTEM_ID, PASSWORD, "1069")).send_round() == 0
    assert tried(3).status == "failed"

    client = TestClient(create_app(get_settings(), rasa_transport=FakeRasa().transport()))
    username = f"s{uuid.uuid4().hex[:8]}"
    staff.create_or_update(username, "password-123", "staff")
    token = client.post("/api/staff/login", json={"username": username, "password": "password-123"}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/staff/sms").status_code == 401
    listed = {n["id"]: n for n in client.get("/api/staff/sms", headers=headers).json()}
    shown = listed[tried(3).id]
    assert shown["status"] == "failed" and shown["attempts"] == 3 and shown["last_error"]
    assert phone not in str(listed) and shown["phone"].endswith(phone[-4:])

    assert client.post(f"/api/staff/sms/{shown['id']}/retry", headers=headers).status_code == 204
    assert client.post(f"/api/staff/sms/{shown['id']}/retry", headers=headers).status_code == 409
    again = {n["id"]: n for n in client.get("/api/staff/sms", headers=headers).json()}[shown["id"]]
    assert again["status"] == "waiting" and again["attempts"] == 0 and again["last_error"] is None
    with FakeSmsc() as back:
        assert SmsOutbox(SmppSender("127.0.0.1", back.port, SYSTEM_ID, PASSWORD, "1069")).send_round() == 1
        assert back.wait_for(1)[0].destination == "86" + phone
    assert tried(1).status == "sent"


@pytest.mark.parametrize("text, word", [("TD", "TD"), ("td", "TD"), (" 退订。", "退订"), ("T", "T"),
                                        ("我要退订吗", None), ("TDX", None), ("", None)])
def test_only_the_opt_out_word_itself_opts_out(text, word):
    assert sms_notices.opt_out_word(text) == word


def test_phone_numbers_never_reach_the_log(smsc, caplog):
    phone = mobile()
    conversation_id = new_conversation("kiosk")
    with caplog.at_level(logging.DEBUG):
        sms_notices.file(conversation_id, "status", f"status:log-{conversation_id}", "【便民助手】测试", phone=phone)
        outbox(smsc).send_round()
        smsc.wait_for(1)
    assert phone not in caplog.text and phone.encode().hex() not in caplog.text  # smpplib dumps PDUs in hex


# ---- asking for texts on a channel that pushes ---------------------------------------------------------

def offered(conversation_id: str) -> list[dict]:
    dispatcher = CollectingDispatcher()
    offer_sms(dispatcher, conversation_id)
    return dispatcher.messages


def ask_for_texts(conversation_id: str, said: str = "/sms_opt_in", code: str | None = None) -> str:
    """Runs the opt-in action as the rule does after "短信提醒我" (or after a code the gateway took from the
    message); returns what the resident reads."""
    metadata = {"channel": "web", **({sms_notices.CODE_METADATA: code} if code else {})}
    message = {"text": said, "intent": {"name": "sms_opt_in", "confidence": 1.0}, "entities": [],
               "metadata": metadata}
    state = Tracker(conversation_id, {}, message, [{"event": "user", "text": said, "parse_data": message}],
                    False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    assert asyncio.run(ActionSmsOptIn().run(dispatcher, state, {})) == []
    return "\n".join(m["text"] for m in dispatcher.messages)


def holds(conversation_id: str, phone: str) -> None:
    """The conversation proved it holds the phone (a code typed back earlier, or a Telegram contact)."""
    identity.record_proof(conversation_id, "sms_code", phone=phone)


def test_a_web_resident_who_asks_for_texts_gets_reminders_status_changes_and_staff_replies(smsc, settings_env):
    setting(settings_env, "SMS_STAFF_REPLY_GRACE_SECONDS", "0")
    phone, start = mobile(), dt.datetime(2030, 4, 16, 9, 0)  # a Tuesday
    asked, booked = book("web", start, phone)
    silent, _ = book("web", start.replace(hour=10), mobile())
    holds(asked, phone)

    (offer,) = offered(asked)
    assert offer["buttons"] == [{"title": "短信提醒我", "payload": "/sms_opt_in"}]
    assert phone[-4:] in offer["text"] and phone not in offer["text"]
    reply = ask_for_texts(asked)
    assert "TD" in reply and "退订" in reply and phone[-4:] in reply and phone not in reply
    assert offered(asked) == [] and "已经开通" in ask_for_texts(asked, "给我发短信提醒")

    worker = outbox(smsc)
    worker.send_round()
    confirmation = smsc.wait_for_to("86" + phone)
    assert "开通" in confirmation.text and "TD" in confirmation.text

    reminders.send_due(now=start - dt.timedelta(hours=20))
    reference = applications.submit(asked, "web", "residence_permit", {**DETAILS, "phone": phone})
    applications.change_status(reference, "under_review", None, "li")
    handoff_id, member = serving(asked, "web")
    handoff.send_staff_message(handoff_id, member, "材料收到了。")
    worker.send_round()
    assert [(n.kind, n.status) for n in notices(asked)] == [
        ("opt_in", "sent"), ("reminder", "sent"), ("status", "sent"), ("staff_reply", "sent")]
    texted = [m.text for m in smsc.messages if m.destination == "86" + phone]
    assert booked.reference in texted[1] and applications.display_reference(reference) in texted[2]
    assert "材料收到了" in texted[3]
    assert notices(silent) == []  # the resident who did not ask gets no text


def test_a_number_that_opted_out_stays_out_though_the_conversation_asked_for_texts(smsc):
    phone = mobile()
    conversation_id = new_conversation("web")
    reference = applications.submit(conversation_id, "web", "senior_card", {**DETAILS, "phone": phone})
    holds(conversation_id, phone)
    assert ask_for_texts(conversation_id) and sms_notices.opt_out(phone, "TD")

    applications.change_status(reference, "under_review", None, "li")
    assert [(n.kind, n.status) for n in notices(conversation_id)] == [("opt_in", "opted_out"),
                                                                      ("status", "opted_out")]
    outbox(smsc).send_round()
    assert all(m.destination != "86" + phone for m in smsc.messages)
    assert offered(conversation_id) == [] and "回复过退订" in ask_for_texts(conversation_id)


def test_texts_need_a_number_and_a_caller_needs_not_ask():
    nothing_left = new_conversation("web")
    assert offered(nothing_left) == []
    assert "手机号" in ask_for_texts(nothing_left) and notices(nothing_left) == []
    caller = f"phone:{uuid.uuid4().hex[:10]}"
    conversations.ensure(caller, "phone", "zh-CN")
    Vault.of(caller).hold("phone", mobile())
    assert offered(caller) == [] and "不用另外开通" in ask_for_texts(caller) and notices(caller) == []


def test_a_submitted_application_with_a_mobile_number_ends_with_the_offer():
    conversation_id = new_conversation("web")
    phone = mobile()
    answers = {field: {**DETAILS, "phone": phone}.get(field) for field in FORMS["residence_permit"].fields}
    message = {"text": "/affirm", "intent": {"name": "affirm", "confidence": 1.0}, "entities": [],
               "metadata": {"channel": "web"}}
    state = Tracker(conversation_id, {**answers, "service": "residence_permit", CONFIRM: True}, message,
                    [{"event": "active_loop", "name": "residence_permit"},
                     {"event": "user", "text": "/affirm", "parse_data": message}], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionSubmitApplication().run(dispatcher, state, {}))
    assert "已提交" in dispatcher.messages[0]["text"]
    assert dispatcher.messages[-1]["buttons"] == [{"title": "短信提醒我", "payload": "/sms_opt_in"}]
    assert phone[-4:] in dispatcher.messages[-1]["text"]


def test_a_staff_reply_delivered_in_the_app_is_not_texted_as_well(smsc):
    from bot.services import delivery

    phone, start = mobile(), dt.datetime(2030, 4, 16, 9, 0)
    asked, _ = book("telegram", start, phone)
    holds(asked, phone)
    ask_for_texts(asked)
    handoff_id, member = serving(asked, "telegram")
    handoff.send_staff_message(handoff_id, member, "材料收到了。")
    pushed = conversations.messages_after(asked, None)[-1]
    assert "材料收到了" in pushed.text and delivery.claim(asked, "gateway-a") == 0
    delivery.mark_delivered(asked, "gateway-a", pushed.id)  # Telegram accepted it: the resident has it
    assert [(n.kind, n.status) for n in notices(asked)] == [("opt_in", "waiting"), ("staff_reply", "not_needed")]


# ---- the number is the resident's own before anything is texted to it ------------------------------------

@pytest.fixture
def codes(smsc: FakeSmsc, monkeypatch: pytest.MonkeyPatch) -> FakeSmsc:
    """One-time codes go through the SMSC double too."""
    sender = SmppSender("127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, "1069")
    monkeypatch.setattr(identity, "_default_sender", lambda: sender)
    return smsc


def code_sent_to(smsc: FakeSmsc, phone: str) -> str:
    """The one-time code of the first text to the number."""
    found = re.search(r"\d{6}", smsc.wait_for_to("86" + phone).text)
    assert found is not None
    return found.group()


def test_texts_start_only_once_the_code_sent_to_the_number_is_typed_back(codes):
    phone, start = mobile(), dt.datetime(2030, 4, 23, 9, 0)  # a Tuesday
    asked, _ = book("web", start, phone)

    reply = ask_for_texts(asked)
    assert "验证码" in reply and phone[-4:] in reply and phone not in reply
    assert notices(asked) == [] and sms_notices.offer_to(asked) is not None  # nothing texted but the code
    code = code_sent_to(codes, phone)

    wrong = "000000" if code != "000000" else "111111"
    assert "验证码不对" in ask_for_texts(asked, code=wrong) and notices(asked) == []
    reply = ask_for_texts(asked, code=code)
    assert "已确认" in reply and "已开通短信提醒" in reply and phone[-4:] in reply
    assert [(n.kind, n.status) for n in notices(asked)] == [("opt_in", "waiting")]
    assert "已经开通" in ask_for_texts(asked) and len([m for m in codes.messages if m.destination == "86" + phone]) == 1


def test_someone_elses_number_typed_into_a_booking_gets_a_code_and_nothing_more(codes):
    stranger, start = mobile(), dt.datetime(2030, 4, 23, 10, 0)
    prankster, _ = book("web", start, stranger)
    assert "验证码" in ask_for_texts(prankster)

    # Whoever holds the phone never typed the code: no opt-in, no reminder, no status change.
    reminders.send_due(now=start - dt.timedelta(hours=20))
    reference = applications.submit(prankster, "web", "senior_card", {**DETAILS, "phone": stranger})
    applications.change_status(reference, "under_review", None, "li")
    assert notices(prankster) == []
    assert len([m for m in codes.messages if m.destination == "86" + stranger]) == 1  # the code alone


def test_texts_go_to_the_confirmed_number_not_to_one_a_later_form_was_given(codes):
    own, other, start = mobile(), mobile(), dt.datetime(2030, 4, 23, 11, 0)
    asked, _ = book("web", start, own)
    holds(asked, own)
    assert "已开通短信提醒" in ask_for_texts(asked)

    reference = applications.submit(asked, "web", "senior_card", {**DETAILS, "phone": other})
    applications.change_status(reference, "under_review", None, "li")
    outbox(codes).send_round()
    assert [(n.kind, n.status) for n in notices(asked)] == [("opt_in", "sent"), ("status", "sent")]
    assert "有新进展" in codes.wait_for_to("86" + own).text
    assert all(m.destination != "86" + other for m in codes.messages)


def test_without_sms_the_resident_is_told_texts_cannot_start_now():
    phone = mobile()
    asked, _ = book("web", dt.datetime(2030, 4, 23, 14, 0), phone)
    assert "发不了验证码" in ask_for_texts(asked) and notices(asked) == []
