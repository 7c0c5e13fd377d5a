"""`make cluster` for real: HAProxy, 2 replicas of each server, its own PostgreSQL and Redis started by the cluster.

A replica killed with SIGKILL is restarted and listed anew in cluster.json; the
conversations it was serving go on with their context on the other replicas.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx
import pytest
import yaml
from sqlalchemy import Engine, text

from bot import texts
from bot.db.session import get_engine
from bot.settings import REPO_ROOT
from tests.stack.conftest import PORT_OFFSETS

pytestmark = [pytest.mark.stack, pytest.mark.cluster]

START_TIMEOUT_SECONDS = 420
MATERIALS = yaml.safe_load((REPO_ROOT / "knowledge_base/services/senior_allowance.yml").read_text("utf-8"))[
    "materials_summary"]
FEES = yaml.safe_load((REPO_ROOT / "knowledge_base/services/senior_allowance.yml").read_text("utf-8"))["fees"][
    "summary"]
HOTLINE = str(yaml.safe_load((REPO_ROOT / "knowledge_base" / "city.yml").read_text("utf-8"))["hotline"])
FALLBACK = texts.text("utter_engine_unavailable", hotline=HOTLINE)


def is_fallback(body: dict) -> bool:
    """Whether an answer is the polite one given while the engine or the database is away."""
    return [m["text"] for m in body.get("messages", [])] == [FALLBACK]


@dataclass
class Cluster:
    """A running `make cluster` on test ports."""

    base_url: str
    run_dir: Path
    process: subprocess.Popen
    log_path: Path
    tokens: dict[str, str]
    database_url: str
    server_errors: list[int] = field(default_factory=list)

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

    def send(self, conversation_id: str, text: str, attempts: int = 8) -> dict:
        """One turn as a careful client sends it: one message id, the same message again while no real answer
        came (a broken connection, a 5xx, the polite fallback), a few seconds apart. Fails after `attempts`."""
        message_id = uuid.uuid4().hex
        seen: list[str | int] = []
        for _ in range(attempts):
            headers = {"X-Conversation-Token": self.tokens[conversation_id]} if conversation_id in self.tokens else {}
            try:
                response = httpx.post(f"{self.base_url}/api/chat", headers=headers, timeout=30, json={
                    "conversation_id": conversation_id, "text": text, "message_id": message_id})
            except httpx.HTTPError as err:
                seen.append(type(err).__name__)
            else:
                if response.status_code >= 500:
                    self.server_errors.append(response.status_code)
                body = response.json() if response.status_code == 200 else {}
                if body.get("conversation_token"):
                    self.tokens[conversation_id] = body["conversation_token"]
                if body and not is_fallback(body):
                    return body
                seen.append(response.status_code if not body else "fallback")
            time.sleep(2)
        raise AssertionError(f"no answer to {text!r} in {conversation_id} after {attempts} attempts: {seen}")

    def database(self) -> Engine:
        """The cluster's PostgreSQL."""
        return get_engine(self.database_url)

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
    base = 20000 + 100 * (PORT_OFFSETS["cluster"] + int(os.environ.get("TEST_PORT_OFFSET", "0")))
    env = {
        **os.environ,
        "CLUSTER_PORT": str(base), "GATEWAY_PORT": str(base + 10), "ACTION_PORT": str(base + 20),
        "RASA_PORT": str(base + 30),
        "DATABASE_URL": f"postgresql://127.0.0.1:{base + 40}/bianmin",
        "REDIS_URL": f"redis://127.0.0.1:{base + 41}/0",
        "RUN_DIR": str(workdir / "run"), "CHAT_TIMEOUT_SECONDS": "8", "LOG_LEVEL": "INFO",
        # Every simulated resident comes from 127.0.0.1: the per-address quotas of a real crowd do not apply.
        "RATE_LIMIT_NEW_CONVERSATIONS_PER_CLIENT": "1000/minute", "RATE_LIMIT_CHAT_PER_CLIENT": "6000/minute",
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
    running = Cluster(f"http://127.0.0.1:{base}", workdir / "run", process, log_path, {}, env["DATABASE_URL"])
    try:
        running.wait_ready()
        # The supervisor sees the cluster ready a moment after a client can: a process that dies before then
        # ends the start rather than being restarted, so no test kills anything until it says so.
        deadline = time.monotonic() + 60
        while "cluster is ready" not in log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "the supervisor never said the cluster is ready"
            time.sleep(0.5)
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


def test_while_redis_is_away_for_10_s_every_turn_gets_a_polite_answer(cluster):
    store = "redis"
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


# ---- forms and bookings through faults ------------------------------------------------------------------------

NAMES = ["张建国", "李秀兰", "王志强", "赵丽华"]
FORM_FIELDS = ["full_name", "id_number", "phone", "address", "arrival_date", "employer_or_school"]


def resident(i: int) -> dict[str, str]:
    """A person of their own: name, a valid ID number and a phone no other resident here has, their own address."""
    n = uuid.uuid4().int
    body = f"4403031985{n % 9 + 1:02d}{n // 10 % 28 + 1:02d}{n // 1000 % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return {"full_name": NAMES[i % len(NAMES)], "id_number": body + check, "phone": f"186{n // 10**7 % 10**8:08d}",
            "address": f"东城区幸福路{10 + i}号{n % 9 + 1}单元{n % 500 + 101}", "arrival_date": f"2023年{i % 12 + 1}月1日",
            "employer_or_school": f"示例市{'宏达建筑公司' if i % 2 else '第{i}中学'}".format(i=i)}


def _text(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def _submitted(cluster: Cluster, conversation_ids: list[str]) -> dict[str, list[str]]:
    with cluster.database().connect() as connection:
        rows = connection.execute(text("SELECT conversation_id, reference FROM applications "
                                       "WHERE status = 'submitted' AND conversation_id = ANY(:ids)"),
                                  {"ids": conversation_ids}).all()
    found: dict[str, list[str]] = {c: [] for c in conversation_ids}
    for conversation_id, reference in rows:
        found[conversation_id].append(reference)
    return found


@pytest.mark.parametrize("role", ["gateway", "rasa", "actions"])
def test_a_form_in_progress_keeps_every_field_given_before_a_kill(cluster, role):
    people = {f"f-{role}-{uuid.uuid4().hex[:8]}": resident(i) for i in range(3)}
    given = FORM_FIELDS[:3]
    for conversation_id, person in people.items():
        reply = cluster.send(conversation_id, "帮我办居住证")
        for slot in given:
            assert reply["state"]["requested_slot"] == slot, _text(reply)
            reply = cluster.send(conversation_id, person[slot])
        assert reply["state"]["requested_slot"] == "address"
    pid, address = cluster.kill(role)
    summaries = {}
    for conversation_id, person in people.items():
        # Field by field: each answer moves to the next field, so none given before the kill is asked again.
        for slot, following in zip(FORM_FIELDS[3:], [*FORM_FIELDS[4:], "application_confirmed"], strict=True):
            reply = cluster.send(conversation_id, person[slot])
            assert reply["state"]["form"] == "residence_permit", _text(reply)
            assert reply["state"]["requested_slot"] == following, (slot, _text(reply))
        summaries[conversation_id] = _text(reply)
    for conversation_id, person in people.items():
        # The summary shows every field as this person gave it (numbers by their last four digits).
        summary = summaries[conversation_id]
        for slot in FORM_FIELDS:
            shown = person[slot][-4:] if slot in ("id_number", "phone") else person[slot]
            assert shown in summary, f"{slot} of {conversation_id} ({shown}) is not in the summary: {summary}"
        assert all(other["full_name"] not in summary for other in people.values()
                   if other["full_name"] != person["full_name"]), "another resident's answer got in"
        reply = cluster.send(conversation_id, "确认")
        assert reply["state"]["application_reference"], _text(reply)
    submitted = _submitted(cluster, list(people))
    assert all(len(refs) == 1 for refs in submitted.values()), submitted
    _wait_replaced(cluster, pid, address)


class Bookers:
    """Residents booking a visit from threads, each in a new conversation, until told to stop.

    Each step is sent as a careful client does (`Cluster.send`); the confirmation codes the clients were given
    are kept per conversation, and every booking that could not be finished is kept as a failure.
    """

    def __init__(self, cluster: Cluster, prefix: str, threads: int = 3) -> None:
        self.cluster, self.prefix = cluster, prefix
        self.confirmed: dict[str, str] = {}
        self.started: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, worker: int) -> None:
        while not self._stop.is_set():
            conversation_id = f"{self.prefix}-{uuid.uuid4().hex[:10]}"
            self.started.append(conversation_id)
            try:
                self.confirmed[conversation_id] = self._book(conversation_id, worker)
            except AssertionError as err:
                self.failures.append(str(err)[:300])

    def _book(self, conversation_id: str, worker: int) -> str:
        send = self.cluster.send
        reply = send(conversation_id, '/book_appointment{"service": "social_security_card"}')
        assert reply["state"]["requested_slot"] == "appointment_district", _text(reply)
        # Each booker in a district of its own, so that they rarely want the same seat at the same moment.
        districts = [b["payload"] for m in reply["messages"] for b in m["buttons"] if "district" in b["payload"]]
        assert districts, _text(reply)
        reply = send(conversation_id, districts[worker % len(districts)])
        answers = {"appointment_name": NAMES[worker % len(NAMES)], "appointment_phone": f"139{uuid.uuid4().int % 10**8:08d}"}
        # As a resident would: a time someone else has just taken is answered by choosing another one offered.
        for _ in range(8):
            if reply["state"]["appointment_reference"]:
                break
            asked = reply["state"]["requested_slot"]
            if asked == "appointment_slot":
                slots = [b["payload"] for m in reply["messages"] for b in m["buttons"]
                         if "appointment_slot" in b["payload"]]
                assert slots, _text(reply)
                reply = send(conversation_id, random.choice(slots))
            else:
                assert asked in answers, _text(reply)
                reply = send(conversation_id, answers[asked])
        reference = reply["state"]["appointment_reference"]
        assert reference and reference in _text(reply), _text(reply)
        return reference

    def booked_rows(self) -> dict[str, list[str]]:
        """The bookings in the database of every conversation these residents started."""
        with self.cluster.database().connect() as connection:
            rows = connection.execute(text("SELECT conversation_id, reference FROM appointments "
                                           "WHERE status = 'booked' AND conversation_id LIKE :prefix"),
                                      {"prefix": f"{self.prefix}-%"}).all()
        found: dict[str, list[str]] = {}
        for conversation_id, reference in rows:
            found.setdefault(conversation_id, []).append(reference)
        return found

    def check(self) -> None:
        """Every booking finished, each once, and the database holds exactly the ones the clients were given."""
        assert not self.failures, self.failures[:3]
        assert self.confirmed, "no booking was made"
        rows = self.booked_rows()
        doubled = {c: refs for c, refs in rows.items() if len(refs) > 1}
        assert not doubled, f"bookings doubled: {doubled}"
        assert {c: refs[0] for c, refs in rows.items()} == self.confirmed

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=300)


