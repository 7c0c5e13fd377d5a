"""Voice notes: real Ogg/Opus recordings in, what was heard shown back, spoken answers on request."""

from __future__ import annotations

import subprocess

import pytest

from bot import texts
from speech.audio import write_wav
from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer
from speech.service import SpeechService
from tests.channels.conftest import USER
from tests.speech.conftest import KO, korean, ko_model_path

# The only recognition model installed for tests is the small Korean one; it stands in for the
# Chinese model here, loaded under the locale the channel asks for.
WORD = "라디오"


def ogg_opus(wav: bytes) -> bytes:
    """What a phone's Telegram app records: mono Opus in Ogg."""
    return subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0",
                           "-c:a", "libopus", "-b:a", "48k", "-f", "ogg", "pipe:1"],
                          input=wav, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def synthesizer(tmp_path_factory):
    synth = Pyttsx3Synthesizer(tmp_path_factory.mktemp("tts"), voices={**DEFAULT_VOICES, KO: "ko"})
    yield synth
    synth.close()


@pytest.fixture(scope="module")
def recogniser():
    from speech.vosk_asr import VoskRecogniser

    rec = VoskRecogniser({"zh-CN": ko_model_path()})
    yield rec
    rec.close()


def test_a_voice_note_is_shown_back_then_answered(gateway, bot_api, rasa, synthesizer, recogniser):
    rasa.replies = [{"text": "好的，我来帮您。"}]
    note = ogg_opus(write_wav(korean(synthesizer, WORD)))
    assert note.startswith(b"OggS")
    with gateway(speech=SpeechService(recogniser, synthesizer)):
        bot_api.add_update(bot_api.voice_update(USER, note))
        # Loading the recognition model on first use takes a while on a busy machine.
        sent = bot_api.wait_for(lambda: len(bot_api.sent_texts(USER)) >= 2 and bot_api.sent_texts(USER), timeout=90)
    assert sent == [texts.text("utter_telegram_heard", text=WORD), "好的，我来帮您。"]
    assert rasa.messages_sent()[0]["message"] == WORD
    assert bot_api.called("getFile") and bot_api.called("download")


def test_without_speech_recognition_a_voice_note_gets_a_polite_text(gateway, bot_api, rasa):
    with gateway(speech=None):
        bot_api.add_update(bot_api.voice_update(USER, b"OggS not really"))
        sent = bot_api.wait_for(lambda: bot_api.sent_texts(USER))
    assert sent == [texts.text("utter_telegram_voice_unavailable")]
    assert rasa.messages_sent() == []


def test_voice_on_adds_a_spoken_answer_and_voice_off_stops_it(gateway, bot_api, rasa, synthesizer):
    rasa.replies = [{"text": "居住证可以在街道服务中心办理。"}]
    with gateway(speech=SpeechService(None, synthesizer)):
        bot_api.add_update(bot_api.text_update(USER, "/voice on"))
        bot_api.wait_for(lambda: bot_api.sent_texts(USER))
        bot_api.add_update(bot_api.text_update(USER, "居住证在哪办"))
        voice = bot_api.wait_for(lambda: [c for c in bot_api.called("sendVoice") if c.params.get("_accepted")],
                                 timeout=60)
        bot_api.add_update(bot_api.text_update(USER, "/voice off"))
        bot_api.add_update(bot_api.text_update(USER, "居住证在哪办"))
        bot_api.wait_for(lambda: len(bot_api.sent_texts(USER)) >= 4)
    audio = voice[0].params["voice"]
    assert audio.startswith(b"OggS") and b"OpusHead" in audio[:200]
    assert bot_api.sent_texts(USER) == [texts.text("utter_telegram_voice_on"), "居住证可以在街道服务中心办理。",
                                        texts.text("utter_telegram_voice_off"), "居住证可以在街道服务中心办理。"]
    assert len(bot_api.called("sendVoice")) == 1
