"""Replicas sharing Redis: exactly one gateway polls Telegram, and another takes over when it stops or dies."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.services.leases import Lease
from bot.settings import load_settings
from tests.channels.conftest import SECRET, TOKEN

REDIS_URL = "redis://127.0.0.1:6379/0"
LEASE_SECONDS = 2.0


def _wait(condition, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the condition did not hold in time")


def test_the_lease_has_one_holder_and_passes_on_when_released_or_expired():
    name = f"test-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        first, second = Lease(REDIS_URL, name, LEASE_SECONDS), Lease(REDIS_URL, name, LEASE_SECONDS)
        try:
            assert await first.hold() and not await second.hold()
            assert await first.hold()  # renewed
            await first.release()
            assert await second.hold() and not await first.hold()
            # The holder dies (renews no more): the lease is free once it has run out, not before.
            await asyncio.sleep(LEASE_SECONDS / 2)
            assert not await first.hold()
            await asyncio.sleep(LEASE_SECONDS)
            assert await first.hold()
        finally:
            await first.release()
            await second.release()
            await first.close()
            await second.close()

    asyncio.run(scenario())


@pytest.fixture
def lease_name(monkeypatch: pytest.MonkeyPatch) -> str:
    # Each test's replicas share a lease of their own, so tests running side by side do not compete.
    name = f"telegram-poller-{uuid.uuid4().hex[:8]}"
    original = Lease.__init__

    def named(self, redis_url: str, _name: str, seconds: float = 15.0) -> None:
        original(self, redis_url, name, seconds)

    monkeypatch.setattr(Lease, "__init__", named)
    return name


def test_one_of_two_gateways_polls_and_the_other_takes_over_when_it_stops(bot_api, rasa, lease_name):
    settings = load_settings(telegram_bot_token=TOKEN, telegram_api_base_url=bot_api.root, telegram_mode="polling",
                             telegram_webhook_secret=SECRET, lock_store="redis", redis_url=REDIS_URL,
                             telegram_poll_lease_seconds=LEASE_SECONDS)
    apps = [create_app(settings, rasa_transport=rasa.transport()) for _ in range(2)]
    with ExitStack() as first_stack, ExitStack() as second_stack:
        first_stack.enter_context(TestClient(apps[0]))
        second_stack.enter_context(TestClient(apps[1]))
        channels = [app.state.telegram for app in apps]
        _wait(lambda: any(c.polling for c in channels))
        time.sleep(LEASE_SECONDS)  # several renewals: still exactly one poller
        assert [c.polling for c in channels].count(True) == 1
        holder = next(i for i, c in enumerate(channels) if c.polling)
        (first_stack if holder == 0 else second_stack).close()
        _wait(lambda: channels[1 - holder].polling, timeout=LEASE_SECONDS * 3)
