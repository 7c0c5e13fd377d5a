"""Quotas: past its quota a conversation, an address or a phone number is refused politely, and others are not."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from bot import ratelimit
from bot.gateway.app import create_app
from bot.ratelimit import AsyncLimiter, Limiter, RateLimited
from bot.services import appointments, callbacks, handoff
from bot.settings import load_settings
from tests.chat_tokens import TOKENS
from tests.fakes.rasa import FakeRasa


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch):
    """Quotas of 2 per minute (3 per day for bookings and call-backs) for the domain services of this test."""

    def settings(**quotas: str):
        chosen = load_settings(**{f"rate_limit_{k}": v for k, v in quotas.items()})
        limiter = Limiter(chosen)
        monkeypatch.setattr(ratelimit, "get_limiter", lambda: limiter)
        for module in (appointments, callbacks, handoff):
            monkeypatch.setattr(module, "get_limiter", lambda: limiter)
        return chosen

    return settings


def test_a_quota_lets_its_uses_through_then_says_when_to_come_back():
    limiter = Limiter(load_settings(rate_limit_bookings_per_phone="3/minute"))
    key = uuid.uuid4().hex
    for _ in range(3):
        limiter.hit("bookings_per_phone", key)
    with pytest.raises(RateLimited) as refused:
        limiter.hit("bookings_per_phone", key)
    assert refused.value.status == 429 and 1 <= refused.value.retry_after <= 60
    assert "太频繁" in refused.value.message and "热线" in refused.value.message
    limiter.hit("bookings_per_phone", uuid.uuid4().hex)  # someone else is not affected


def test_every_window_of_a_quota_counts():
    limiter = Limiter(load_settings(rate_limit_callbacks_per_phone="5/minute;2/hour"))
    key = uuid.uuid4().hex
    limiter.hit("callbacks_per_phone", key)
    limiter.hit("callbacks_per_phone", key)
    with pytest.raises(RateLimited) as refused:
        limiter.hit("callbacks_per_phone", key)
    assert refused.value.retry_after > 60  # the hourly window decides, not the minute's


def test_counts_are_shared_through_redis_between_processes():
    settings = load_settings(rate_limit_storage="redis", rate_limit_chat_per_conversation="2/minute")
    key = uuid.uuid4().hex
    first, second = AsyncLimiter(settings), AsyncLimiter(settings)  # two gateways

    async def run() -> None:
        await first.hit("chat_per_conversation", key)
        await second.hit("chat_per_conversation", key)
        with pytest.raises(RateLimited):
            await first.hit("chat_per_conversation", key)

    try:
        asyncio.run(run())
    except ConnectionError as err:  # pragma: no cover - CI and developers run Redis on 6379
        pytest.skip(f"no Redis: {err}")


def _redis_or_skip() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as err:  # pragma: no cover - CI and developers run Redis on 6379
        pytest.skip(f"no Redis: {err}")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_each_quota_and_each_key_is_counted_apart(storage):
    if storage == "redis":
        _redis_or_skip()
    limiter = Limiter(load_settings(rate_limit_storage=storage, rate_limit_bookings_per_phone="2/minute",
                                    rate_limit_callbacks_per_phone="2/minute"))
    key = uuid.uuid4().hex
    limiter.hit("bookings_per_phone", key)
    limiter.hit("bookings_per_phone", key)
    limiter.hit("callbacks_per_phone", key)  # another quota of the same phone
    limiter.hit("bookings_per_phone", uuid.uuid4().hex)  # another phone
    with pytest.raises(RateLimited) as refused:
        limiter.hit("bookings_per_phone", key)
    assert refused.value.quota == "bookings_per_phone" and 1 <= refused.value.retry_after <= 60


def test_the_gateway_counts_each_quota_of_a_key_apart_in_memory():
    limiter = AsyncLimiter(load_settings(rate_limit_chat_per_conversation="1/minute",
                                         rate_limit_chat_per_client="1/minute"))

    async def run() -> RateLimited:
        await limiter.hit("chat_per_conversation", "k")
        await limiter.hit("chat_per_client", "k")  # another quota of the same key
        with pytest.raises(RateLimited) as refused:
            await limiter.hit("chat_per_conversation", "k")
        return refused.value

    assert asyncio.run(run()).quota == "chat_per_conversation"


def test_the_action_servers_share_their_counts_through_redis_and_every_window_counts():
    _redis_or_skip()
    settings = load_settings(rate_limit_storage="redis", rate_limit_callbacks_per_phone="5/minute;2/hour")
    key = uuid.uuid4().hex
    first, second = Limiter(settings), Limiter(settings)  # two action servers
    first.hit("callbacks_per_phone", key)
    second.hit("callbacks_per_phone", key)
    with pytest.raises(RateLimited) as refused:
        first.hit("callbacks_per_phone", key)
    assert refused.value.quota == "callbacks_per_phone" and 60 < refused.value.retry_after <= 3600


def test_the_gateways_count_each_quota_key_and_window_apart_in_redis():
    _redis_or_skip()
    settings = load_settings(rate_limit_storage="redis", rate_limit_chat_per_conversation="5/minute;2/hour",
                             rate_limit_chat_per_client="5/minute;2/hour")
    key = uuid.uuid4().hex
    first, second = AsyncLimiter(settings), AsyncLimiter(settings)

    async def run() -> RateLimited:
        await first.hit("chat_per_conversation", key)
        await second.hit("chat_per_conversation", key)
        await first.hit("chat_per_client", key)  # another quota of the same key
        await first.hit("chat_per_conversation", uuid.uuid4().hex)  # another conversation
        with pytest.raises(RateLimited) as refused:
            await second.hit("chat_per_conversation", key)
        return refused.value

    refused = asyncio.run(run())
    assert refused.quota == "chat_per_conversation" and 60 < refused.retry_after <= 3600, "the hour decides"


@pytest.mark.parametrize("seconds, wait", [
    (0, "1秒"), (59, "59秒"), (60, "1分钟"), (61, "2分钟"), (3599, "60分钟"), (3600, "1小时"), (3601, "2小时"),
])
def test_the_refusal_says_how_long_to_wait_in_the_largest_unit_rounded_up(seconds, wait):
    refused = RateLimited("chat_per_client", seconds)
    assert refused.message == ratelimit.POLITE_MESSAGE.format(wait=wait)
    assert (refused.quota, refused.retry_after) == ("chat_per_client", seconds)


def test_a_wait_of_a_second_or_less_is_given_as_one_second(monkeypatch):
    monkeypatch.setattr(ratelimit.time, "time", lambda: 1000.0)  # both uses in the same instant
    limiter = Limiter(load_settings(rate_limit_bookings_per_phone="1/second"))
    limiter.hit("bookings_per_phone", "k")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("bookings_per_phone", "k")
    assert refused.value.retry_after == 1


@pytest.mark.parametrize("asynchronous", [False, True])
def test_while_redis_does_not_answer_uses_pass_uncounted_and_the_log_says_which_quota(caplog, asynchronous):
    settings = load_settings(rate_limit_storage="redis", redis_url=f"redis://127.0.0.1:{_closed_port()}/0",
                             rate_limit_bookings_per_phone="1/minute")
    caplog.set_level(logging.WARNING, logger="bot.ratelimit")
    for _ in range(3):
        if asynchronous:
            asyncio.run(AsyncLimiter(settings).hit("bookings_per_phone", "k"))
        else:
            Limiter(settings).hit("bookings_per_phone", "k")
    assert [r.getMessage() for r in caplog.records] == [
        "quota bookings_per_phone not counted: its store does not answer (ConnectionError)"] * 3


def test_the_wait_is_rounded_up_to_whole_seconds_and_is_at_least_one():
    assert ratelimit._retry_after(time.time() - 5) == 1
    assert ratelimit._retry_after(time.time() + 30.5) == 31


def test_a_quota_setting_that_is_not_a_quota_stops_the_start():
    with pytest.raises(Exception, match="RATE_LIMIT_CHAT_PER_CLIENT.*30/minute"):
        load_settings(rate_limit_chat_per_client="many")


def chat(client: TestClient, conversation_id: str, text: str):
    """One web chat turn with the conversation's token, as the widget sends it."""
    response = client.post("/api/chat", json={"conversation_id": conversation_id, "text": text},
                           headers=TOKENS.headers(conversation_id))
    if response.status_code == 200:
        TOKENS.remember(response.json())
    return response


