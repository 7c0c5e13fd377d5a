"""Call-flow tests: the fake phone call, real espeak-ng synthesis, real vosk (the Korean test model as zh-CN)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from bot.conversation import ConversationService
from bot.engine.client import RasaClient
from bot.settings import load_settings
from channels.phone.flow import CallFlow
from channels.phone.prompts import PhonePrompts
from speech.endpointing import EndpointConfig
from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer
from speech.service import SpeechService
from tests.fakes.phone_call import FakePhoneCall
from tests.fakes.rasa import FakeRasa
from tests.speech.conftest import KO, ko_model_path, silence

# The fake line runs this many times faster than real time: a 10 s prompt plays in 0.5 s.
SPEED = 20.0
# Waits for a quiet caller, shortened so that a silent turn does not take 8 s of line time.
QUICK_ENDPOINT = EndpointConfig(no_speech_timeout_ms=4000)


@pytest.fixture(scope="session")
def synthesizer(tmp_path_factory: pytest.TempPathFactory):
    """Real espeak-ng: the Mandarin voice for prompts, a Korean one to make the caller's speech."""
    synth = Pyttsx3Synthesizer(tmp_path_factory.mktemp("phone-tts"), voices={**DEFAULT_VOICES, KO: "ko"})
    yield synth
    synth.close()


@pytest.fixture(scope="session")
def speech(synthesizer) -> SpeechService:
    """Recognition with the Korean test model standing in for the Chinese one (zh-CN), real synthesis."""
    from speech.vosk_asr import VoskRecogniser

    recogniser = VoskRecogniser({"zh-CN": ko_model_path()})
    yield SpeechService(recogniser, synthesizer)
    recogniser.close()


@pytest.fixture(scope="session")
def prompts(speech: SpeechService) -> PhonePrompts:
    """The phone prompts rendered once, as the channel does at start."""
    rendered = PhonePrompts(speech)
    assert asyncio.run(rendered.warm()) == []
    return rendered


async def caller_speech(synthesizer: Pyttsx3Synthesizer, text: str) -> bytes:
    """Korean words from espeak-ng at the telephone rate, with the short pause a caller leaves before them."""
    clip = await synthesizer.synthesize(text, locale=KO, rate="slow", sample_rate=8000)
    return silence(0.3, 8000) + clip.pcm16


@dataclass
class Line:
    """One test call: the fake phone, the fake dialogue engine behind the real conversation service, the flow."""

    call: FakePhoneCall
    rasa: FakeRasa
    flow: CallFlow
    task: asyncio.Task | None = None
    extra: dict = field(default_factory=dict)

    async def start(self) -> None:
        self.task = asyncio.create_task(self.flow.run())

    async def finish(self, timeout: float = 20.0):
        """Waits for the flow to end and returns its outcome."""
        return await asyncio.wait_for(self.task, timeout)

    def sent(self) -> list[str]:
        """Texts the dialogue engine received."""
        return [m["message"] for m in self.rasa.messages_sent()]


@pytest.fixture
def line(prompts: PhonePrompts) -> Callable[..., Line]:
    """Builds a call inside a running event loop; keyword arguments go to the flow."""

    def build(rasa: FakeRasa | None = None, call: FakePhoneCall | None = None, **flow_options) -> Line:
        rasa = rasa or FakeRasa()
        call = call or FakePhoneCall(speed=SPEED)
        conversations = ConversationService(RasaClient(load_settings(chat_timeout_seconds=2), transport=rasa.transport()))
        flow_options.setdefault("endpoint", QUICK_ENDPOINT)
        flow_options.setdefault("staff_available", lambda: False)
        flow_options.setdefault("push_poll_seconds", 0.1)
        flow = CallFlow(call, conversations, flow_options.pop("prompts", prompts), **flow_options)
        return Line(call, rasa, flow)

    return build
