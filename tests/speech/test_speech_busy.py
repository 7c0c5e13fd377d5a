"""A burst of uploads meets the caps on ffmpeg decodes and on recognitions: a clear 503 with Retry-After,
nothing queued without bound, and the next upload after the burst is served."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest
from fastapi import FastAPI

from bot.gateway.routes.speech import router
from bot.settings import load_settings
from speech.audio import write_wav
from speech.service import SpeechService
from tests.speech.conftest import KO, korean


def _app(service: SpeechService) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.speech = service
    return app


async def _burst(app: FastAPI, bodies: list[tuple[bytes, str]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await asyncio.gather(*(
            client.post(f"/api/speech/recognize?locale={KO}", content=body, headers={"content-type": kind})
            for body, kind in bodies))


@pytest.fixture(scope="module")
def webm(tts, tmp_path_factory) -> bytes:
    src = tmp_path_factory.mktemp("busy") / "in.wav"
    src.write_bytes(write_wav(korean(tts, "라디오")))
    return subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(src), "-c:a", "libopus", "-ar", "48000", "-f", "webm", "pipe:1"],
        capture_output=True, check=True).stdout


def _assert_busy(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "speech_busy"
    assert "try again" in response.json()["error"]["message"]
    assert int(response.headers["retry-after"]) >= 1


def test_uploads_beyond_the_ffmpeg_cap_are_told_to_retry_and_the_next_one_is_served(recogniser, tts, webm):
    service = SpeechService(recogniser, tts, max_decodes=1, max_recognitions=8)
    app = _app(service)
    responses = asyncio.run(_burst(app, [(webm, "audio/webm")] * 3))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 503, 503]
    for response in responses:
        if response.status_code == 503:
            _assert_busy(response)
        else:
            assert "라디오" in response.json()["text"]
    assert service.decodes.in_use == 0 and service.decodes.refused == 2
    (after,) = asyncio.run(_burst(app, [(webm, "audio/webm")]))
    assert after.status_code == 200


def test_uploads_beyond_the_recognition_cap_are_refused_not_queued(recogniser, tts):
    wav = write_wav(korean(tts, "엄마"))
    service = SpeechService(recogniser, tts, max_decodes=4, max_recognitions=2)
    responses = asyncio.run(_burst(_app(service), [(wav, "audio/wav")] * 5))
    assert sorted(r.status_code for r in responses) == [200, 200, 503, 503, 503]
    for response in responses:
        if response.status_code == 503:
            _assert_busy(response)
    assert service.recognitions.in_use == 0


def test_the_caps_are_settings_the_gateway_passes_on():
    from bot.gateway.app import speech_service

    service = speech_service(load_settings(speech_max_decodes=16, speech_max_recognitions=64))
    try:
        assert (service.decodes.limit, service.recognitions.limit) == (16, 64)
    finally:
        service.close()
    defaults = load_settings()
    assert (defaults.speech_max_decodes, defaults.speech_max_recognitions) == (4, 8)
