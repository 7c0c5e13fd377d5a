"""The real gateway with the real PTB application, talking to a local Bot API double and a fake Rasa."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.settings import load_settings
from tests.fakes.rasa import FakeRasa
from tests.fakes.telegram_bot_api import FakeBotApi

TOKEN = "123456:TEST-token"
SECRET = "webhook-secret-0123"
USER = 777001


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    """A Bot API double on a free local port."""
    api = FakeBotApi(TOKEN)
    api.start()
    yield api
    api.stop()


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def gateway(bot_api: FakeBotApi, rasa: FakeRasa) -> Callable[..., TestClient]:
    """Starts the gateway (lifespan included) with the Telegram channel on; `mode` picks polling or webhook."""

    @contextmanager
    def start(mode: str = "polling", speech: object | None = None) -> Iterator[TestClient]:
        # Pushed messages are looked for every second in production; tests need not wait that long.
        settings = load_settings(telegram_bot_token=TOKEN, telegram_api_base_url=bot_api.root,
                                 telegram_mode=mode, telegram_webhook_secret=SECRET, push_poll_seconds=0.1)
        app = create_app(settings, rasa_transport=rasa.transport())
        with TestClient(app) as client:
            app.state.speech = speech
            yield client

    return start
