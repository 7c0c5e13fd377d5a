"""Limits on guessing: five failures per conversation or per ID number, then a pause of fifteen minutes."""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid

import pytest
from sqlalchemy import select, text

from bot.db.models import GuessCounter
from bot.db.session import get_engine, unit_of_work
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


def test_the_pause_ends_at_its_fifteenth_minute_exactly():
    key, now = new_key(), dt.datetime.now(dt.timezone.utc)
    for _ in range(5):
        guessing.count_failure(key, now)
    assert guessing.paused(key, now + guessing.PAUSE - dt.timedelta(microseconds=1))
    assert not guessing.paused(key, now + guessing.PAUSE)


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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_kind(request) -> str:
    """The counters are one upsert per failure, written differently for each database: both are tried."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres")
    return request.param


def failures_at(key: list[str], start: dt.datetime, minutes: list[float], **kwargs) -> list[bool]:
    """Counts a failure at each of these minutes after `start`; for each, whether it started a pause."""
    return [guessing.count_failure(key, start + dt.timedelta(minutes=m), **kwargs) for m in minutes]


# A fixed time a day ago, whole seconds: each failure is counted at the time it is given, not when the test runs.
A_DAY_AGO = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).replace(microsecond=0)


def test_the_window_is_fifteen_minutes_from_the_first_failure_and_a_late_failure_starts_a_new_one(database_kind):
    key = new_key()
    assert failures_at(key, A_DAY_AGO, [0, 20, 21, 22, 23]) == [False] * 5, "20 minutes on, the count was 1 again"
    assert failures_at(key, A_DAY_AGO, [24]) == [True]
    exactly = new_key()
    assert failures_at(exactly, A_DAY_AGO, [0, 1, 2, 3, 15]) == [False] * 4 + [True], "15 minutes is still within"


def test_after_a_pause_the_count_starts_again_from_the_pause(database_kind):
    key = new_key()
    assert failures_at(key, A_DAY_AGO, [0, 1, 2, 3, 4]) == [False] * 4 + [True]
    # Sixteen minutes after the first failure but twelve after the pause: the window began at the pause.
    assert failures_at(key, A_DAY_AGO, [5, 6, 7, 16, 17]) == [False] * 4 + [True]
    assert guessing.paused(key, A_DAY_AGO + dt.timedelta(minutes=31))
    assert not guessing.paused(key, A_DAY_AGO + dt.timedelta(minutes=32, seconds=1))


def test_a_counter_with_its_own_limit_pauses_at_that_limit_and_no_other_counter_with_it():
    conversation_id = f"g-{uuid.uuid4().hex[:10]}"
    strict, lenient = guessing.keys(conversation_id), [f"login:{uuid.uuid4().hex[:10]}"]
    limits = {strict[0]: 3, lenient[0]: 10}
    assert failures_at(lenient, A_DAY_AGO, [0, 1, 2, 3, 4, 5], limits=limits) == [False] * 6
    assert failures_at(strict, A_DAY_AGO, [6, 7, 8], limits=limits) == [False, False, True]
    assert not guessing.paused(lenient, A_DAY_AGO + dt.timedelta(minutes=9)), "another counter's limit is its own"
    assert guessing.paused(strict, A_DAY_AGO + dt.timedelta(minutes=9))


def test_forgetting_a_prefix_clears_only_the_counters_under_it():
    # `_` would match any one character in a LIKE pattern; the prefix is taken literally.
    user = f"login:{uuid.uuid4().hex[:8]}_a@"
    cleared, kept, look_alike = [f"{user}10.0.0.1"], [f"login:{uuid.uuid4().hex[:8]}@x"], [user.replace("_", "x") + "y"]
    for key in (cleared, kept, look_alike):
        failures_at(key, A_DAY_AGO, [0, 1, 2, 3, 4])
    guessing.forget_prefix(user)
    during = A_DAY_AGO + dt.timedelta(minutes=10)
    assert not guessing.paused(cleared, during)
    assert guessing.paused(kept, during) and guessing.paused(look_alike, during)


def test_a_pause_ends_on_time_on_a_postgresql_server_that_keeps_china_time(postgres):
    # A server set up in China reports times in +08:00; read as UTC they would end the pause eight hours late.
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'ALTER DATABASE "{get_engine().url.database}" SET timezone TO \'Asia/Shanghai\''))
    get_engine().dispose()
    key = new_key()
    assert failures_at(key, A_DAY_AGO, [0, 1, 2, 3, 4]) == [False] * 4 + [True]
    assert guessing.paused(key, A_DAY_AGO + dt.timedelta(minutes=18))
    assert not guessing.paused(key, A_DAY_AGO + dt.timedelta(minutes=19, seconds=1))
