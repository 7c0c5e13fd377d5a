"""The whole phone line: a real SIP phone (baresip) calls the real assistant (SIP endpoint in the gateway,
the call flow, the trained Rasa model, vosk with the Korean test model standing in for the Chinese one,
espeak-ng), presses keys, speaks, is put through to a staff phone, hangs up; the dialogue engine fails."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from bot.conversation import Button
from bot.settings import REPO_ROOT
from channels.phone.menus import choices_for, read_options
from tests.channels.phone.sip_client import (
    RATE,
    Baresip,
    PortBlock,
    baresip_available,
    loud_spans,
)
from tests.speech.conftest import KO, ko_model_path, silence
from tests.stack.conftest import PORT_OFFSETS, Stack, start_stack

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(not baresip_available(), reason="baresip is not installed (setup-system.sh --test)")]

BASE_PORT = 25000 + 100 * (int(os.environ.get("TEST_PORT_OFFSET", "10")) - 10)
SIP_PORT = BASE_PORT + 1
RTP_PORTS = (BASE_PORT + 10, BASE_PORT + 39)
CALLER_PORTS = PortBlock(BASE_PORT + 40)
STAFF_PORTS = PortBlock(BASE_PORT + 70)
LINE_URI = f"sip:service@127.0.0.1:{SIP_PORT}"
STAFF_URI = f"sip:staff@127.0.0.1:{STAFF_PORTS.sip}"
# The greeting must start this soon after the answer (the prompts are rendered when the gateway starts).
GREETING_WITHIN_S = 2.0
# An answer must start this soon after the caller's key or last word (a generous bound for a busy machine;
# the figures on a quiet one are in benchmarks/phone.py).
ANSWER_WITHIN_S = 8.0
PASSWORD = "phone-desk-password"


def _always_open_knowledge_base(target: Path) -> Path:
    """The catalogue with its first centre open every day from 00:00 to 23:59, so staff are on duty now."""
    shutil.copytree(REPO_ROOT / "knowledge_base", target)
    path = target / "centres.yml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["centres"][0]["hours"] = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                     "open": "00:00", "close": "23:59"}]
    data["centres"][0]["closed_dates"] = []
    data["centres"][0]["slot_minutes"] = 10
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return target


@pytest.fixture(scope="module")
def phone_stack(tmp_path_factory: pytest.TempPathFactory):
    """The assistant with its phone line on, the recogniser loaded and a staff line to transfer to."""
    workdir = tmp_path_factory.mktemp("phone-stack")
    running = start_stack(
        workdir, port_offset=PORT_OFFSETS["phone_line"],
        SIP_LISTEN=f"127.0.0.1:{SIP_PORT}", SIP_RTP_PORTS=f"{RTP_PORTS[0]}-{RTP_PORTS[1]}",
        PHONE_STAFF_URI=STAFF_URI, VOSK_MODEL_PATH=str(ko_model_path()),
        KNOWLEDGE_BASE_DIR=str(_always_open_knowledge_base(workdir / "knowledge_base")),
        SPEECH_CACHE_DIR=str(workdir / "speech-cache"),
    )
    yield running
    running.stop()


class Transcript:
    """What the dialogue engine recorded of the phone conversations (Rasa's tracker in the stack's database)."""

    def __init__(self, stack: Stack) -> None:
        self.path = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
        self.before = set(self.phone_conversations())

    def _rows(self, sql: str, *args) -> list[tuple]:
        with sqlite3.connect(self.path, timeout=10) as db:
            return db.execute(sql, args).fetchall()

    def phone_conversations(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT sender_id FROM events WHERE sender_id LIKE 'phone:%'")]

    def new_conversation(self) -> str | None:
        fresh = [c for c in self.phone_conversations() if c not in self.before]
        return fresh[0] if fresh else None

    def said(self, kind: str) -> list[str]:
        """The texts of the new conversation's user or bot events, in order."""
        conversation = self.new_conversation()
        if conversation is None:
            return []
        rows = self._rows("SELECT data FROM events WHERE sender_id = ? AND type_name = ? ORDER BY id",
                          conversation, kind)
        return [json.loads(r[0]).get("text") or "" for r in rows]

    def buttons(self) -> list[dict]:
        """The buttons of the new conversation's bot messages so far, in order."""
        conversation = self.new_conversation()
        rows = self._rows("SELECT data FROM events WHERE sender_id = ? AND type_name = 'bot' ORDER BY id", conversation)
        return [b for r in rows for b in (json.loads(r[0]).get("data") or {}).get("buttons") or []]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            texts = self.said(kind)
            if len([t for t in texts if t]) >= count:
                return texts
            await asyncio.sleep(0.3)
        raise AssertionError(f"no {kind} message in the phone conversation after {timeout:g} s: {self.said(kind)}")


