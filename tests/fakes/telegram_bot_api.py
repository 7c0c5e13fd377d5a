"""A local Telegram Bot API double: a tiny Starlette server that records calls and answers like Telegram."""

from __future__ import annotations

import asyncio
import random
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BOT_ID = 4242
# Long polls are cut short so a test never waits on a quiet queue for long.
MAX_POLL_SECONDS = 0.3


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Call:
    """One Bot API request as the double received it."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Failure:
    """The next `times` calls of `method` fail with `status` (429 carries retry_after)."""

    method: str
    status: int
    times: int
    retry_after: int | None = None


class FakeBotApi:
    """Serves getUpdates from a queue, stores sent messages and files, and fails on request."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.port = free_port()
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.files: dict[str, bytes] = {}
        self._updates: list[dict[str, Any]] = []
        # Update ids are remembered in the database for days: each double starts where no other test's ids are.
        self._next_update_id = random.randrange(10**6, 10**12)
        self._next_message_id = 1
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        """The value for TELEGRAM_API_BASE_URL."""
        return f"http://127.0.0.1:{self.port}"

    # --- what a test does -------------------------------------------------

    def start(self) -> None:
        """Runs the server in a thread until stop()."""
        app = Starlette(routes=[
            Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
        ])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the Bot API double did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stops the server."""
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def add_update(self, update: dict[str, Any], update_id: int | None = None) -> dict[str, Any]:
        """Queues an update for getUpdates (a fresh update_id unless given) and returns it."""
        with self._lock:
            if update_id is None:
                self._next_update_id += 1
                update_id = self._next_update_id
            full = {"update_id": update_id, **update}
            self._updates.append(full)
        return full

    def text_update(self, user_id: int, text: str) -> dict[str, Any]:
        """The update a private text message produces (not queued)."""
        message = self._message(user_id, text=text)
        if text.startswith("/"):
            # Telegram marks a leading /word as a command, which is how bots recognise one.
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"message": message}

    def voice_update(self, user_id: int, ogg: bytes) -> dict[str, Any]:
        """The update of a voice note whose file the double then serves (not queued)."""
        file_id = f"voice-{len(self.files) + 1}"
        self.files[file_id] = ogg
        voice = {"file_id": file_id, "file_unique_id": file_id, "duration": 2, "mime_type": "audio/ogg",
                 "file_size": len(ogg)}
        return {"message": self._message(user_id, voice=voice)}

    def contact_update(self, user_id: int, phone_number: str, contact_user_id: int | None) -> dict[str, Any]:
        """The update of a shared contact: the user's own (request_contact button) or someone else's card."""
        contact = {"phone_number": phone_number, "first_name": "王"}
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return {"message": self._message(user_id, contact=contact)}

    def callback_update(self, user_id: int, data: str, message_id: int) -> dict[str, Any]:
        """The update of a pressed inline button under the bot's message `message_id` (not queued)."""
        message = {"message_id": message_id, "date": int(time.time()), "text": "…",
                   "chat": {"id": user_id, "type": "private"}, "from": self._bot_user()}
        return {"callback_query": {"id": f"cq-{message_id}-{len(self.calls)}", "from": self._user(user_id),
                                   "chat_instance": "ci", "message": message, "data": data}}

    def fail(self, method: str, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Makes the next `times` calls of `method` fail."""
        with self._lock:
            self.failures.append(Failure(method, status, times, retry_after))

    def called(self, method: str) -> list[Call]:
        """Accepted and refused calls of one method, in order."""
        return [c for c in list(self.calls) if c.method == method]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of sendMessage calls that the double accepted."""
        return [c.params["text"] for c in self.called("sendMessage")
                if c.params.get("_accepted") and (chat_id is None or int(c.params["chat_id"]) == chat_id)]

    def wait_for(self, predicate, timeout: float = 30.0) -> Any:
        """Polls `predicate()` until it returns something truthy, or fails the test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.05)
        calls = [(c.method, c.params) for c in self.calls if c.method != "getUpdates"]
        raise AssertionError(f"timed out; calls other than getUpdates so far: {calls}")

    # --- the server -------------------------------------------------------

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "王", "language_code": "zh-hans"}

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "便民助手", "username": "bianmin_bot"}

    def _message(self, user_id: int, **content: Any) -> dict[str, Any]:
        with self._lock:
            self._next_message_id += 1
            message_id = self._next_message_id
        return {"message_id": message_id, "date": int(time.time()), "chat": {"id": user_id, "type": "private"},
                "from": self._user(user_id), **content}

    async def _params(self, request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = dict(request.query_params)
        files: dict[str, bytes] = {}
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            params.update(json.loads(await request.body() or b"{}"))
        elif kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form()
            for key, value in form.multi_items():
                if hasattr(value, "read"):
                    files[key] = params[key] = await value.read()
                else:
                    params[key] = value
        for key in ("reply_markup", "allowed_updates"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        for key, value in list(params.items()):
            # A multipart upload refers to its file as attach://<field name>.
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = files.get(value.removeprefix("attach://"), b"")
        return params, files

    def _failure_for(self, method: str) -> Failure | None:
        with self._lock:
            for failure in self.failures:
                if failure.method == method and failure.times > 0:
                    failure.times -= 1
                    return failure
        return None

    async def _method(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        params, files = await self._params(request)
        call = Call(method, params, files)
        self.calls.append(call)
        failure = self._failure_for(method)
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure.status,
                                    "description": "Too Many Requests" if failure.status == 429 else "Internal"}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return JSONResponse(body, failure.status)
        params["_accepted"] = True
        if method == "getUpdates":
            return JSONResponse({"ok": True, "result": await self._get_updates(params)})
        return JSONResponse({"ok": True, "result": self._result(method, params)})

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), MAX_POLL_SECONDS)
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                # Telegram forgets updates below the offset the bot confirmed.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                pending = list(self._updates)
            if pending or time.monotonic() >= deadline:
                return pending
            await asyncio.sleep(0.02)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {**self._bot_user(), "can_join_groups": False, "can_read_all_group_messages": False,
                    "supports_inline_queries": False}
        if method in ("setWebhook", "deleteWebhook", "answerCallbackQuery", "close", "logOut"):
            return True
        if method == "getFile":
            file_id = params["file_id"]
            return {"file_id": file_id, "file_unique_id": file_id, "file_size": len(self.files.get(file_id, b"")),
                    "file_path": f"voice/{file_id}.oga"}
        if method in ("sendMessage", "sendVoice", "editMessageReplyMarkup"):
            chat_id = int(params.get("chat_id") or 0)
            message = self._message(chat_id, text=params.get("text", ""))
            message["from"] = self._bot_user()
            if method == "sendVoice":
                message.pop("text")
                message["voice"] = {"file_id": "sent", "file_unique_id": "sent", "duration": 1}
            return message
        return True

    async def _file(self, request: Request) -> Response:
        path = request.path_params["path"]
        file_id = path.rsplit("/", 1)[-1].removesuffix(".oga")
        self.calls.append(Call("download", {"path": path}))
        if request.path_params["token"] != self.token or file_id not in self.files:
            return Response(status_code=404)
        return Response(self.files[file_id], media_type="audio/ogg")
