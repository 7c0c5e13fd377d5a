"""Identity by possession: one-time codes over SMPP, proofs, and what knowing someone's numbers no longer gives."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
import uuid

import pytest
from sqlalchemy import select, update

from bot.db.models import IdentityProof, OneTimeCode
from bot.db.session import unit_of_work
from bot.errors import ConfigurationError
from bot.notify.sms import NoSms, SmppSender, SmsUnavailable, sms_sender
from bot.services import audit, conversations, guessing, identity, people
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


# ---- the rules of codes and proofs, each at its edge ----------------------------------------------------------

class RecordingSms:
    """An SMS sender that keeps what it was asked to send (the SMPP path is tested above with the fake SMSC)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def code(self, index: int = -1) -> str:
        return re.search(r"\d{6}", self.sent[index][1]).group()


START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("number, mobile", [
    ("+86 138 1234 5678", "13812345678"), ("8613812345678", "13812345678"), ("138-1234-5678", "13812345678"),
    ("23812345678", None), ("1381234567", None), ("008613812345678", None), ("861381234567", None), ("", None),
    (None, None), ("+44 13812345678", None),
])
def test_a_channels_phone_number_is_read_as_a_mainland_mobile_or_not_at_all(number, mobile):
    assert identity.mainland_mobile(number) == mobile


@pytest.mark.parametrize("text, is_code", [
    ("123456", True), ("123 456", True), (" 12 34 56 ", True), ("12345", False), ("1234567", False),
    ("１２３４５６", False), ("12345a", False), ("", False),
])
def test_only_six_plain_digits_read_as_a_code(text, is_code):
    assert identity.looks_like_code(text) is is_code


def test_a_code_is_sent_six_digits_long_with_its_minutes_and_proves_the_phone_even_typed_with_spaces():
    conversation_id, sms = new_conversation(), RecordingSms()
    sent = identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    assert sent == identity.CodeSent("5678")
    [(phone, text)] = sms.sent
    assert phone == PHONE and f"{sms.code()}，5分钟内有效" in text
    code = sms.code()
    checked = identity.check_code(conversation_id, f"{code[:3]} {code[3:]}", now=START + dt.timedelta(minutes=1))
    assert checked.proven and checked.purpose == "status:x" and checked.phone_fingerprint == identity.fingerprint(PHONE)
    assert identity.holds_fingerprint(conversation_id, identity.fingerprint(PHONE))
    assert not identity.holds_fingerprint(conversation_id, identity.fingerprint("13800000000"))


def test_a_code_is_pending_until_the_moment_it_expires():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    assert identity.code_pending(conversation_id, START + dt.timedelta(minutes=4, seconds=59)) == "status:x"
    assert identity.code_pending(conversation_id, START + dt.timedelta(minutes=5)) is None
    assert identity.check_code(conversation_id, sms.code(), now=START + dt.timedelta(minutes=4, seconds=59)).proven


def test_a_code_with_no_tries_left_is_no_longer_pending_and_a_later_check_finds_nothing():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    wrong = f"{(int(sms.code()) + 1) % 10**6:06d}"
    for _ in range(4):
        assert identity.check_code(conversation_id, wrong, now=START).purpose == "status:x"
    assert identity.code_pending(conversation_id, START) == "status:x", "one try left"
    assert identity.check_code(conversation_id, wrong, now=START) == identity.CodeChecked(False, "status:x", 0,
                                                                                          paused=True)
    assert identity.code_pending(conversation_id, START) is None
    assert identity.check_code(conversation_id, sms.code(), now=START) == identity.CodeChecked(False, paused=True)


def test_the_fifth_wrong_code_pauses_the_conversation_and_is_audited_without_the_code():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    wrong = f"{(int(sms.code()) + 1) % 10**6:06d}"
    checks = [identity.check_code(conversation_id, wrong, now=START) for _ in range(5)]
    assert [c.tries_left for c in checks] == [4, 3, 2, 1, 0] and [c.paused for c in checks] == [False] * 4 + [True]
    assert checks[0] == identity.CodeChecked(False, "status:x", 4)
    with pytest.raises(identity.LookupsPaused):
        identity.send_code(conversation_id, PHONE, "status:x", sms, now=START + dt.timedelta(minutes=1))
    assert len(sms.sent) == 1
    details = [e.detail for e in audit.recent(subject=f"conversation:{conversation_id}")]
    assert "paused: too many failures" in details and "4 tries left" in details
    assert all(wrong not in d for d in details)


