"""`make run`: prepares everything, starts the Rasa server(s), the action server and the gateway, and supervises them.

Logs of every process are prefixed and forwarded through the same masking of
personal numbers; a process that dies is reported and restarted (with back-off)
while the others keep answering; Ctrl-C or SIGTERM stops all of them, and a
child is also stopped by the kernel if this supervisor itself is killed.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.errors import ConfigurationError
from bot.engine.build import RASA_ENV, engine_config_dir, engine_environment, prepared_model
from bot.keys import ensure_key_file
from bot.logs import configure_logging
from bot.prepare import prepare
from bot.privacy import redact_text
from bot.process.lifetime import die_with_parent
from bot.process.ports import describe, holder, is_free
from bot.services.key_rotation import rotate_keys
from bot.settings import REPO_ROOT, Settings, get_settings

log = logging.getLogger("bianmin.runner")

READY_TIMEOUT_SECONDS = 240
MAX_BACKOFF_SECONDS = 30
# How long what is left of a dead or stopped child's process group gets to end before SIGKILL.
GROUP_GRACE_SECONDS = 3.0


@dataclass
class Child:
    """One supervised process."""

    name: str
    command: list[str]
    env: dict[str, str]
    # What it is and where it listens ("gateway", "127.0.0.1:8000"), for the cluster's table and health.
    role: str = ""
    address: str = ""
    # A server that refuses to run as root (PostgreSQL) runs as this account.
    user: str | None = None
    # What asks it to stop in order (PostgreSQL's SIGTERM waits for every client to leave; SIGINT does not).
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    pump: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        """Starts the process in its own session so a terminal's Ctrl-C reaches only the supervisor."""
        self.process = subprocess.Popen(
            self.command, cwd=REPO_ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, self.stop_signal),
            user=self.user, group=_primary_group(self.user),
        )
        self.started_at = time.monotonic()
        self.pump = threading.Thread(target=self._forward, args=(self.process,), daemon=True)
        self.pump.start()

    def _forward(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                sys.stdout.write(f"[{self.name}] {redact_text(line)}\n")
                sys.stdout.flush()

    def stop(self, timeout: float = 10.0) -> None:
        """Its stop signal to the child, then SIGTERM to what is left of its group; SIGKILL after `timeout` seconds.

        The child is signalled first and alone: a server with worker processes (the action server's
        Sanic) then stops them in order, where a signal to the whole group ends its process manager
        under it (a BrokenPipeError on every stop).
        """
        if not self.process:
            return
        if self.process.poll() is None:
            try:
                self.process.send_signal(self.stop_signal)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self.end_group()

    def end_group(self) -> None:
        """Ends whatever is left of the child's process group (a worker of a killed server still holds its port)."""
        if not self.process:
            return
        group = self.process.pid
        if not _signal_group(group, signal.SIGTERM):
            return
        deadline = time.monotonic() + GROUP_GRACE_SECONDS
        while time.monotonic() < deadline:
            if not _signal_group(group, 0):
                return
            time.sleep(0.05)
        _signal_group(group, signal.SIGKILL)


def _primary_group(user: str | None) -> int | None:
    """The primary group of an account (a child run as that account gets it instead of root's)."""
    if user is None:
        return None
    return pwd.getpwnam(user).pw_gid


def _signal_group(group: int, signum: int) -> bool:
    """Sends `signum` to a process group; False when the group has no process left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def children(settings: Settings, model: Path) -> list[Child]:
    """The processes of the assistant: Rasa worker(s), the action server, the gateway."""
    config_dir = engine_config_dir(settings)
    # Rasa imports the gateway's input channel (bot/rasa_plugins/channel.py) from this repository.
    engine_env = {**engine_environment(), "PYTHONPATH": str(REPO_ROOT)}
    our_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT)}
    result = []
    for worker in range(settings.rasa_workers):
        result.append(Child(
            name="rasa" if settings.rasa_workers == 1 else f"rasa{worker}",
            command=[
                str(RASA_ENV / "bin" / "rasa"), "run", "--model", str(model), "--enable-api",
                "--auth-token", settings.rasa_token, "--interface", settings.rasa_host,
                "--port", str(settings.rasa_port + worker),
                "--endpoints", str(config_dir / "endpoints.yml"),
                "--credentials", str(config_dir / "credentials.yml"),
            ],
            env=engine_env,
        ))
    result.append(Child("actions", [sys.executable, "-m", "bot.actions.server"], our_env))
    result.append(Child("gateway", [
        sys.executable, "-m", "uvicorn", "bot.gateway.app:main_app", "--factory",
        "--host", settings.gateway_host, "--port", str(settings.gateway_port), "--no-access-log",
        "--timeout-graceful-shutdown", "5",
    ], our_env))
    return result


def wait_until_healthy(url: str, processes: list[Child], timeout: float = READY_TIMEOUT_SECONDS) -> bool:
    """Polls a health URL until it is 200; False when a process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in processes:
            if child.process and child.process.poll() is not None:
                log.error("%s exited with code %s while starting", child.name, child.process.returncode)
                return False
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def wait_for_tracker_tables(child: Child, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Waits until the first Rasa worker has created the tracker store's table (or exits, or the time runs out)."""
    from sqlalchemy import inspect

    from bot.db.session import get_engine
    from bot.services.redaction import EVENTS_TABLE

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.process and child.process.poll() is None:
        if inspect(get_engine()).has_table(EVENTS_TABLE):
            return
        time.sleep(0.25)


class Supervisor:
    """Starts the children, restarts one that dies, and stops all of them on a signal."""

    def __init__(self, settings: Settings, processes: list[Child]):
        self.settings = settings
        self.processes = processes
        self.stopping = threading.Event()

    def _housekeeping(self) -> None:
        """Deletes what is past its retention period now and then every RETENTION_RUN_HOURS, until stopped."""
        from bot.services import retention

        while not self.stopping.is_set():
            try:
                retention.purge_expired()
            except Exception as err:  # noqa: BLE001 - a failed clean-up is retried next time, never stops the service
                log.error("the retention clean-up failed (%s); it is tried again later", type(err).__name__)
            if self.stopping.wait(self.settings.retention_run_hours * 3600):
                return

    def _start_sms(self) -> None:
        """With an SMS provider: sends residents' notifications and takes in their opt-outs, until stopped."""
        from bot.notify.sms import sms_receiver, sms_sender
        from bot.notify.sms_outbox import SmsOutbox

        if self.settings.sms_provider == "none":
            return
        outbox = SmsOutbox(sms_sender(self.settings))
        threading.Thread(target=outbox.run, args=(self.stopping, self.settings.sms_poll_seconds),
                         name="sms-outbox", daemon=True).start()
        receiver = sms_receiver(self.settings)
        if receiver is not None:
            threading.Thread(target=outbox.listen, args=(receiver, self.stopping), name="sms-replies",
                             daemon=True).start()

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stopping.set()

    def _write_process_table(self) -> None:
        """Records the children's process ids (var/run/processes.json) for operators and tests."""
        write_json(self.settings.run_dir / "processes.json",
                   {c.name: c.process.pid for c in self.processes if c.process})

    def ready_url(self) -> str:
        """The health URL that answers 200 once everything is up."""
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}/healthz"

    def start_all(self) -> None:
        """Starts the children in order."""
        for index, child in enumerate(self.processes):
            child.start()
            if index == 0 and self.settings.rasa_workers > 1:
                # The first worker creates the tracker table before it loads its model (a few seconds, not the
                # whole start); the others start then and load their models alongside it.
                wait_for_tracker_tables(child)

    def banner(self, seconds: float) -> str:
        """What the operator reads once everything answers."""
        host, port = self.settings.gateway_host, self.settings.gateway_port
        return (
            f"\n便民助手 is ready after {seconds:.0f} s:\n"
            f"  chat page      http://{host}:{port}/\n"
            f"  health         http://{host}:{port}/healthz\n"
            f"  API docs       http://{host}:{port}/docs\n"
            f"  Rasa server    {self.settings.rasa_url()} (loopback, token required)\n"
            f"  action server  {self.settings.action_url}\n"
            "Press Ctrl-C to stop.\n"
        )

    def ports(self) -> list[tuple[str, int]]:
        """The addresses the children will listen on."""
        settings = self.settings
        rasa = [(settings.rasa_host, settings.rasa_port + worker) for worker in range(settings.rasa_workers)]
        return [*rasa, (settings.action_host, settings.action_port), (settings.gateway_host, settings.gateway_port)]

    def held_ports(self) -> list[str]:
        """A sentence for each port that is taken already, naming the process that holds it."""
        problems = []
        for host, port in self.ports():
            if not is_free(host, port):
                found = holder(port)
                problems.append(describe(found) if found else f"port {port} on {host} cannot be used")
        return problems

    def run(self) -> int:
        """Runs until a signal; returns the exit code."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        held = self.held_ports()
        if held:
            for problem in held:
                log.error("cannot start: %s", problem)
            return 1
        started = time.monotonic()
        try:
            self.start_all()
            self._write_process_table()
            if not wait_until_healthy(self.ready_url(), self.processes):
                log.error("the assistant did not become healthy; see the logs above")
                return 1
            print(self.banner(time.monotonic() - started), flush=True)
            threading.Thread(target=self._housekeeping, name="retention", daemon=True).start()
            self._start_sms()
            while not self.stopping.wait(0.5):
                for child in self.processes:
                    if child.process and child.process.poll() is not None:
                        self._restart(child)
            return 0
        finally:
            self.stop_all()
            log.info("all processes stopped")

    def stop_all(self) -> None:
        """Stops the children, the last started first."""
        for child in reversed(self.processes):
            child.stop()

    def _restart(self, child: Child) -> None:
        code = child.process.returncode if child.process else None
        backoff = min(MAX_BACKOFF_SECONDS, 2 ** min(child.restarts, 5))
        if time.monotonic() - child.started_at > 60:
            child.restarts, backoff = 0, 1
        log.error("%s exited with code %s; restarting in %s s (the other processes keep answering)",
                  child.name, code, backoff)
        # Its workers may live on (a killed server's Sanic worker still holds the port): they go too.
        child.end_group()
        if self.stopping.wait(backoff):
            return
        child.restarts += 1
        child.start()
        self._write_process_table()


def write_json(path: Path, value: object) -> None:
    """Writes a JSON file aside and renames it, so a reader never sees a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(json.dumps(value), encoding="utf-8")
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `make run`."""
    parser = argparse.ArgumentParser(description="Runs the Bianmin assistant (Rasa, actions, gateway).")
    parser.add_argument("--skip-prepare", action="store_true", help="do not migrate, build or train first")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    created = ensure_key_file(settings)
    if created:
        log.info("no field encryption key was configured: created %s (mode 0600); keep it with the database", created)
    if args.skip_prepare:
        try:
            model = prepared_model(settings)
        except ConfigurationError as err:
            log.error("%s", err)
            return 1
    else:
        model = prepare(settings)
    if created:
        # A database from before keys were required was encrypted under the published placeholder.
        rotate_keys(settings, new_key=False)
    return Supervisor(settings, children(settings, model)).run()


if __name__ == "__main__":
    sys.exit(main())
