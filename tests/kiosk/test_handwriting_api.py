"""POST /api/handwriting/recognize through the real app: candidates, bad input as 422, the rate limit, no model."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.settings import get_settings
from kiosk.handwriting import data, model, service, synthesis
from kiosk.handwriting.service import HandwritingService
from tests.fakes.rasa import FakeRasa

pytestmark = pytest.mark.timeout(300)
URL = "/api/handwriting/recognize"


def app_client(recogniser_model: model.Model | None, rate: str = "300/minute", load=None) -> TestClient:
    settings = get_settings().model_copy(update={"rate_limit_handwriting_per_client": rate})
    app = create_app(settings, rasa_transport=FakeRasa().transport())
    app.state.handwriting = HandwritingService(load=load or (lambda: recogniser_model))
    return TestClient(app)


@pytest.fixture
def client(small_model) -> TestClient:
    return app_client(small_model)


def written(character: str) -> list:
    return synthesis.write(data.medians(character), np.random.default_rng(77), synthesis.FINGER)


def test_a_written_character_comes_back_among_at_most_ten_candidates(client):
    response = client.post(URL, json={"width": 300, "height": 300, "strokes": written("张")})
    assert response.status_code == 200, response.text
    candidates = response.json()["candidates"]
    assert "张" in candidates and len(candidates) <= 10


def test_fractional_coordinates_from_a_high_density_screen_are_accepted(client):
    strokes = [[[x + 0.25, y + 0.5] for x, y in s] for s in written("国")]
    response = client.post(URL, json={"width": 412.5, "height": 412.5, "strokes": strokes})
    assert response.status_code == 200 and "国" in response.json()["candidates"]


@pytest.mark.parametrize("body", [
    {"width": 300, "height": 300, "strokes": []},
    {"width": 300, "height": 300, "strokes": [[]]},
    {"width": 300, "height": 300},
    {"width": 300, "strokes": [[[1, 2]]]},
    {"width": 300, "height": 300, "strokes": [[[1, 2]]] * 65},
    {"width": 300, "height": 300, "strokes": [[[1, 2]] * 2049, [[3, 4]] * 2048]},
    {"width": 300, "height": 300, "strokes": [[["1", "2"]]]},
    {"width": 300, "height": 300, "strokes": [[[True, 2]]]},
    {"width": 300, "height": 300, "strokes": [[[1, None]]]},
    {"width": 300, "height": 300, "strokes": [[[1, 2, 3]]]},
    {"width": 300, "height": 300, "strokes": [[[1]]]},
    {"width": 300, "height": 300, "strokes": [[{"x": 1, "y": 2}]]},
    {"width": 300, "height": 300, "strokes": [[[1e300, 2]]]},
    {"width": 300, "height": 300, "strokes": "张"},
    {"width": "300", "height": 300, "strokes": [[[1, 2]]]},
    {"width": 0, "height": 300, "strokes": [[[1, 2]]]},
    {"width": -300, "height": 300, "strokes": [[[1, 2]]]},
    {"width": 1e9, "height": 300, "strokes": [[[1, 2]]]},
])
def test_bad_strokes_get_a_json_422(client, body):
    response = client.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("raw", [
    '{"width": 300, "height": 300, "strokes": [[[NaN, 2]]]}',
    '{"width": Infinity, "height": 300, "strokes": [[[1, 2]]]}',
    '{"width": 300, "height": 300, "strokes": [[[1, 2]]',
    "[]",
    "张",
])
def test_bodies_that_are_not_numbers_or_not_json_get_a_json_422(client, raw):
    response = client.post(URL, content=raw.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert set(response.json()["error"]) == {"code", "message"}


def test_the_most_strokes_and_points_allowed_are_answered(client):
    strokes = [[[i % 300, (i * 7) % 300] for i in range(64)] for _ in range(64)]
    assert sum(map(len, strokes)) == 4096
    response = client.post(URL, json={"width": 300, "height": 300, "strokes": strokes})
    assert response.status_code == 200 and len(response.json()["candidates"]) <= 10


def test_a_client_past_its_rate_is_told_to_wait(small_model):
    client = app_client(small_model, rate="3/minute")
    body = {"width": 300, "height": 300, "strokes": written("王")}
    assert [client.post(URL, json=body).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.post(URL, json=body)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    # Other endpoints are not counted against the handwriting rate.
    assert client.get("/kiosk").status_code == 200


def test_a_model_that_cannot_be_loaded_gives_a_503_not_a_500():
    def missing() -> model.Model:
        raise FileNotFoundError("no stroke data")

    response = app_client(None, load=missing).post(URL, json={"width": 300, "height": 300, "strokes": [[[1, 2]]]})
    assert response.status_code == 503 and response.json()["error"]["code"] == "handwriting_unavailable"


def test_while_the_model_loads_a_request_gets_a_503_and_then_candidates(small_model, monkeypatch):
    monkeypatch.setattr(service, "READY_WAIT_SECONDS", 0.2)
    loaded = threading.Event()

    def slow() -> model.Model:
        loaded.wait(30)
        return small_model

    client = app_client(None, load=slow)
    body = {"width": 300, "height": 300, "strokes": written("王")}
    waiting = client.post(URL, json=body)
    assert waiting.status_code == 503 and waiting.json()["error"]["code"] == "handwriting_unavailable"
    loaded.set()
    assert "王" in client.post(URL, json=body).json()["candidates"]
