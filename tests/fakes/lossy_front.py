"""A front that loses answers: it passes each chat message on to the server behind it and, for every
`every`-th new message id, closes the connection instead of passing the answer back, as a connection
that breaks after the server has handled the message does. It records every attempt it passed on.

    with LossyFront("http://127.0.0.1:8000") as front:   # clients talk to front.url
        ...
    front.attempts
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx

TOKEN_HEADER = "X-Conversation-Token"


@dataclass(frozen=True)
class Attempt:
    """One request as the front passed it on, with the server's answer and whether the client got it."""

    conversation_id: str | None
    message_id: str | None
    text: str | None
    token: str | None
    status: int
    answer: dict[str, Any]
    delivered: bool


class LossyFront:
    """An HTTP front on 127.0.0.1 for POST requests that drops the answer to every `every`-th new message id."""

    def __init__(self, upstream: str, every: int = 3):
        self.upstream = upstream.rstrip("/")
        self.every = every
        self.attempts: list[Attempt] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where clients send their requests."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _loses(self, message_id: str | None) -> bool:
        """Whether the answer to this attempt is lost: the first attempt of every `every`-th new message id."""
        with self._lock:
            if not message_id or message_id in self._seen:
                return False
            self._seen.add(message_id)
            return len(self._seen) % self.every == 0

    def _pass_on(self, path: str, body: bytes, token: str | None) -> tuple[int, bytes, dict[str, Any]]:
        headers = {"Content-Type": "application/json", **({TOKEN_HEADER: token} if token else {})}
        response = httpx.post(self.upstream + path, content=body, headers=headers, timeout=60)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return response.status_code, response.content, answer if isinstance(answer, dict) else {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a browser and locust's requests session use it

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = self.headers.get(TOKEN_HEADER)
                sent = json.loads(body or b"{}")
                status, content, answer = front._pass_on(self.path, body, token)
                delivered = not front._loses(sent.get("message_id"))
                with front._lock:
                    front.attempts.append(Attempt(sent.get("conversation_id"), sent.get("message_id"),
                                                  sent.get("text"), token, status, answer, delivered))
                if not delivered:
                    self.close_connection = True  # no status line at all: the client sees the connection break
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                """Quiet: the attempts are the record."""

        return Handler
