"""The speech endpoints on a small FastAPI app, with the real recogniser and synthesiser behind them."""

from __future__ import annotations

import io
import subprocess
import wave

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.gateway.limits import LARGE_BODY_PATHS
from bot.gateway.routes.speech import router
from bot.settings import get_settings
from speech.audio import resample_clip, write_wav
from speech.errors import ModelMissing, ProviderUnknown
from speech.providers import AudioClip
from speech.service import SpeechService
from tests.fakes.rasa import FakeRasa
from tests.speech.conftest import KO, korean, silence


def make_client(service: SpeechService | None) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    if service is not None:
        app.state.speech = service
    return TestClient(app)


@pytest.fixture(scope="module")
def client(recogniser, tts):
    return make_client(SpeechService(recogniser, tts))


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_a_recorded_wav_comes_back_as_text(client, tts):
    audio = write_wav(korean(tts, "라디오"))
    response = client.post(f"/api/speech/recognize?locale={KO}", content=audio, headers={"content-type": "audio/wav"})
    assert response.status_code == 200
    body = response.json()
    assert "라디오" in body["text"] and 0 < body["confidence"] <= 1


def test_a_browser_recording_sent_as_a_form_file_is_recognised(client, tts, tmp_path):
    src = tmp_path / "in.wav"
    src.write_bytes(write_wav(korean(tts, "엄마")))
    webm = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(src), "-c:a", "libopus", "-ar", "48000", "-f", "webm", "pipe:1"],
        capture_output=True,
        check=True,
    ).stdout
    response = client.post(
        f"/api/speech/recognize?locale={KO}", files={"file": ("voice.webm", webm, "audio/webm;codecs=opus")}
    )
    assert response.status_code == 200
    assert "엄마" in response.json()["text"]


def gateway_client(service: SpeechService) -> TestClient:
    """The whole gateway, its body-size middleware included, with `service` as its speech."""
    app = create_app(get_settings(), rasa_transport=FakeRasa().transport())
    app.state.speech = service
    return TestClient(app)


