"""Process hygiene: who holds a port is named, and a child asks to die with its parent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

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


def test_a_start_without_preparing_serves_the_model_of_the_current_training_data(tmp_path):
    from bot.engine.build import BUILD_DIR, prepared_model, training_digest

    settings = load_settings(rasa_model_dir=tmp_path)
    current = tmp_path / f"bianmin-{training_digest(BUILD_DIR)}.tar.gz"
    current.write_bytes(b"current")
    older_data = tmp_path / "bianmin-0123456789abcdef.tar.gz"
    older_data.write_bytes(b"older training data, touched later")
    os.utime(current, (1, 1))
    assert prepared_model(settings) == current


def test_a_start_without_preparing_and_without_a_model_for_the_data_says_what_to_run(tmp_path):
    from bot.engine.build import prepared_model
    from bot.errors import ConfigurationError

    (tmp_path / "bianmin-0123456789abcdef.tar.gz").write_bytes(b"older training data")
    with pytest.raises(ConfigurationError, match="bot.cli prepare"):
        prepared_model(load_settings(rasa_model_dir=tmp_path))
    with pytest.raises(ConfigurationError, match="bot.cli prepare"):
        prepared_model(load_settings(rasa_model_dir=tmp_path), build_dir=tmp_path / "never-built")
