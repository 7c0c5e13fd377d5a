"""Process hygiene: who holds a port is named, and a child asks to die with its parent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from bot.process.ports import describe, holder, is_free
from bot.runner import Supervisor
from bot.settings import load_settings


def listening_socket() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def test_the_process_holding_a_port_is_named():
    with listening_socket() as server:
        port = server.getsockname()[1]
        assert not is_free("127.0.0.1", port)
        found = holder(port)
        assert found is not None and found.pid == os.getpid()
        assert f"process {os.getpid()}" in describe(found) and f"kill {os.getpid()}" in describe(found)
    assert is_free("127.0.0.1", port) and holder(port) is None


def test_a_start_that_finds_its_port_taken_says_which_process_holds_it(caplog):
    with listening_socket() as server:
        port = server.getsockname()[1]
        supervisor = Supervisor(load_settings(action_port=port), processes=[])
        assert supervisor.run() == 1
    assert f"port {port} is already in use by process {os.getpid()}" in caplog.text


def test_a_child_that_asked_dies_with_its_parent():
    # A parent starts a child that asked to die with it, then exits at once: the child must end too.
    code = (
        "import subprocess, sys; "
        "child = subprocess.Popen([sys.executable, '-c', "
        "'from bot.process.lifetime import die_with_parent; import time; assert die_with_parent(); "
        "print(\"ready\", flush=True); time.sleep(60)'], stdout=subprocess.PIPE); "
        "child.stdout.readline(); print(child.pid, flush=True)"
    )
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": os.getcwd()}, check=True)
    orphan = int(parent.stdout.split()[-1])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(orphan):
        time.sleep(0.05)
    if _alive(orphan):
        os.kill(orphan, 9)
        raise AssertionError("the child outlived its parent")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