def stereo_wav(clip: AudioClip) -> bytes:
    """The clip on both channels of a 16-bit WAV, as a browser records from a stereo microphone."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(clip.sample_rate)
        out.writeframes(np.repeat(np.frombuffer(clip.pcm16, dtype="<i2"), 2).tobytes())
    return buffer.getvalue()


def test_a_full_minute_of_48_khz_stereo_gets_through_the_gateway(recogniser, tts):
    spoken = resample_clip(korean(tts, "라디오"), 48000)
    rest = 60 * 48000 - len(spoken.pcm16) // 2
    wav = stereo_wav(AudioClip(spoken.pcm16 + silence(rest / 48000, 48000), 48000))
    assert len(wav) > 11_000_000
    response = gateway_client(SpeechService(recogniser, tts)).post(
        f"/api/speech/recognize?locale={KO}", files={"file": ("voice.wav", wav, "audio/wav")})
    assert response.status_code == 200, response.text
    assert "라디오" in response.json()["text"]


def test_a_body_over_the_speech_limit_is_refused_unread_as_json(tts):
    too_big = LARGE_BODY_PATHS["/api/speech"] + 1
    response = gateway_client(SpeechService(None, tts)).post(
        f"/api/speech/recognize?locale={KO}", content=b"\0" * too_big, headers={"content-type": "audio/wav"})
    assert_error(response, 413, "too_large")


def test_undecodable_audio_is_a_422_json_error(client):
    response = client.post(
        f"/api/speech/recognize?locale={KO}", content=b"\x1aE\xdf\xa3 broken" * 20, headers={"content-type": "audio/webm"}
    )
    assert_error(response, 422, "audio_undecodable")


def test_more_than_a_minute_is_a_422_json_error(client):
    audio = write_wav(AudioClip(silence(61, 8000), 8000))
    response = client.post(f"/api/speech/recognize?locale={KO}", content=audio, headers={"content-type": "audio/wav"})
    assert_error(response, 422, "audio_too_long")


def test_a_body_that_is_not_audio_is_refused(client):
    response = client.post(f"/api/speech/recognize?locale={KO}", json={"text": "hello"})
    assert_error(response, 415, "unsupported_media_type")


def test_without_a_recognition_model_recognition_is_a_503(tts):
    client = make_client(SpeechService(None, tts))
    response = client.post("/api/speech/recognize", content=b"RIFF", headers={"content-type": "audio/wav"})
    assert_error(response, 503, "asr_unavailable")
    assert "VOSK_MODEL_PATH" not in response.json()["error"]["message"]  # server detail stays in the log


def test_a_locale_without_a_model_is_a_503(client):
    response = client.post("/api/speech/recognize?locale=zh-CN", content=b"RIFF", headers={"content-type": "audio/wav"})
    assert_error(response, 503, "asr_unavailable")


def test_an_answer_is_spoken_as_a_wav_file(client):
    response = client.post("/api/speech/synthesize", json={"text": "社保卡在哪里办理", "rate": "slow"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert 1.5 < wav.getnframes() / 16000 < 6


def test_slow_is_the_default_and_slower_than_normal(client):
    def seconds(body):
        with wave.open(io.BytesIO(client.post("/api/speech/synthesize", json=body).content)) as wav:
            return wav.getnframes() / wav.getframerate()

    default = seconds({"text": "请带好身份证原件"})
    assert default == pytest.approx(seconds({"text": "请带好身份证原件", "rate": "slow"}), abs=0.1)
    assert default > seconds({"text": "请带好身份证原件", "rate": "normal"}) * 1.15


@pytest.mark.parametrize(
    "body",
    [{"text": "长" * 501}, {"text": ""}, {"rate": "slow"}, {"text": "你好", "rate": "fast"}, {"text": 5}, "not an object"],
)
def test_bad_synthesis_requests_are_422_json_errors(client, body):
    assert_error(client.post("/api/speech/synthesize", json=body), 422, "invalid_request")


def test_malformed_json_is_a_422_json_error(client):
    response = client.post("/api/speech/synthesize", content=b"{oops", headers={"content-type": "application/json"})
    assert_error(response, 422, "invalid_request")


def test_without_a_speech_service_both_endpoints_answer_503():
    client = make_client(None)
    assert_error(client.post("/api/speech/synthesize", json={"text": "你好"}), 503, "speech_unavailable")
    assert_error(
        client.post("/api/speech/recognize", content=b"x", headers={"content-type": "audio/wav"}), 503, "speech_unavailable"
    )


def test_settings_without_a_model_path_leave_recognition_off(tmp_path):
    service = SpeechService.from_settings(model_paths={"zh-CN": None}, tts_provider=None, cache_dir=tmp_path)
    assert not service.can_recognise("zh-CN")


def test_settings_with_a_wrong_model_path_stop_start_up(tmp_path):
    with pytest.raises(ModelMissing) as caught:
        SpeechService.from_settings(model_paths={"zh-CN": tmp_path / "nope"}, tts_provider=None, cache_dir=tmp_path)
    assert "vosk-model-small-cn-0.22" in caught.value.message


def test_an_unknown_provider_name_is_refused(tmp_path):
    with pytest.raises(ProviderUnknown):
        SpeechService.from_settings(asr_provider="whisper", cache_dir=tmp_path)


def test_settings_build_working_providers(ko_model, tmp_path):
    service = SpeechService.from_settings(model_paths={KO: ko_model}, cache_dir=tmp_path)
    try:
        assert service.can_recognise(KO)
        assert service.tts.voices["zh-CN"] == "cmn-latn-pinyin"
    finally:
        service.close()


def test_the_service_can_be_swapped_through_the_dependency(tts):
    from bot.gateway.routes.speech import get_speech_service

    client = make_client(None)
    client.app.dependency_overrides[get_speech_service] = lambda: SpeechService(None, tts)
    response = client.post("/api/speech/synthesize", json={"text": "你好"})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