def test_a_code_is_resent_after_the_resend_interval_or_at_once_to_another_phone():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    assert identity.send_code(conversation_id, PHONE, "status:x", sms, now=START + dt.timedelta(seconds=59)).throttled
    assert not identity.send_code(conversation_id, "13800001111", "status:x", sms,
                                  now=START + dt.timedelta(seconds=59)).throttled
    assert not identity.send_code(conversation_id, PHONE, "status:x", sms,
                                  now=START + dt.timedelta(seconds=120)).throttled
    assert len(sms.sent) == 3
    assert identity.check_code(conversation_id, sms.code(), now=START + dt.timedelta(seconds=121)).proven


def test_a_proof_needs_a_known_method_and_a_number():
    conversation_id = new_conversation()
    with pytest.raises(ValueError, match="a proof needs a known method"):
        identity.record_proof(conversation_id, "guessed", phone=PHONE)
    with pytest.raises(ValueError, match="a proof needs a known method"):
        identity.record_proof(conversation_id, "caller_id")
    assert not identity.holds_phone(conversation_id, PHONE)


def test_a_staff_check_of_the_id_card_proves_the_person_and_names_the_staff_member():
    conversation_id, id_number = new_conversation(), "11010519491231002X"
    identity.record_proof(conversation_id, "staff_id_check", id_number=id_number, staff_username="kiosk-wang")
    assert identity.id_checked(conversation_id, id_number) and not identity.holds_phone(conversation_id, PHONE)
    assert identity.proven_for(conversation_id, id_number, None)
    assert not identity.proven_for(conversation_id, "110101199003074514", PHONE)
    entry = audit.recent(subject=f"conversation:{conversation_id}")[0]
    assert (entry.staff_username, entry.action, entry.detail) == ("kiosk-wang", "identity_proven", "staff_id_check")


def test_a_phone_proof_stands_for_the_person_whose_phone_is_on_file_and_no_one_else():
    conversation_id = new_conversation()
    identity.record_proof(conversation_id, "caller_id", phone=PHONE)
    assert identity.proven_for(conversation_id, "11010519491231002X", PHONE)
    assert not identity.proven_for(conversation_id, "11010519491231002X", "13800001111")
    assert not identity.proven_for(conversation_id, "11010519491231002X", None)
    entry = audit.recent(subject=f"conversation:{conversation_id}")[0]
    assert (entry.staff_username, entry.detail) == (identity.RESIDENT, "caller_id")


def test_a_forgotten_code_is_no_longer_pending():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    identity.forget_code(conversation_id)
    assert identity.code_pending(conversation_id, START) is None
    assert not identity.check_code(conversation_id, sms.code(), now=START).proven


def test_an_id_number_paused_from_other_conversations_gets_no_code_here():
    id_number, sms = "11010519491231002X", RecordingSms()
    fingerprint = identity.fingerprint(id_number)
    for _ in range(5):
        guessing.count_failure(guessing.keys(new_conversation(), fingerprint), START)
    with pytest.raises(identity.LookupsPaused):
        identity.send_code(new_conversation(), PHONE, "status:x", sms, now=START, id_number=id_number)
    assert identity.send_code(new_conversation(), PHONE, "status:x", sms, now=START).phone_tail == "5678"


def _proofs(conversation_id: str) -> list[tuple[str, str, str | None]]:
    with unit_of_work() as session:
        rows = session.scalars(select(IdentityProof).where(IdentityProof.conversation_id == conversation_id)
                               .order_by(IdentityProof.id)).all()
        return [(row.kind, row.method, row.proven_by) for row in rows]


def _code_rows(conversation_id: str) -> int:
    with unit_of_work() as session:
        return len(session.scalars(select(OneTimeCode).where(OneTimeCode.conversation_id == conversation_id)).all())