def _client(**quotas: str) -> TestClient:
    settings = load_settings(**{f"rate_limit_{k}": v for k, v in quotas.items()})
    return TestClient(create_app(settings, rasa_transport=FakeRasa().transport()))


def test_a_conversation_that_sends_too_fast_gets_a_polite_429_and_others_go_on():
    client = _client(chat_per_conversation="3/minute")
    flooding, other = f"flood-{uuid.uuid4().hex[:8]}", f"calm-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        assert chat(client, flooding, "你好").status_code == 200
    refused = chat(client, flooding, "你好")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited" and "请休息一下" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert chat(client, other, "你好").status_code == 200


def test_one_address_cannot_open_conversations_without_end():
    client = _client(new_conversations_per_client="3/minute")
    started = [f"new-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    answers = [chat(client, c, "你好").status_code for c in started]
    assert answers == [200, 200, 200, 429]
    # The conversations it already has go on.
    assert chat(client, started[0], "社保卡").status_code == 200


def test_one_address_cannot_flood_the_chat_across_conversations():
    client = _client(chat_per_client="4/minute")
    answers = [chat(client, f"m-{i}-{uuid.uuid4().hex[:6]}", "你好")
               .status_code for i in range(5)]
    assert answers == [200, 200, 200, 200, 429]


def test_the_speech_endpoints_have_a_quota_per_address():
    client = _client(speech_per_client="2/minute")
    answers = [client.post("/api/speech/synthesize", json={"text": "你好"}).status_code for _ in range(3)]
    assert answers[:2] != [429, 429] and answers[2] == 429


def test_one_phone_number_cannot_take_every_seat(strict):
    strict(bookings_per_phone="2/day")
    start = dt.datetime(2031, 3, 4, 9, 0)
    phone = "139" + str(uuid.uuid4().int)[:8]
    for i in range(2):
        appointments.book(f"seat-{i}", "web", "social_security_card", "east_centre", start, "王芳", phone,
                          now=dt.datetime(2031, 3, 1, 10, 0))
    with pytest.raises(RateLimited):
        appointments.book("seat-3", "web", "social_security_card", "east_centre", start, "王芳", phone,
                          now=dt.datetime(2031, 3, 1, 10, 0))
    # Another resident still books the same slot.
    appointments.book("seat-4", "web", "social_security_card", "east_centre", start, "李强", "13700001111",
                      now=dt.datetime(2031, 3, 1, 10, 0))


def test_one_conversation_cannot_book_without_end(strict):
    strict(bookings_per_conversation="1/day")
    start = dt.datetime(2031, 3, 5, 9, 0)
    appointments.book("one-conv", "web", "social_security_card", "east_centre", start, "王芳", "13800001234",
                      now=dt.datetime(2031, 3, 1, 10, 0))
    with pytest.raises(RateLimited):
        appointments.book("one-conv", "web", "social_security_card", "east_centre", start, "王芳", "13800005678",
                          now=dt.datetime(2031, 3, 1, 10, 0))


def test_call_backs_are_limited_per_number_and_per_conversation(strict):
    strict(callbacks_per_phone="1/day", callbacks_per_conversation="2/day")
    phone = "137" + str(uuid.uuid4().int)[:8]
    callbacks.request_callback("cb-1", "phone", phone, "morning")
    with pytest.raises(RateLimited):
        callbacks.request_callback("cb-2", "phone", phone, "morning")  # same number, another conversation
    callbacks.request_callback("cb-3", "web", "13600000001", "any")
    callbacks.request_callback("cb-3", "web", "13600000002", "any")
    with pytest.raises(RateLimited):
        callbacks.request_callback("cb-3", "web", "13600000003", "any")


def test_a_conversation_cannot_fill_the_staff_queue_again_and_again(strict):
    strict(handoffs_per_conversation="2/day")
    conversation = f"queue-{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        place = handoff.request(conversation, "web", None, "requested")
        assert handoff.request(conversation, "web", None, "requested").handoff_id == place.handoff_id  # reused
        handoff.withdraw(conversation, "left")
    with pytest.raises(RateLimited):
        handoff.request(conversation, "web", None, "requested")


def test_a_booking_over_its_quota_is_refused_in_words_and_nothing_is_booked(strict):
    from bot.actions import appointments as booking
    from tests.bot.test_appointments_dialogue import run, said, tracker

    strict(bookings_per_phone="1/day")
    start = appointments.free_slots("east_centre", limit=1)[0].start
    slots = {"service": "senior_card", "appointment_slot": appointments.slot_key("east_centre", start),
             "appointment_name": "刘桂兰", "appointment_phone": "15907669999"}
    first, _, _ = run(booking.ActionBookAppointment(), tracker("/affirm", slots=slots))
    assert appointments.find(first["appointment_reference"]).status == "booked"
    second, messages, _ = run(booking.ActionBookAppointment(), tracker("/affirm", slots=slots))
    assert "太频繁" in said(messages) and not second.get("appointment_reference")


def test_a_call_back_over_its_quota_is_refused_in_words(strict):
    from bot.actions import handoff as handoff_actions
    from tests.bot.test_appointments_dialogue import run, said, tracker

    strict(callbacks_per_phone="1/day")
    state = {"callback_phone": "13912340000", "callback_window": "afternoon"}
    _, messages, _ = run(handoff_actions.ActionRequestCallback(), tracker("/inform", slots=state))
    assert "下午" in said(messages)
    slots, messages, _ = run(handoff_actions.ActionRequestCallback(), tracker("/inform", slots=state))
    assert "太频繁" in said(messages) and slots["callback_phone"] is None


def test_memory_windows_let_uses_age_out_and_forget_idle_keys():
    windows = ratelimit.MemoryWindows()
    assert windows.hit("k", 2, 60, now=1000.0) is None
    assert windows.hit("k", 2, 60, now=1010.0) is None
    assert windows.hit("k", 2, 60, now=1020.0) == pytest.approx(40.0)  # the first use ages out at 1060
    assert windows.hit("k", 2, 60, now=1060.5) is None
    for n in range(windows.SWEEP_EVERY):
        windows.hit(f"other-{n}", 5, 1, now=2000.0)
    windows.hit("late", 5, 1, now=3000.0)  # a sweep runs on a later use
    for _ in range(windows.SWEEP_EVERY):
        windows.hit("late", 10**6, 1, now=3000.0)
    assert "other-0" not in windows._uses and "k" not in windows._uses


def test_a_use_exactly_a_window_old_no_longer_counts():
    windows = ratelimit.MemoryWindows()
    assert windows.hit("k", 1, 60, now=1000.0) is None
    assert windows.hit("k", 1, 60, now=1059.5) == pytest.approx(0.5)
    assert windows.hit("k", 1, 60, now=1060.0) is None


def test_idle_keys_are_swept_on_every_sweep_every_th_use_and_not_before():
    windows = ratelimit.MemoryWindows()
    windows.SWEEP_EVERY = 4
    windows.hit("idle", 5, 1, now=0.0)
    for use in range(2, 5):
        assert "idle" in windows._uses, f"no sweep before use {use}"
        windows.hit("busy", 10, 60, now=100.0)
    assert "idle" not in windows._uses and "busy" in windows._uses


def test_a_sweep_keeps_every_key_still_inside_its_window_with_its_count():
    windows = ratelimit.MemoryWindows()
    assert windows.hit("busy", 1, 60, now=1000.0) is None
    assert windows.hit("ended", 1, 10, now=1000.0) is None
    windows._sweep(1010.0)  # "ended" was last used a whole window ago
    assert set(windows._uses) == {"busy"}
    assert windows.hit("busy", 1, 60, now=1010.0) == pytest.approx(50.0), "its use still counts"
