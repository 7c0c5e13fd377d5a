"""`make cluster` for real: HAProxy, 2 replicas of each server, its own PostgreSQL and Redis started by the cluster.

A replica killed with SIGKILL is restarted and listed anew in cluster.json; the
conversations it was serving go on with their context on the other replicas.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx
import pytest
import yaml

from bot.settings import REPO_ROOT

pytestmark = [pytest.mark.stack, pytest.mark.cluster]

START_TIMEOUT_SECONDS = 420
MATERIALS = yaml.safe_load((REPO_ROOT / "knowledge_base/services/senior_allowance.yml").read_text("utf-8"))[
    "materials_summary"]
FEES = yaml.safe_load((REPO_ROOT / "knowledge_base/services/senior_allowance.yml").read_text("utf-8"))["fees"][
    "summary"]


@dataclass
class Cluster:
    """A running `make cluster` on test ports."""

    base_url: str
    run_dir: Path
    process: subprocess.Popen
    log_path: Path
    tokens: dict[str, str]

    def chat(self, conversation_id: str, text: str) -> dict:
        """One turn through the balancer; fails the test on anything but 200."""
        headers = {"X-Conversation-Token": self.tokens[conversation_id]} if conversation_id in self.tokens else {}
        response = httpx.post(f"{self.base_url}/api/chat", json={"conversation_id": conversation_id, "text": text},
                              headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        if body.get("conversation_token"):
            self.tokens[conversation_id] = body["conversation_token"]
        return body

    def table(self) -> list[dict]:
        """var/run/cluster.json."""
        return json.loads((self.run_dir / "cluster.json").read_text())

    def health(self) -> httpx.Response:
        """The cluster's /healthz through the balancer."""
        return httpx.get(f"{self.base_url}/healthz", timeout=10)

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> dict:
        """Waits until the cluster's /healthz is 200; returns its body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the cluster exited; log:\n{self.log_path.read_text()[-4000:]}")
            try:
                response = self.health()
                if response.status_code == 200:
                    return response.json()
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"not ready after {timeout} s; log:\n{self.log_path.read_text()[-4000:]}")

    def kill(self, role: str) -> tuple[int, str]:
        """SIGKILL to one replica of `role` (its whole process group, as a crash); returns its pid and address."""
        victim = next(entry for entry in self.table() if entry["role"] == role)
        os.killpg(victim["pid"], signal.SIGKILL)
        return victim["pid"], victim["address"]

    def stop(self) -> None:
        """Ctrl-C, then wait for everything to end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A cluster on ports of its own, with a PostgreSQL and a Redis it starts itself (never the machine's)."""
    # Not under pytest's private temporary folder: PostgreSQL runs as its own account and must reach its data.
    workdir = Path(tempfile.mkdtemp(prefix="bianmin-cluster-"))
    workdir.chmod(0o755)
    base = 20000 + 100 * (5 + int(os.environ.get("TEST_PORT_OFFSET", "0")))
    env = {
        **os.environ,
        "CLUSTER_PORT": str(base), "GATEWAY_PORT": str(base + 10), "ACTION_PORT": str(base + 20),
        "RASA_PORT": str(base + 30),
        "DATABASE_URL": f"postgresql://127.0.0.1:{base + 40}/bianmin",
        "REDIS_URL": f"redis://127.0.0.1:{base + 41}/0",
        "RUN_DIR": str(workdir / "run"), "CHAT_TIMEOUT_SECONDS": "8", "LOG_LEVEL": "INFO",
    }
    log_path = workdir / "cluster.log"
    # Training (only when the training data changed) may take many minutes: not part of the start time. This
    # builds the inputs and the model only; the cluster migrates its own database once it has started it.
    subprocess.run([sys.executable, "-c", "from bot.engine.build import ensure_model, write_training_inputs; "
                    "from bot.settings import get_settings as s; write_training_inputs(s().knowledge_base_dir); "
                    "ensure_model(s())"], cwd=REPO_ROOT, env=env, check=True, timeout=3600,
                   stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    process = subprocess.Popen([sys.executable, "-m", "bot.cluster.run"], cwd=REPO_ROOT, env=env,
                               stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    running = Cluster(f"http://127.0.0.1:{base}", workdir / "run", process, log_path, {})
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
        # Our own PostgreSQL and Redis stopped with the cluster: nothing listens on their ports any more.
        for port in (base + 40, base + 41):
            assert _free(port), f"port {port} is still held after the cluster stopped"
        shutil.rmtree(workdir, ignore_errors=True)


def _free(port: int) -> bool:
    from bot.process.ports import is_free

    return is_free("127.0.0.1", port)


def _wait_replaced(cluster: Cluster, pid: int, address: str, timeout: float = 240) -> None:
    """Waits until cluster.json lists a new process at `address` and the cluster is ready again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = next(e for e in cluster.table() if e["address"] == address)
        if entry["pid"] != pid:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"{address} was not restarted")
    while time.monotonic() < deadline:
        body = cluster.wait_ready()
        if all(r["health"] == "ok" for r in body["replicas"]):
            return
        time.sleep(1)
    raise AssertionError(f"the restarted {address} did not become healthy: {body}")


def test_the_cluster_lists_its_processes_and_names_each_replicas_health(cluster):
    table = cluster.table()
    roles = [entry["role"] for entry in table]
    assert roles.count("balancer") == 1 and all(roles.count(r) >= 2 for r in ("gateway", "rasa", "actions"))
    for entry in table:
        os.kill(entry["pid"], 0)  # each listed process runs
    body = cluster.wait_ready()
    assert body["status"] == "ok"
    assert {(r["role"], r["address"], r["pid"]) for r in body["replicas"]} == {
        (e["role"], e["address"], e["pid"]) for e in table}
    assert body["components"]["database"] == "ok" and body["components"]["redis"] == "ok"


@pytest.mark.parametrize("role", ["gateway", "rasa", "actions"])
def test_a_killed_replica_is_restarted_and_its_conversations_go_on(cluster, role):
    conversations = [f"k-{role}-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    for conversation_id in conversations:
        cluster.chat(conversation_id, "高龄津贴怎么申请")
    pid, address = cluster.kill(role)
    # Right after the crash every conversation (some of them on the killed replica) keeps its context.
    for conversation_id in conversations:
        assert MATERIALS in "\n".join(m["text"] for m in cluster.chat(conversation_id, "要带什么")["messages"])
    _wait_replaced(cluster, pid, address)
    for conversation_id in conversations:
        assert FEES in "\n".join(m["text"] for m in cluster.chat(conversation_id, "要交钱吗")["messages"])


HOTLINE = str(yaml.safe_load((REPO_ROOT / "knowledge_base" / "city.yml").read_text("utf-8"))["hotline"])


class Traffic:
    """Residents asking follow-ups in a loop from a thread; every answer's status and text is kept."""

    def __init__(self, cluster: Cluster, conversations: list[str]) -> None:
        self.cluster, self.conversations = cluster, conversations
        self.answers: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                for conversation_id in self.conversations:
                    token = self.cluster.tokens.get(conversation_id)
                    response = client.post(f"{self.cluster.base_url}/api/chat",
                                           json={"conversation_id": conversation_id, "text": "要带什么"},
                                           headers={"X-Conversation-Token": token} if token else {})
                    text = "\n".join(m["text"] for m in response.json().get("messages", [])) \
                        if response.headers.get("content-type", "").startswith("application/json") else response.text
                    self.answers.append((response.status_code, text))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _store_pid(cluster: Cluster, name: str) -> int:
    return json.loads((cluster.run_dir / "processes.json").read_text())[name]


@pytest.mark.parametrize("store", ["redis", "postgres"])
def test_while_redis_or_postgresql_is_away_for_10_s_every_turn_gets_a_polite_answer(cluster, store):
    conversations = [f"s-{store}-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for conversation_id in conversations:
        cluster.chat(conversation_id, "高龄津贴怎么申请")
    with Traffic(cluster, conversations) as traffic:
        time.sleep(2)
        # Killed again each time the supervisor brings it back, for 10 s: an outage, not a blip.
        killed: set[int] = set()
        outage_ends = time.monotonic() + 10
        while time.monotonic() < outage_ends:
            pid = _store_pid(cluster, store)
            if pid not in killed:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.2)
        deadline = time.monotonic() + 120
        while _store_pid(cluster, store) in killed and time.monotonic() < deadline:
            time.sleep(0.5)
        cluster.wait_ready()
        time.sleep(2)
    assert traffic.answers, "no turn was sent during the outage"
    server_errors = [a for a in traffic.answers if a[0] >= 500]
    assert not server_errors, f"{len(server_errors)} of {len(traffic.answers)} turns got a 5xx: {server_errors[:3]}"
    assert all(MATERIALS in text or HOTLINE in text for _, text in traffic.answers), \
        [text for _, text in traffic.answers if MATERIALS not in text and HOTLINE not in text][:3]
    for conversation_id in conversations:
        assert FEES in "\n".join(m["text"] for m in cluster.chat(conversation_id, "要交钱吗")["messages"])