def wrong_code(sms: RecordingSms) -> str:
    return f"{(int(sms.code()) + 1) % 10**6:06d}"


def test_each_proof_keeps_how_it_was_made_and_which_staff_member_made_it():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.record_proof(conversation_id, "staff_id_check", id_number="11010519491231002X", staff_username="wang")
    identity.record_proof(conversation_id, "caller_id", phone=PHONE)
    identity.send_code(conversation_id, "13800001111", "status:x", sms, now=START)
    assert identity.check_code(conversation_id, sms.code(), now=START).proven
    assert _proofs(conversation_id) == [("id_number", "staff_id_check", "wang"), ("phone", "caller_id", None),
                                        ("phone", "sms_code", None)]


def test_the_phones_a_conversation_proved_are_listed_once_each_and_only_its_own():
    conversation_id = new_conversation()
    identity.record_proof(conversation_id, "caller_id", phone=PHONE)
    identity.record_proof(conversation_id, "telegram_contact", phone=PHONE)
    identity.record_proof(conversation_id, "caller_id", phone="13800001111")
    identity.record_proof(conversation_id, "staff_id_check", id_number="11010519491231002X", staff_username="wang")
    identity.record_proof(new_conversation(), "caller_id", phone="13900002222")
    assert sorted(identity.proven_phone_fingerprints(conversation_id)) == sorted(
        [identity.fingerprint(PHONE), identity.fingerprint("13800001111")])
    assert identity.proven_phone_fingerprints(new_conversation()) == []


def test_a_phone_fingerprint_is_held_only_by_the_conversation_that_proved_it_and_only_as_a_phone():
    mine, other = new_conversation(), new_conversation()
    identity.record_proof(mine, "caller_id", phone=PHONE)
    identity.record_proof(mine, "staff_id_check", id_number="11010519491231002X", staff_username="wang")
    assert identity.holds_fingerprint(mine, identity.fingerprint(PHONE))
    assert not identity.holds_fingerprint(other, identity.fingerprint(PHONE))
    assert not identity.holds_fingerprint(mine, identity.fingerprint("11010519491231002X")), "an ID card is no phone"


def test_a_code_used_up_leaves_nothing_behind_and_other_conversations_codes_stay():
    mine, theirs, sms = new_conversation(), new_conversation(), RecordingSms()
    identity.send_code(theirs, "13800001111", "status:y", sms, now=START)
    their_code = sms.code()
    identity.send_code(mine, PHONE, "status:x", sms, now=START)
    for _ in range(5):
        identity.check_code(mine, wrong_code(sms), now=START)
    assert _code_rows(mine) == 0 and _code_rows(theirs) == 1
    assert identity.check_code(theirs, their_code, now=START).proven


def test_a_code_whose_tries_are_taken_is_refused_even_before_it_is_deleted():
    # Between another guess taking the last try and deleting the code, the row is still there with none left.
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    with unit_of_work() as session:
        session.execute(update(OneTimeCode).where(OneTimeCode.conversation_id == conversation_id).values(tries_left=0))
    assert identity.code_pending(conversation_id, START) is None
    assert identity.check_code(conversation_id, sms.code(), now=START) == identity.CodeChecked(False)
    assert not identity.holds_phone(conversation_id, PHONE)


def test_a_code_is_refused_at_the_moment_it_expires():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    assert identity.check_code(conversation_id, sms.code(), now=START + dt.timedelta(minutes=5)) == \
        identity.CodeChecked(False)


def test_wrong_codes_pause_the_id_number_they_were_sent_for_in_every_conversation_for_fifteen_minutes():
    id_number, sms = "440305198506151233", RecordingSms()  # one no other test pauses
    conversation_id = new_conversation()
    identity.send_code(conversation_id, PHONE, "resume:x", sms, now=START, id_number=id_number)
    for _ in range(5):
        identity.check_code(conversation_id, wrong_code(sms), now=START)
    with pytest.raises(identity.LookupsPaused):
        identity.send_code(new_conversation(), PHONE, "resume:x", sms, now=START + dt.timedelta(minutes=14),
                           id_number=id_number)
    later = START + dt.timedelta(minutes=16)
    assert not identity.send_code(new_conversation(), PHONE, "resume:x", sms, now=later, id_number=id_number).throttled


