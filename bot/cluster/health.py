"""The cluster's /healthz (served by the supervisor, reached through the balancer): every replica's health.

200 once each role has a replica that answers and the database and Redis do, so
the cluster can serve every request; the body names each replica's health.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from bot.cluster.backing import answers
from bot.runner import Child

PROBE_TIMEOUT_SECONDS = 2.0
SERVING_ROLES = ("balancer", "gateway", "rasa", "actions")


def probe(child: Child, rasa_token: str) -> str:
    """'ok' when the replica answers its own health check, 'starting' while its process runs, else 'down'."""
    if not child.process or child.process.poll() is not None:
        return "down"
    host, _, port = child.address.rpartition(":")
    base = f"http://{child.address}"
    try:
        if child.role == "gateway":
            healthy = httpx.get(f"{base}/healthz", timeout=PROBE_TIMEOUT_SECONDS).status_code == 200
        elif child.role == "rasa":
            status = httpx.get(f"{base}/status", params={"token": rasa_token}, timeout=PROBE_TIMEOUT_SECONDS)
            healthy = status.status_code == 200 and bool(status.json().get("model_file"))
        elif child.role == "actions":
            healthy = httpx.get(f"{base}/health", timeout=PROBE_TIMEOUT_SECONDS).status_code == 200
        else:
            healthy = answers(host, int(port))
    except (httpx.HTTPError, ValueError):
        healthy = False
    return "ok" if healthy else "starting"


def report(processes: list[Child], rasa_token: str, backing: dict[str, str]) -> tuple[int, dict]:
    """The status code and body of the cluster's /healthz."""
    with ThreadPoolExecutor(max_workers=max(1, len(processes))) as pool:
        healths = list(pool.map(lambda child: probe(child, rasa_token), processes))
    replicas = [
        {"role": child.role, "address": child.address, "pid": child.process.pid if child.process else None,
         "health": health}
        for child, health in zip(processes, healths, strict=True) if child.role in SERVING_ROLES
    ]
    components = {
        role: "ok" if any(r["health"] == "ok" for r in replicas if r["role"] == role) else "down"
        for role in SERVING_ROLES
    }
    components.update(backing)
    ready = all(value == "ok" for value in components.values())
    body = {"status": "ok" if ready else "degraded", "components": components, "replicas": replicas}
    return (200 if ready else 503), body


def serve(address: str, respond: Callable[[], tuple[int, dict]]) -> ThreadingHTTPServer:
    """Serves GET /healthz on `address` from a daemon thread; returns the server (shut it down when done)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = respond() if self.path.split("?")[0] == "/healthz" else (
                404, {"error": {"code": "not_found", "message": "only /healthz is served here"}})
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:  # the balancer polls often; nothing worth a line
            pass

    host, _, port = address.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