def _run(scenario, timeout: float = 120.0):
    async def bounded():
        async with asyncio.timeout(timeout):
            return await scenario()
    return asyncio.run(bounded())


def _rtp_ports_free() -> bool:
    for port in range(RTP_PORTS[0], RTP_PORTS[1] + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _answer_start(heard, after: float) -> float | None:
    """When the next sound after `after` starts, skipping a prompt still playing at that moment."""
    spans = loud_spans(heard[int(after * RATE):], min_gap_s=0.2)
    if spans and spans[0][0] < 0.05:
        spans = spans[1:]  # the prompt the caller interrupted, up to its stop
    return spans[0][0] + after if spans else None


async def _caller_speech(text: str, cache: Path) -> bytes:
    """Korean words from espeak-ng at the telephone rate (the Korean test model stands in for Chinese)."""
    from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer

    synthesizer = Pyttsx3Synthesizer(cache, voices={**DEFAULT_VOICES, KO: "ko"})
    try:
        clip = await synthesizer.synthesize(text, locale=KO, rate="slow", sample_rate=RATE)
    finally:
        synthesizer.close()
    return silence(0.3, RATE) + clip.pcm16


def test_the_greeting_arrives_at_once(phone_stack, tmp_path):
    async def scenario():
        async with Baresip(tmp_path / "caller", CALLER_PORTS) as caller:
            await caller.dial(LINE_URI, timeout=15)
            await asyncio.sleep(4)
            await caller.hang_up()
            return caller.heard()

    heard = _run(scenario)
    spans = loud_spans(heard)
    assert spans, "the caller heard silence"
    assert spans[0][0] < GREETING_WITHIN_S, f"the greeting started after {spans[0][0]:.2f} s"


def test_a_keypad_choice_reaches_the_services_answer(phone_stack, tmp_path):
    transcript = Transcript(phone_stack)

    async def scenario():
        async with Baresip(tmp_path / "caller", CALLER_PORTS) as caller:
            await caller.dial(LINE_URI, timeout=15)
            await asyncio.sleep(2.0)
            await caller.press("1")  # 社保卡, read out in the menu
            pressed_at = 2.0 + 0.25
            user = await transcript.wait_for("user")
            bot = await transcript.wait_for("bot")
            await asyncio.sleep(4)
            await caller.hang_up()
            return user, bot, caller.heard(), pressed_at

    user, bot, heard, pressed_at = _run(scenario)
    assert user[0] == "社保卡怎么办理"
    assert "社保卡" in "".join(bot)
    answer = _answer_start(heard, pressed_at)
    assert answer is not None and answer - pressed_at < ANSWER_WITHIN_S


def test_the_offer_read_out_with_its_keys_is_taken_by_a_key(phone_stack, tmp_path):
    transcript = Transcript(phone_stack)

    async def scenario():
        async with Baresip(tmp_path / "caller", CALLER_PORTS) as caller:
            await caller.dial(LINE_URI, timeout=15)
            await asyncio.sleep(2.0)
            await caller.press("1")  # 社保卡: the answer ends with the offer to apply, read out with its keys
            bot = await transcript.wait_for("bot")
            spoken = "".join(bot)
            # The keys as the line reads them out: the buttons of the answer, in order, 0 for a person.
            buttons = [Button(b["title"], b["payload"]) for b in transcript.buttons()]
            key = next(c.key for c in choices_for(buttons) if c.title == "现在申请")
            assert f"现在申请请按{key}" in read_options(choices_for(buttons))
            await caller.press(key)
            await transcript.wait_for("user", count=2)
            bot = await transcript.wait_for("bot", count=len([t for t in bot if t]) + 2)
            await caller.hang_up()
            return transcript.said("user"), bot, spoken

    user, bot, first = _run(scenario)
    assert "要我现在一步步帮您申请吗" in first
    assert user[1] == '/start_application{"service": "social_security_card"}'
    assert "在线申请社保卡" in "".join(bot), bot


def test_spoken_words_go_through_the_real_recogniser(phone_stack, tmp_path):
    transcript = Transcript(phone_stack)

    async def scenario():
        words = await _caller_speech("엄마", tmp_path / "tts")
        async with Baresip(tmp_path / "caller", CALLER_PORTS) as caller:
            await caller.dial(LINE_URI, timeout=15)
            await asyncio.sleep(1.5)
            await caller.say(words)  # over the greeting: the caller barges in
            user = await transcript.wait_for("user", timeout=40)
            await asyncio.sleep(3)
            await caller.hang_up()
            return user, caller.heard(), 1.5 + len(words) / 2 / RATE

    user, heard, spoken_until = _run(scenario)
    assert "엄마" in user[0]
    answer = _answer_start(heard, spoken_until)
    assert answer is not None and answer - spoken_until < ANSWER_WITHIN_S


def test_zero_puts_the_caller_through_to_the_staff_phone(phone_stack, tmp_path):
    username = f"phone{int(time.time())}"
    subprocess.run([sys.executable, "-m", "bot.cli", "staff", "--username", username, "--password", PASSWORD,
                    "--role", "staff"], cwd=REPO_ROOT, env=phone_stack.env, check=True, capture_output=True)
    login = httpx.post(f"{phone_stack.base_url}/api/staff/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text  # a staff member is at the console: on duty

    async def scenario():
        async with Baresip(tmp_path / "staff", STAFF_PORTS, user="staff") as staff, \
                Baresip(tmp_path / "caller", CALLER_PORTS) as caller:
            await caller.dial(LINE_URI, timeout=15)
            await asyncio.sleep(1.5)
            await caller.press("0")
            # The assistant says it is transferring, sends REFER; the caller's phone calls the staff phone.
            await staff.wait_event("CALL_ESTABLISHED", timeout=40)
            # Our side of the call ends once the transfer is done: the caller's first call closes.
            await caller.wait_event("CALL_CLOSED", timeout=30)
            await caller.hang_up()
            return caller

    caller = _run(scenario)
    assert caller.event_types().count("CALL_ESTABLISHED") == 2  # the assistant, then the staff phone
    assert "transferred" in phone_stack.log_text()


def test_hanging_up_mid_answer_leaves_no_call_behind(phone_stack, tmp_path):
    transcript = Transcript(phone_stack)
    pids = phone_stack.pids()

    async def scenario():
        async with Baresip(tmp_path / "caller", CALLER_PORTS) as caller:
            await caller.dial(LINE_URI, timeout=15)
            await asyncio.sleep(1.0)
            await caller.press("1")
            await transcript.wait_for("bot")
            await asyncio.sleep(1.0)  # the answer is being spoken
            await caller.hang_up()
        deadline = time.monotonic() + 10
        while not _rtp_ports_free() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)

    _run(scenario)
    assert _rtp_ports_free(), "an RTP socket outlived its call"
    assert phone_stack.pids() == pids, "a process died or was restarted"
    assert phone_stack.health().status_code == 200
    # No synthesiser or other child is left running under the gateway.
    children = subprocess.run(["pgrep", "-P", str(pids["gateway"])], capture_output=True, text=True).stdout.split()
    assert not [c for c in children if "espeak" in Path(f"/proc/{c}/comm").read_text()]
    assert "ended (hung_up" in phone_stack.log_text()


def test_a_failing_dialogue_engine_still_gets_the_caller_an_answer(phone_stack, tmp_path):
    phone_stack.kill("rasa")

    async def scenario():
        async with Baresip(tmp_path / "caller", CALLER_PORTS) as caller:
            await caller.dial(LINE_URI, timeout=15)
            await asyncio.sleep(2.0)
            await caller.press("1")
            await asyncio.sleep(ANSWER_WITHIN_S + 2)
            await caller.hang_up()
            return caller.heard()

    try:
        heard = _run(scenario)
    finally:
        phone_stack.wait_healthy()
    answer = _answer_start(heard, 2.25)
    assert answer is not None and answer - 2.25 < ANSWER_WITHIN_S, "the caller was left in silence"
    assert "turn answered without the dialogue engine" in phone_stack.log_text()
