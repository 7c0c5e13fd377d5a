"""A fake Rasa HTTP API for gateway tests: records what it receives and answers as configured."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

WEBHOOK = "/webhooks/gateway/webhook"


@dataclass
class FakeRasa:
    """Answers the gateway channel's webhook, tracker and parse endpoints; `down` makes every call fail to connect.

    `no_state` answers a message without the state, as the channel does while Rasa has no model loaded;
    `not_saved` answers 503 with no messages, as the channel does for a turn it did not save (a custom
    action failed in it); `during_turn` runs while a message is handled, as custom actions would (e.g.
    queueing a handoff). Like the channel (bot/rasa_plugins/channel.py), a message whose id it has handled
    is answered with the replies given then and the state as it is now, without running the turn again,
    unless nothing was said; the same id with other `text_digests` is refused with 409.
    """

    replies: list[dict[str, Any]] = field(default_factory=lambda: [{"recipient_id": "x", "text": "好的"}])
    slots: dict[str, Any] = field(default_factory=dict)
    active_loop: str | None = None
    parse_result: dict[str, Any] = field(default_factory=lambda: {
        "intent": {"name": "greet", "confidence": 0.99}, "entities": [], "intent_ranking": []})
    down: bool = False
    no_state: bool = False
    not_saved: bool = False
    during_turn: Callable[[], None] | None = None
    received: list[tuple[str, str, Any]] = field(default_factory=list)
    # (conversation, message id) → the text digests it came with and what was said after it.
    handled: dict[tuple[str, str | None], tuple[list[str], list[dict[str, Any]]]] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.received.append((request.method, request.url.path, body))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        slots = {"requested_slot": None, **self.slots}
        if request.url.path == WEBHOOK:
            state = {"active_loop": self.active_loop, "slots": slots}
            key, digests = (body["sender"], body.get("message_id")), (body.get("metadata") or {}).get("text_digests") or []
            if key[1] and key in self.handled:
                kept, said = self.handled[key]
                if kept and digests and not set(kept) & set(digests):
                    return httpx.Response(409, json={"error": "message_id_reused"})
                if said:
                    return httpx.Response(200, json={"messages": said, "state": state})
            self.turns.append(body)
            if self.during_turn:
                self.during_turn()
            if self.not_saved:
                return httpx.Response(503, json={"error": "the turn was not saved", "messages": []})
            if self.no_state:
                return httpx.Response(200, json={"messages": self.replies, "state": None})
            self.handled[key] = (digests, list(self.replies))
            return httpx.Response(200, json={"messages": self.replies, "state": state})
        if request.url.path.endswith("/tracker"):
            loop = {"name": self.active_loop} if self.active_loop else {}
            return httpx.Response(200, json={"slots": slots, "active_loop": loop})
        if request.url.path == "/model/parse":
            return httpx.Response(200, json={"text": body["text"], **self.parse_result})
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "fake.tar.gz"})
        return httpx.Response(404, json={})

    def transport(self) -> httpx.MockTransport:
        """An httpx transport that routes the real client's requests to this fake."""
        return httpx.MockTransport(self.handler)

    def messages_sent(self) -> list[dict[str, Any]]:
        """The bodies posted to the gateway channel's webhook."""
        return [body for method, path, body in self.received if path == WEBHOOK]

    def turns_run(self, conversation_id: str) -> list[dict[str, Any]]:
        """The bodies of the conversation's messages that ran a turn (not those answered from the record)."""
        return [body for body in self.turns if body["sender"] == conversation_id]

    def tracker_reads(self) -> int:
        """How many times the tracker was read."""
        return sum(1 for method, path, body in self.received if path.endswith("/tracker"))
