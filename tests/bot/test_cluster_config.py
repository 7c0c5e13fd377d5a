"""The cluster's pieces that need no running servers: the balancer's configuration, Rasa failover, the database."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess

import httpx
import pytest

from bot.cluster.backing import DEFAULT_DATABASE_URL, cluster_database_url
from bot.cluster.balancer import haproxy_config
from bot.cluster.run import fronts
from bot.engine.client import RasaClient
from bot.errors import EngineUnavailable
from bot.settings import load_settings


def test_the_balancer_configuration_is_valid_and_checks_every_replica(tmp_path):
    settings = load_settings(cluster_port=18080, gateway_port=18000, action_port=18055, cluster_replicas=3)
    config = haproxy_config(fronts(settings))
    assert "bind 127.0.0.1:18080" in config and "bind 127.0.0.1:18055" in config
    for address in ("127.0.0.1:18000", "127.0.0.1:18001", "127.0.0.1:18002",
                    "127.0.0.1:18056", "127.0.0.1:18057", "127.0.0.1:18058"):
        assert f"{address} check" in config
    # Gateways stay in rotation while the database is away (they answer politely); /healthz goes to the supervisor.
    assert "option httpchk GET /livez" in config and "server supervisor 127.0.0.1:18081" in config
    # A request that reached a replica is never sent twice.
    assert "retry-on conn-failure" in config
    # Per-address quotas see each resident's address, not the balancer's.
    assert "option forwardfor" in config
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    checked = subprocess.run([haproxy, "-c", "-f", str(path)], check=False, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_replicas_share_postgresql_not_an_sqlite_file():
    assert cluster_database_url("sqlite:///var/bianmin.db") == DEFAULT_DATABASE_URL
    assert cluster_database_url("postgresql://u@db:5432/x") == "postgresql://u@db:5432/x"


def _transport(down_port: int) -> tuple[httpx.MockTransport, list[int]]:
    reached: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.port == down_port:
            raise httpx.ConnectError("connection refused", request=request)
        reached.append(request.url.port)
        return httpx.Response(200, json={"messages": [{"text": "好的"}], "state": None})

    return httpx.MockTransport(handle), reached


def test_a_conversation_whose_rasa_is_down_goes_to_another_with_the_shared_lock():
    settings = load_settings(rasa_port=15005, rasa_workers=2, lock_store="redis")
    owner = httpx.URL(RasaClient(settings).worker_for("c-1")).port
    transport, reached = _transport(down_port=owner)
    client = RasaClient(settings, transport=transport)
    turn = asyncio.run(client.send_message("c-1", "你好", {}))
    assert turn.replies == [{"text": "好的"}]
    assert reached == [15005 if owner == 15006 else 15006]


def test_without_the_shared_lock_a_conversation_stays_with_its_rasa():
    settings = load_settings(rasa_port=15005, rasa_workers=2, lock_store="memory")
    owner = httpx.URL(RasaClient(settings).worker_for("c-1")).port
    transport, reached = _transport(down_port=owner)
    with pytest.raises(EngineUnavailable):
        asyncio.run(RasaClient(settings, transport=transport).send_message("c-1", "你好", {}))
    assert reached == []


def test_a_turn_dropped_by_a_rasa_that_died_goes_to_another():
    # The owner's connection breaks with the turn in hand and nothing listens there any more: the turn was not
    # saved, so the next worker takes it. (Ports 1 and 2 on loopback: nothing listens on either.)
    settings = load_settings(rasa_port=1, rasa_workers=2, lock_store="redis")
    owner = httpx.URL(RasaClient(settings).worker_for("c-2")).port
    reached: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.port == owner:
            raise httpx.ReadError("connection reset", request=request)
        reached.append(request.url.port)
        return httpx.Response(200, json={"messages": [{"text": "好的"}], "state": None})

    client = RasaClient(settings, transport=httpx.MockTransport(handle))
    assert asyncio.run(client.send_message("c-2", "你好", {})).replies == [{"text": "好的"}]
    assert reached == [3 - owner]


def test_a_turn_dropped_by_a_rasa_that_still_listens_is_not_sent_twice():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        settings = load_settings(rasa_port=port, rasa_workers=2, lock_store="redis")
        conversation_id = next(c for c in (f"c-{i}" for i in range(100))
                               if httpx.URL(RasaClient(settings).worker_for(c)).port == port)
        reached: list[int] = []

        def handle(request: httpx.Request) -> httpx.Response:
            reached.append(request.url.port)
            raise httpx.ReadError("connection reset", request=request)

        client = RasaClient(settings, transport=httpx.MockTransport(handle))
        with pytest.raises(EngineUnavailable):
            asyncio.run(client.send_message(conversation_id, "你好", {}))
    assert reached == [port]
