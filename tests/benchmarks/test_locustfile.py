"""benchmarks/locustfile.py's residents send what the web chat widget sends, to the real gateway (over an engine
double), through a front that loses the answer to every third new message after the gateway has handled it.

As the widget does (channels/webchat/static/widget.js): every message has a `message_id` of the form the API
accepts, every message after the one that created a conversation carries that conversation's token, and a
message whose connection broke is sent once more with the same id, text and token, and is run once.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from bot.gateway.app import create_app
from bot.services.chat_replies import MESSAGE_ID
from bot.settings import REPO_ROOT, get_settings
from tests.fakes.lossy_front import Attempt, LossyFront
from tests.fakes.rasa import FakeRasa
from tests.fakes.telegram_bot_api import free_port

RESIDENTS, SECONDS = 6, 10


@pytest.fixture
def gateway(rasa: FakeRasa) -> Iterator[str]:
    """The gateway app on a port of its own, in a thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(get_settings(), rasa_transport=rasa.transport()),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def attempts(gateway: str, tmp_path: Path) -> list[Attempt]:
    """Every request of a short headless locust run, as the front passed it on."""
    with LossyFront(gateway, every=3) as front:
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", "benchmarks/locustfile.py", "--headless", "-u", str(RESIDENTS),
             "-r", str(RESIDENTS), "-t", f"{SECONDS}s", "--host", front.url, "--stop-timeout", "20",
             "--csv", str(tmp_path / "locust")],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in run.stderr, run.stderr
    assert front.attempts, run.stderr
    return front.attempts


@pytest.mark.timeout(90)
def test_each_message_has_an_id_the_conversation_token_and_one_retry_with_the_same_id_when_its_answer_is_lost(
        attempts, rasa):
    by_message: dict[str | None, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        by_message[attempt.message_id].append(attempt)
    assert all(m and re.fullmatch(MESSAGE_ID, m) for m in by_message), "every message has an id the API accepts"
    assert all(a.status == 200 for a in attempts), {a.status for a in attempts}
    lost = [tries for tries in by_message.values() if not tries[0].delivered]
    assert len(lost) >= 3, "the run lost some answers"
    for tries in by_message.values():
        first, *again = tries
        expected = 1 if first.delivered else 2
        assert len(tries) == expected, "a lost answer is asked for once more, a delivered one never"
        assert all((a.conversation_id, a.text, a.token) == (first.conversation_id, first.text, first.token)
                   for a in again), "the retry is the same message"
        assert tries[-1].delivered and tries[-1].answer == first.answer, "the retry gets the first answer"
    # Each conversation: no token until the answer that created it reached the resident, then that token.
    delivered_token: dict[str | None, str | None] = {}
    for attempt in attempts:
        assert attempt.token == delivered_token.get(attempt.conversation_id), attempt
        if attempt.delivered and attempt.answer.get("conversation_token"):
            delivered_token[attempt.conversation_id] = attempt.answer["conversation_token"]
    assert all(c and c.startswith("web-") for c in delivered_token), "conversation ids of the widget's form"
    ran = [turn["message_id"] for turn in rasa.turns]
    assert sorted(ran) == sorted(by_message), "each message reached the engine once, a retried one too"
