"""The gateway's client of the Rasa server: send a message, read the conversation state, parse text.

A message goes to the gateway channel (`bot/rasa_plugins/channel.py`), which answers with
the replies and the state of the tracker Rasa has just saved, in one round trip.

Several Rasa worker processes can run side by side; a conversation always goes
to the same worker (chosen by a stable hash of its id), so each worker's lock
keeps one conversation's turns in order without a shared lock store. With the
Redis lock store (LOCK_STORE=redis, as `make cluster` runs) any worker can
continue any conversation, so a message whose worker cannot be reached goes to
the next one instead.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot import tls
from bot.errors import EngineUnavailable, MessageIdReused
from bot.settings import Settings


# How the gateway channel refuses a message id it has seen with another text (bot/rasa_plugins/channel.py).
MESSAGE_ID_REUSED_STATUS = 409


@dataclass(frozen=True)
class ConversationState:
    """What the chat API reports about a conversation, read from Rasa's tracker."""

    form: str | None
    requested_slot: str | None
    slots: dict[str, Any]

    @classmethod
    def from_tracker(cls, active_loop: str | None, slots: dict[str, Any]) -> ConversationState:
        """The state of a tracker: its active loop, and the slot asked for while a loop is active."""
        loop = active_loop or None
        return cls(form=loop, requested_slot=slots.get("requested_slot") if loop else None, slots=slots)


@dataclass(frozen=True)
class EngineTurn:
    """The assistant's replies to one message and the conversation state after it (None if Rasa had none)."""

    replies: list[dict[str, Any]]
    state: ConversationState | None


class _Unreachable(EngineUnavailable):
    """No connection could be made: the request never reached the engine, so another worker may take it."""


class _Dropped(EngineUnavailable):
    """The connection broke before an answer came (the worker died with the turn in hand, or before it)."""


class RasaClient:
    """Talks to the Rasa HTTP API (the gateway channel for messages, tracker and parse endpoints with the token)."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        self._settings = settings
        self._workers = [settings.rasa_url(i) for i in range(settings.rasa_workers)]
        # Parsed once: building a request from a string parses the URL each time, a tenth of the gateway's work.
        self._message_urls = [httpx.URL(f"{worker}/webhooks/gateway/webhook") for worker in self._workers]
        # Requests go straight to the transport: httpx's client layer (auth, redirects, cookies, hooks) is not
        # needed on loopback and costs as much CPU per request as the transport itself.
        self._transport = transport or httpx.AsyncHTTPTransport(
            verify=tls.client_context(), limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        self._timeout = httpx.Timeout(settings.chat_timeout_seconds).as_dict()
        # Only a lock shared by every worker keeps one conversation's turns in order across workers.
        self._failover = settings.lock_store == "redis"

    def _owner(self, conversation_id: str) -> int:
        return zlib.crc32(conversation_id.encode()) % len(self._workers)

    def worker_for(self, conversation_id: str) -> str:
        """The Rasa worker that owns this conversation."""
        return self._workers[self._owner(conversation_id)]

    def _candidates(self, conversation_id: str) -> list[int]:
        """The owner first, then (with failover) the other workers in a fixed order."""
        owner = self._owner(conversation_id)
        count = len(self._workers) if self._failover else 1
        return [(owner + step) % len(self._workers) for step in range(count)]

    async def close(self) -> None:
        """Closes the connection pool."""
        await self._transport.aclose()

    async def _request(self, method: str, url: str | httpx.URL, *, json: Any = None,
                       params: dict[str, str] | None = None, timeout: float | None = None) -> Any:
        request = httpx.Request(method, url, params=params, json=json,
                                extensions={"timeout": httpx.Timeout(timeout).as_dict() if timeout else self._timeout})
        try:
            response = await self._transport.handle_async_request(request)
            await response.aread()
            if response.status_code == MESSAGE_ID_REUSED_STATUS:
                raise MessageIdReused()
            if response.status_code != 200:
                raise EngineUnavailable(f"the dialogue engine answered {response.status_code}")
            return response.json()
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            raise _Unreachable(f"the dialogue engine cannot be reached: {type(err).__name__}") from err
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as err:
            raise _Dropped(f"the dialogue engine dropped the connection: {type(err).__name__}") from err
        except (httpx.HTTPError, ValueError) as err:
            raise EngineUnavailable(f"the dialogue engine did not answer: {type(err).__name__}") from err

    async def send_message(self, conversation_id: str, text: str, metadata: dict[str, Any],
                           message_id: str | None = None) -> EngineTurn:
        """Sends one message of the person; returns the assistant's replies and the state after the turn.

        The message id (the client's, else a new one) names this turn for the engine: the same message sent
        again, by the client or to the next worker after one died with it, is answered without running twice.
        MessageIdReused when the engine has the id from a message of another text (its `text_digests` metadata).
        """
        body = {"sender": conversation_id, "message": text, "metadata": metadata,
                "message_id": message_id or uuid.uuid4().hex}
        answer = await self._first_reachable(
            conversation_id, lambda worker: self._request("POST", self._message_urls[worker], json=body))
        if not isinstance(answer, dict) or not isinstance(answer.get("messages"), list):
            raise EngineUnavailable("the dialogue engine answered in an unknown shape")
        state = answer.get("state")
        if not isinstance(state, dict):
            return EngineTurn(answer["messages"], None)
        return EngineTurn(answer["messages"],
                          ConversationState.from_tracker(state.get("active_loop"), state.get("slots") or {}))

    async def state(self, conversation_id: str) -> ConversationState:
        """The active form, the slot being asked for, and all slots."""
        params = {"include_events": "NONE", "token": self._settings.rasa_token}
        tracker = await self._first_reachable(conversation_id, lambda worker: self._request(
            "GET", f"{self._workers[worker]}/conversations/{conversation_id}/tracker", params=params))
        return ConversationState.from_tracker((tracker.get("active_loop") or {}).get("name"),
                                              tracker.get("slots") or {})

    async def _first_reachable(self, conversation_id: str, call: Callable[[int], Awaitable[Any]]) -> Any:
        """`call` on the conversation's worker, or on the next one while a worker cannot be reached."""
        candidates = self._candidates(conversation_id)
        for worker in candidates[:-1]:
            try:
                return await call(worker)
            except _Unreachable:
                continue
            except _Dropped:
                # A worker killed with the turn in hand saved nothing (Rasa saves the tracker once the turn is
                # done), so the turn may go to the next one; a worker still listening may have done it: not resent.
                if await self._listening(worker):
                    raise
        return await call(candidates[-1])

    async def _listening(self, worker: int) -> bool:
        """True when the worker accepts a new connection."""
        url = httpx.URL(self._workers[worker])
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(url.host, url.port), timeout=1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def parse(self, text: str) -> dict[str, Any]:
        """The engine's reading of a text (intent, entities, ranking), without touching any conversation."""
        params = {"token": self._settings.rasa_token}
        return await self._first_reachable(text, lambda worker: self._request(
            "POST", f"{self._workers[worker]}/model/parse", json={"text": text}, params=params))

    async def healthy(self) -> bool:
        """True when every worker answers with a model loaded (with failover: when one does)."""
        answers = [await self._worker_ready(worker) for worker in self._workers]
        return any(answers) if self._failover else all(answers)

    async def _worker_ready(self, worker: str) -> bool:
        try:
            status = await self._request("GET", f"{worker}/status", params={"token": self._settings.rasa_token},
                                         timeout=2.0)
        except EngineUnavailable:
            return False
        return isinstance(status, dict) and bool(status.get("model_file"))
