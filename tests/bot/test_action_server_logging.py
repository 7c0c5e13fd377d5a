"""The action server's worker process logs through the masking filter, like every other process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from bot.settings import REPO_ROOT

ID_NUMBER = "110105194912310021"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_personal_number_in_a_workers_log_record_is_masked(tmp_path):
    port = _free_port()
    log_path = tmp_path / "actions.log"
    env = {**os.environ, "ACTION_PORT": str(port), "PYTHONPATH": str(REPO_ROOT)}
    with log_path.open("w") as log_file:
        server = subprocess.Popen([sys.executable, "-m", "bot.actions.server"], stdout=log_file,
                                  stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        try:
            deadline = time.monotonic() + 90
            while "Worker ready" not in log_path.read_text() and time.monotonic() < deadline:
                assert server.poll() is None, log_path.read_text()[-2000:]
                time.sleep(0.2)
            # The worker logs an unknown action's name as an error; the name carries an ID number.
            answer = httpx.post(f"http://127.0.0.1:{port}/webhook", timeout=10,
                                json={"next_action": f"action_{ID_NUMBER}", "tracker": {"sender_id": "x"}})
            assert answer.status_code == 404
            time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=20)
    log = log_path.read_text()
    assert "No registered action found" in log
    assert ID_NUMBER not in log