@pytest.mark.parametrize("role", ["gateway", "rasa", "actions"])
def test_bookings_made_while_a_replica_is_killed_are_neither_lost_nor_doubled(cluster, role):
    errors_before = len(cluster.server_errors)
    with Bookers(cluster, f"b-{role}-{uuid.uuid4().hex[:6]}") as bookers:
        time.sleep(3)
        pid, address = cluster.kill(role)
        _wait_replaced(cluster, pid, address)
        time.sleep(2)
    bookers.check()
    print(f"{role} killed: {len(bookers.confirmed)} bookings, "
          f"{len(cluster.server_errors) - errors_before} 5xx answers retried")


def test_postgresql_stopped_for_10_s_under_traffic_answers_politely_loses_nothing_and_recovers(cluster):
    conversations = [f"p-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for conversation_id in conversations:
        cluster.chat(conversation_id, "高龄津贴怎么申请")
    errors_before = len(cluster.server_errors)
    postgres = _store_pid(cluster, "postgres")
    with Traffic(cluster, conversations) as traffic, Bookers(cluster, f"b-pg-{uuid.uuid4().hex[:6]}") as bookers:
        time.sleep(3)
        # Stopped, not killed: every connection to it hangs for 10 s, then it goes on where it was.
        os.killpg(postgres, signal.SIGSTOP)
        try:
            time.sleep(10)
        finally:
            os.killpg(postgres, signal.SIGCONT)
        cluster.wait_ready()
        time.sleep(5)
    assert _store_pid(cluster, "postgres") == postgres, "PostgreSQL was not restarted: it recovered by itself"
    assert traffic.answers, "no turn was sent during the outage"
    server_errors = [a for a in traffic.answers if a[0] >= 500] + cluster.server_errors[errors_before:]
    assert not server_errors, f"{len(server_errors)} 5xx: {server_errors[:3]}"
    assert all(MATERIALS in answer or HOTLINE in answer for _, answer in traffic.answers), \
        [answer for _, answer in traffic.answers if MATERIALS not in answer and HOTLINE not in answer][:3]
    bookers.check()
    for conversation_id in conversations:
        assert FEES in _text(cluster.chat(conversation_id, "要交钱吗"))
    print(f"PostgreSQL stopped 10 s: {len(traffic.answers)} follow-ups "
          f"({sum(HOTLINE in a for _, a in traffic.answers)} polite fallbacks), {len(bookers.confirmed)} bookings")
