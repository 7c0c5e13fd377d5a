"""The production configuration: PostgreSQL for everything, two Rasa workers, the Redis lock store.

Needs the PostgreSQL (127.0.0.1:5432, trust auth) and Redis (6379) servers that
these machines and CI run; skipped with the reason when one is not reachable.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from bot.settings import REPO_ROOT
from tests.stack.conftest import PORT_OFFSETS, start_stack

pytestmark = pytest.mark.stack

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def production_stack(tmp_path_factory):
    if not reachable("127.0.0.1", 5432) or not reachable("127.0.0.1", 6379):
        pytest.skip("PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 are needed for this test")
    name = f"bianmin_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    stack = start_stack(tmp_path_factory.mktemp("production"), port_offset=PORT_OFFSETS["production"],
                        database_url=url, lock_store="redis", rasa_workers="2")
    yield stack
    stack.stop()
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def summary(service: str, key: str) -> str:
    data = yaml.safe_load((REPO_ROOT / "knowledge_base" / "services" / f"{service}.yml").read_text("utf-8"))
    return data[key] if isinstance(data[key], str) else data[key]["summary"]


def test_conversations_on_both_workers_keep_their_context(production_stack):
    ids = [f"pg-{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
    for conversation in ids:
        production_stack.chat(conversation, "残疾证怎么办理")
    for conversation in ids:
        reply = production_stack.chat(conversation, "要带什么")
        assert summary("disability_certificate", "materials_summary") in reply["messages"][0]["text"]


def test_the_tracker_lives_in_postgresql(production_stack):
    conversation = f"pg-{uuid.uuid4().hex[:6]}"
    production_stack.chat(conversation, "你好")
    with psycopg.connect(production_stack.env["DATABASE_URL"]) as connection:
        count = connection.execute("SELECT count(*) FROM events WHERE sender_id = %s", (conversation,)).fetchone()[0]
    assert count > 0


def test_a_crashed_worker_comes_back_and_the_conversation_continues(production_stack):
    conversation = f"pg-{uuid.uuid4().hex[:6]}"
    production_stack.chat(conversation, "失业金怎么领")
    for name in ("rasa0", "rasa1"):
        production_stack.kill(name)
    production_stack.wait_healthy()
    reply = production_stack.chat(conversation, "多久能办好")
    assert summary("unemployment_benefit", "processing_time") in reply["messages"][0]["text"]


def test_stopping_leaves_no_process_behind(production_stack):
    pids = production_stack.pids()
    production_stack.stop()
    assert production_stack.process.returncode == 0
    alive = [name for name, pid in pids.items() if os.path.exists(f"/proc/{pid}") and
             "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert alive == []
