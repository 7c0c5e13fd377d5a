"""The phone channel inside the real gateway: SIP_LISTEN starts the endpoint, each call runs the flow."""

from __future__ import annotations

import sys
import time
import types

import pytest
from fastapi.testclient import TestClient

import channels.phone
from bot.gateway.app import create_app
from bot.settings import load_settings
from tests.fakes.phone_call import FakePhoneCall, loudness_dbfs
from tests.fakes.rasa import FakeRasa

LISTEN = "127.0.0.1:25100"


class FakeSipEndpoint:
    """Stands in for channels.phone.sip.SipEndpoint: records its life and hands calls to on_call."""

    instances: list[FakeSipEndpoint] = []

    def __init__(self, host: str, port: int, on_call, **options) -> None:
        self.host, self.port, self.on_call = host, port, on_call
        self.started = self.stopped = False
        FakeSipEndpoint.instances.append(self)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def fake_sip(monkeypatch: pytest.MonkeyPatch):
    """A `channels.phone.sip` module holding the fake endpoint, whether or not the real one exists."""
    module = types.ModuleType("channels.phone.sip")
    module.SipEndpoint = FakeSipEndpoint
    monkeypatch.setitem(sys.modules, "channels.phone.sip", module)
    monkeypatch.setattr(channels.phone, "sip", module, raising=False)
    FakeSipEndpoint.instances.clear()
    return FakeSipEndpoint


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sip_listen_starts_the_line_and_a_call_reaches_the_dialogue(fake_sip, tmp_path):
    rasa = FakeRasa(replies=[{"recipient_id": "x", "text": "社保卡补办要带身份证。"}])
    settings = load_settings(sip_listen=LISTEN, speech_cache_dir=tmp_path / "speech")
    app = create_app(settings, rasa_transport=rasa.transport())
    call = FakePhoneCall(call_id="gw-1", speed=20.0)
    with TestClient(app) as client:
        endpoint = fake_sip.instances[0]
        assert endpoint.started and (endpoint.host, endpoint.port) == ("127.0.0.1", 25100)
        # The endpoint runs on_call in the gateway's event loop for each connected call.
        future = client.portal.start_task_soon(endpoint.on_call, call)
        wait_for(lambda: call.played)
        client.portal.call(call.press, "1")
        wait_for(lambda: rasa.messages_sent())
        client.portal.call(call.hang_up_caller)
        future.result(timeout=10)
    assert endpoint.stopped
    assert loudness_dbfs(call.played[0].pcm16) > -35
    sent = rasa.messages_sent()[0]
    assert sent["sender"] == "phone:gw-1" and sent["message"] == "社保卡怎么办理"


def test_without_sip_listen_the_phone_line_stays_off(fake_sip, tmp_path):
    app = create_app(load_settings(speech_cache_dir=tmp_path / "speech"), rasa_transport=FakeRasa().transport())
    with TestClient(app):
        assert app.state.phone is None
    assert fake_sip.instances == []


def test_stopping_the_gateway_hangs_up_calls_in_progress(fake_sip, tmp_path):
    settings = load_settings(sip_listen=LISTEN, speech_cache_dir=tmp_path / "speech")
    app = create_app(settings, rasa_transport=FakeRasa().transport())
    call = FakePhoneCall(call_id="gw-2", speed=1.0)
    with TestClient(app) as client:
        client.portal.start_task_soon(fake_sip.instances[0].on_call, call)
        wait_for(lambda: call.played)
        assert app.state.phone.calls
    assert call.hung_up_by_assistant and not call.active
    assert not app.state.phone.calls


@pytest.mark.parametrize("vad", ["energy", "webrtc"])
def test_phone_vad_chooses_the_detector_every_call_listens_with(vad, prompts):
    from bot.conversation import ConversationService
    from bot.engine.client import RasaClient
    from channels.phone.channel import PhoneChannel

    settings = load_settings(phone_vad=vad)
    channel = PhoneChannel(settings, ConversationService(RasaClient(settings, transport=FakeRasa().transport())), None)
    channel.prompts = prompts  # rendered once for the session (conftest)
    flow = channel.flow_for(FakePhoneCall())
    assert flow.pipeline.endpoint.detector == vad
