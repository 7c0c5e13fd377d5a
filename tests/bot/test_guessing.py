"""Limits on guessing: five failures per conversation or per ID number, then a pause of fifteen minutes."""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid

import pytest
from sqlalchemy import select

from bot.db.models import GuessCounter
from bot.db.session import unit_of_work
from bot.notify.sms import SmppSender
from bot.services import conversations, guessing, identity
from tests.fakes.smsc import PASSWORD, SYSTEM_ID, FakeSmsc

pytestmark = pytest.mark.timeout(60)


def new_key() -> list[str]:
    return guessing.keys(f"g-{uuid.uuid4().hex[:10]}")


def test_five_failures_pause_the_conversation_for_fifteen_minutes_and_no_one_else():
    mine, other = new_key(), new_key()
    now = dt.datetime.now(dt.timezone.utc)
    assert [guessing.count_failure(mine, now) for _ in range(5)] == [False] * 4 + [True]
    assert guessing.paused(mine, now + dt.timedelta(minutes=14))
    assert not guessing.paused(other, now)
    assert not guessing.paused(mine, now + dt.timedelta(minutes=15, seconds=1))


def test_failures_spread_over_more_than_fifteen_minutes_do_not_add_up():
    key = new_key()
    start = dt.datetime.now(dt.timezone.utc)
    for minute in (0, 4, 8, 12):
        guessing.count_failure(key, start + dt.timedelta(minutes=minute))
    assert not guessing.count_failure(key, start + dt.timedelta(minutes=20)), "the window started again"
    assert not guessing.paused(key, start + dt.timedelta(minutes=20))


def test_parallel_failures_are_all_counted():
    key = new_key()
    threads = [threading.Thread(target=guessing.count_failure, args=(key,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with unit_of_work() as session:
        assert session.scalar(select(GuessCounter.failures).where(GuessCounter.key == key[0])) == 4
    assert guessing.count_failure(key) is True


def test_an_id_number_guessed_from_many_conversations_is_paused_everywhere():
    fingerprint = identity.fingerprint(f"id-{uuid.uuid4().hex}")
    for _ in range(5):
        guessing.count_failure(guessing.keys(f"g-{uuid.uuid4().hex[:10]}", fingerprint))
    assert guessing.paused(guessing.keys(f"g-{uuid.uuid4().hex[:10]}", fingerprint))


def test_a_paused_conversation_gets_no_code_and_even_the_right_code_is_refused():
    conversation_id = f"g-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    with FakeSmsc() as smsc:
        sender = SmppSender("127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, "1069")
        identity.send_code(conversation_id, "13912340001", "status:x", sender)
        code = re.search(r"\d{6}", smsc.wait_for(1)[0].text).group()
        for _ in range(5):
            guessing.count_failure(guessing.keys(conversation_id))
        checked = identity.check_code(conversation_id, code)
        assert checked.paused and not checked.proven
        with pytest.raises(identity.LookupsPaused):
            identity.send_code(f"{conversation_id}", "13912340002", "status:y", sender)
        assert len(smsc.messages) == 1
