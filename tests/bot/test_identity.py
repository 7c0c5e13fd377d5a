"""Identity by possession: one-time codes over SMPP, proofs, and what knowing someone's numbers no longer gives."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
import uuid

import pytest

from bot.errors import ConfigurationError
from bot.notify.sms import NoSms, SmppSender, SmsUnavailable, sms_sender
from bot.services import audit, conversations, identity
from bot.settings import load_settings
from tests.fakes.smsc import PASSWORD, SYSTEM_ID, FakeSmsc

pytestmark = pytest.mark.timeout(60)
PHONE = "13912345678"


@pytest.fixture
def smsc():
    with FakeSmsc() as running:
        yield running


@pytest.fixture
def sender(smsc: FakeSmsc) -> SmppSender:
    return SmppSender("127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, "10690000")


def new_conversation() -> str:
    conversation_id = f"id-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    return conversation_id


def code_in(smsc: FakeSmsc, index: int = 0) -> str:
    return re.search(r"\d{6}", smsc.wait_for(index + 1)[index].text).group()


def test_a_code_reaches_the_phone_through_the_smsc_and_proves_the_conversation_holds_it(smsc, sender):
    conversation_id = new_conversation()
    sent = identity.send_code(conversation_id, PHONE, "resume:residence_permit", sender)
    assert sent.phone_tail == "5678" and not sent.throttled
    message = smsc.wait_for(1)[0]
    assert message.destination == "86" + PHONE and "验证码" in message.text
    assert identity.code_pending(conversation_id) == "resume:residence_permit"
    assert not identity.holds_phone(conversation_id, PHONE)
    checked = identity.check_code(conversation_id, code_in(smsc))
    assert checked.proven and checked.purpose == "resume:residence_permit"
    assert identity.holds_phone(conversation_id, PHONE)
    assert identity.code_pending(conversation_id) is None, "a code works once"


def test_five_tries_then_even_the_right_code_is_refused(smsc, sender):
    conversation_id = new_conversation()
    identity.send_code(conversation_id, PHONE, "status:x", sender)
    code = code_in(smsc)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    left = [identity.check_code(conversation_id, wrong).tries_left for _ in range(5)]
    assert left == [4, 3, 2, 1, 0]
    assert not identity.check_code(conversation_id, code).proven
    assert not identity.holds_phone(conversation_id, PHONE)
    refusals = [e for e in audit.recent(subject=f"conversation:{conversation_id}") if e.action == "identity_code_refused"]
    assert len(refusals) == 6 and all(wrong not in e.detail and code not in e.detail for e in refusals)


def test_parallel_guesses_share_the_five_tries(smsc, sender):
    conversation_id = new_conversation()
    identity.send_code(conversation_id, PHONE, "status:x", sender)
    code = code_in(smsc)
    results: list[identity.CodeChecked] = []
    guesses = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 21)]
    threads = [threading.Thread(target=lambda g=g: results.append(identity.check_code(conversation_id, g)))
               for g in guesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counted = [r for r in results if r.purpose is not None]
    assert len(counted) == 5 and not any(r.proven for r in results)


def test_a_code_expires_after_five_minutes(smsc, sender):
    conversation_id = new_conversation()
    start = dt.datetime.now(dt.timezone.utc)
    identity.send_code(conversation_id, PHONE, "status:x", sender, now=start)
    code = code_in(smsc)
    assert not identity.check_code(conversation_id, code, now=start + dt.timedelta(minutes=5, seconds=1)).proven


def test_a_code_is_good_only_in_the_conversation_it_was_sent_for(smsc, sender):
    mine, theirs = new_conversation(), new_conversation()
    identity.send_code(mine, PHONE, "status:x", sender)
    identity.send_code(theirs, "13800001111", "status:y", sender)
    assert not identity.check_code(theirs, code_in(smsc, 0)).proven


def test_resending_is_throttled(smsc, sender):
    conversation_id = new_conversation()
    identity.send_code(conversation_id, PHONE, "status:x", sender)
    again = identity.send_code(conversation_id, PHONE, "status:x", sender)
    assert again.throttled
    smsc.wait_for(1)
    with pytest.raises(AssertionError):
        smsc.wait_for(2, timeout=1)


def test_the_code_is_stored_only_as_a_keyed_hash(smsc, sender, database):
    conversation_id = new_conversation()
    identity.send_code(conversation_id, PHONE, "status:x", sender)
    code = code_in(smsc)
    with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
        row = connection.execute("SELECT * FROM one_time_codes WHERE conversation_id = ?", (conversation_id,)).fetchone()
        dump = "\n".join(connection.iterdump())
    assert row is not None and not any(code in str(value) for value in row)
    assert PHONE not in dump


def test_an_smsc_that_refuses_or_a_wrong_account_is_reported_not_swallowed():
    with FakeSmsc(refuse=True) as refusing:
        with pytest.raises(SmsUnavailable):
            SmppSender("127.0.0.1", refusing.port, SYSTEM_ID, PASSWORD, "1069").send(PHONE, "x")
    with FakeSmsc() as running:
        with pytest.raises(SmsUnavailable):
            SmppSender("127.0.0.1", running.port, SYSTEM_ID, "wrong", "1069").send(PHONE, "x")
        assert running.messages == []
    with pytest.raises(SmsUnavailable):
        NoSms().send(PHONE, "x")


def test_an_smpp_provider_without_its_account_fails_at_start_up_saying_what_to_set():
    with pytest.raises(ConfigurationError, match="SMPP_HOST.*SMPP_SYSTEM_ID.*SMPP_PASSWORD"):
        load_settings(sms_provider="smpp", smpp_host="smsc.example.cn")
    configured = load_settings(sms_provider="smpp", smpp_host="127.0.0.1", smpp_system_id=SYSTEM_ID,
                               smpp_password=PASSWORD)
    assert isinstance(sms_sender(configured), SmppSender)
    assert isinstance(sms_sender(load_settings(sms_provider="none")), NoSms)
