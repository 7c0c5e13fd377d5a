"""Starts the real assistant (Rasa with the trained model, the action server, the gateway, a real database).

The stack runs through the same supervisor as `make run`, on its own ports, its
own database and its own run directory, so it never disturbs an assistant a
developer has running. The model must be trained first (`make test` does it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.settings import REPO_ROOT
from tests.chat_tokens import TOKENS
from tests.fakes.smsc import PASSWORD, SYSTEM_ID, FakeSmsc

START_TIMEOUT_SECONDS = 240
# What the supervisor prints once every process answers (bot/runner.py Supervisor.banner).
READY_BANNER = "便民助手 is ready after".encode()
# The port offset of each stack fixture (ports 20000 + 100 * (offset + TEST_PORT_OFFSET) and up). They stay below 10:
# test runs on one machine are given TEST_PORT_OFFSETs ten apart, so an eleventh offset is another run's first.
# Fixtures that can be alive together have offsets of their own; two module-scoped stacks of different modules
# (the widget's and the privacy one) share one, and start_stack refuses an offset still in use.
# tests/test_stack_ports.py checks that every stack takes its offset from here.
PORT_OFFSETS = {"analytics": 0, "stack": 1, "production": 2, "kiosk": 3, "phone_call": 4, "cluster": 5,
                "phone_line": 6, "widget": 7, "privacy_at_rest": 7, "wechat": 8, "identity_channels": 9}
RUN_OFFSETS = 10
_running: set[int] = set()


@dataclass
class Stack:
    """A running assistant and the means to talk to it, kill parts of it, and stop it."""

    base_url: str
    env: dict[str, str]
    run_dir: Path
    process: subprocess.Popen
    log_path: Path
    port_offset: int = 0

    def chat(self, conversation_id: str, text: str, timeout: float = 30.0, message_id: str | None = None) -> dict:
        """One turn through POST /api/chat with the conversation's token; fails the test on a non-200 answer.

        With a `message_id`, as a client that sends the same message again with the same id.
        """
        body = {"conversation_id": conversation_id, "text": text}
        if message_id:
            body["message_id"] = message_id
        response = httpx.post(f"{self.base_url}/api/chat", json=body, headers=TOKENS.headers(conversation_id),
                              timeout=timeout)
        assert response.status_code == 200, response.text
        return TOKENS.remember(response.json())

    def pushed(self, conversation_id: str, after: str | None = None) -> httpx.Response:
        """GET /api/chat/{id}/messages with the conversation's token."""
        params = {"after": after} if after else {}
        return httpx.get(f"{self.base_url}/api/chat/{conversation_id}/messages", params=params,
                         headers=TOKENS.headers(conversation_id), timeout=10)

    def pids(self) -> dict[str, int]:
        """The supervised processes' ids."""
        return json.loads((self.run_dir / "processes.json").read_text())

    def kill(self, name: str, *, wait_for_restart: bool = True) -> None:
        """Kills one process hard, as a crash would (the supervisor restarts it, after a second at least)."""
        pid = self.pids()[name]
        os.killpg(pid, signal.SIGKILL)
        if not wait_for_restart:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.pids().get(name) == pid:
            time.sleep(0.2)

    def health(self) -> httpx.Response:
        """GET /healthz."""
        return httpx.get(f"{self.base_url}/healthz", timeout=5)

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Waits until the supervisor itself says the assistant is ready (its banner).

        /healthz may answer 200 before the supervisor's own poll has seen it: a test that
        then kills a process would find the supervisor still starting, and it gives up
        on a child that dies while starting instead of restarting it.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the assistant exited; log:\n{self.log_path.read_text()[-4000:]}")
            if READY_BANNER in self.log_path.read_bytes():
                return
            time.sleep(0.5)
        raise TimeoutError(f"the supervisor never said it was ready; log:\n{self.log_path.read_text()[-4000:]}")

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Waits until /healthz is 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the assistant exited; log:\n{self.log_path.read_text()[-4000:]}")
            try:
                if self.health().status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"not healthy after {timeout} s; log:\n{self.log_path.read_text()[-4000:]}")

    def log_text(self) -> str:
        """Everything the processes logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Stops the supervisor as Ctrl-C would and waits for all processes to end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _running.discard(self.port_offset)


def start_stack(workdir: Path, port_offset: int, **settings: str) -> Stack:
    """Starts the supervisor on ports 20000 + 100 * port_offset and up, with its own database and run dir.

    TEST_PORT_OFFSET shifts every stack of a test run, so two test runs on one machine do not collide.
    """
    if port_offset in _running:
        raise RuntimeError(f"a stack already runs on port offset {port_offset}: give each fixture its own")
    base = 20000 + 100 * (port_offset + int(os.environ.get("TEST_PORT_OFFSET", "0")))
    env = {
        **os.environ,
        "GATEWAY_PORT": str(base),
        "ACTION_PORT": str(base + 5),
        "RASA_PORT": str(base + 10),
        "DATABASE_URL": f"sqlite:///{workdir / 'bianmin.db'}",
        "RUN_DIR": str(workdir / "run"),
        "LOG_LEVEL": "INFO",
        "CHAT_TIMEOUT_SECONDS": "5",
    }
    env.update({k.upper(): v for k, v in settings.items()})
    log_path = workdir / "stack.log"
    log_file = log_path.open("wb")
    # Migrating and (only when the training data changed) training may take minutes: not part of the start time.
    subprocess.run([sys.executable, "-m", "bot.cli", "prepare"], cwd=REPO_ROOT, env=env, check=True,
                   stdout=log_file, stderr=subprocess.STDOUT)
    process = subprocess.Popen([sys.executable, "-m", "bot.runner"], cwd=REPO_ROOT, env=env,
                               stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    _running.add(port_offset)
    stack = Stack(f"http://127.0.0.1:{env['GATEWAY_PORT']}", env, workdir / "run", process, log_path, port_offset)
    try:
        stack.wait_ready()
    except BaseException:
        stack.stop()
        raise
    return stack


@contextlib.contextmanager
def this_process_on(database_url: str) -> Iterator[None]:
    """Migrates `database_url` and points this test process at it until the block ends.

    For call flows run in the test process against a stack on that database: what the flow stores (the vault,
    caller ID proofs) lands where the stack's actions read it and where the tests search.
    """
    from bot.db import session
    from bot.db.migrate import upgrade
    from bot.settings import get_settings

    def use(url: str | None) -> None:
        if url is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        session.get_engine.cache_clear()

    previous = os.environ.get("DATABASE_URL")
    upgrade(database_url)
    use(database_url)
    try:
        yield
    finally:
        session.get_engine().dispose()
        use(previous)


@pytest.fixture(scope="session")
def smsc() -> Iterator[FakeSmsc]:
    """The SMSC double the stack sends one-time codes to; it records every text message."""
    with FakeSmsc() as running:
        yield running


def smpp_settings(smsc: FakeSmsc) -> dict[str, str]:
    """The settings that point a stack's SMS sender at the SMSC double (staff replies texted after a second)."""
    return {"sms_provider": "smpp", "smpp_host": "127.0.0.1", "smpp_port": str(smsc.port),
            "smpp_system_id": SYSTEM_ID, "smpp_password": PASSWORD, "smpp_source_addr": "10690000",
            "sms_staff_reply_grace_seconds": "1", "sms_poll_seconds": "0.5"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, smsc: FakeSmsc) -> Iterator[Stack]:
    """The assistant in its default configuration (embedded SQLite, codes to the SMSC double), shared by the tests."""
    running = start_stack(tmp_path_factory.mktemp("stack"), port_offset=PORT_OFFSETS["stack"], **smpp_settings(smsc))
    yield running
    running.stop()


@pytest.fixture
def conversation_id() -> str:
    """A fresh conversation id."""
    return f"t-{uuid.uuid4().hex[:12]}"
