"""The gateway app over an engine double: `rasa` (a module may override it with the engine it needs) and `client`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.settings import get_settings
from tests.fakes.rasa import FakeRasa


def gateway(rasa: FakeRasa) -> TestClient:
    """A freshly started gateway app talking to `rasa`: nothing of earlier turns in its memory."""
    return TestClient(create_app(get_settings(), rasa_transport=rasa.transport()))


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def client(rasa: FakeRasa) -> TestClient:
    return gateway(rasa)