def test_a_check_while_paused_is_refused_and_audited():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    for _ in range(5):
        identity.check_code(conversation_id, wrong_code(sms), now=START)
    before = len(audit.recent(subject=f"conversation:{conversation_id}"))
    assert identity.check_code(conversation_id, sms.code(), now=START) == identity.CodeChecked(False, paused=True)
    entries = audit.recent(subject=f"conversation:{conversation_id}")
    assert len(entries) == before + 1
    assert (entries[0].action, entries[0].detail) == ("identity_code_refused", "paused: too many failures")


def test_a_code_is_resent_to_the_same_phone_exactly_when_the_resend_interval_has_passed():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    assert identity.send_code(conversation_id, PHONE, "status:x", sms, now=START + dt.timedelta(seconds=59)) == \
        identity.CodeSent("5678", throttled=True)
    assert identity.send_code(conversation_id, PHONE, "status:x", sms, now=START + dt.timedelta(seconds=60)) == \
        identity.CodeSent("5678")
    assert len(sms.sent) == 2


def test_codes_are_drawn_from_every_six_digit_number():
    sms = RecordingSms()
    for _ in range(20):
        identity.send_code(new_conversation(), PHONE, "status:x", sms, now=START)
    assert max(int(sms.code(n)) for n in range(20)) >= 1000, "twenty codes all under 1000 would be a tiny space"


def test_a_paused_conversation_is_told_so_and_the_refusal_is_audited():
    conversation_id, sms = new_conversation(), RecordingSms()
    for _ in range(guessing.MAX_FAILURES):
        guessing.count_failure(guessing.keys(conversation_id), START)
    with pytest.raises(identity.LookupsPaused, match="^too many failed codes or lookups; try again later$"):
        identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    entry = audit.recent(subject=f"conversation:{conversation_id}")[0]
    assert (entry.staff_username, entry.action, entry.detail) == (
        identity.RESIDENT, "identity_code_refused", "paused: too many failures")
    assert sms.sent == []


def test_a_right_code_is_audited_as_the_resident_proving_by_sms():
    conversation_id, sms = new_conversation(), RecordingSms()
    identity.send_code(conversation_id, PHONE, "status:x", sms, now=START)
    assert identity.check_code(conversation_id, sms.code(), now=START).proven
    entry = audit.recent(subject=f"conversation:{conversation_id}")[0]
    assert (entry.staff_username, entry.action, entry.detail) == (identity.RESIDENT, "identity_proven", "sms_code")


def test_a_phone_proof_and_an_id_card_check_stand_apart():
    conversation_id, id_number = new_conversation(), "11010519491231002X"
    identity.record_proof(conversation_id, "staff_id_check", id_number=id_number, staff_username="wang")
    identity.record_proof(conversation_id, "caller_id", phone=PHONE)
    assert not identity.holds_phone(conversation_id, id_number) and not identity.id_checked(conversation_id, PHONE)


def test_times_read_back_with_their_zone_are_kept_and_naive_ones_read_as_utc():
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert identity._aware(dt.datetime(2026, 12, 1, 17, 0, tzinfo=beijing)) == START
    assert identity._aware(dt.datetime(2026, 12, 1, 9, 0)) == START


def test_a_conversation_is_linked_to_the_person_on_file_only_after_proving_their_phone():
    id_number, conversation_id = "440305198506151233", new_conversation()
    people.remember(new_conversation(), {"id_number": id_number, "phone": PHONE, "full_name": "欧阳明月"})
    assert identity.link_person(conversation_id, id_number) is None, "knowing the numbers proves nothing"
    identity.record_proof(conversation_id, "caller_id", phone="13800001111")
    assert identity.link_person(conversation_id, id_number) is None, "not the phone on file"
    identity.record_proof(conversation_id, "caller_id", phone=PHONE)
    linked = identity.link_person(conversation_id, id_number)
    assert linked is not None and linked.full_name == "欧阳明月" and linked.phone == PHONE
    assert people.known_for(conversation_id) == linked
    assert identity.link_person(new_conversation(), "110101199003074514") is None, "nobody on file"
