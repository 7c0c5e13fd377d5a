"""The gateway's size limits, in one place, and the middleware that refuses bodies over them unread."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Any request body: a chat turn, a form, a Telegram update.
MAX_BODY_BYTES = 1_000_000
# A recording for /api/speech/recognize: sixty seconds of 48 kHz stereo 16-bit WAV is 11.5 MB.
MAX_SPEECH_UPLOAD_BYTES = 12 * 1024 * 1024
# What the body of /api/speech may hold around such a recording (a multipart form's boundaries and headers).
SPEECH_BODY_ALLOWANCE = 64 * 1024
# Text sent to /api/speech/synthesize.
MAX_SYNTHESIS_CHARS = 500
# The paths allowed more than MAX_BODY_BYTES, with their limit.
LARGE_BODY_PATHS = {"/api/speech": MAX_SPEECH_UPLOAD_BYTES + SPEECH_BODY_ALLOWANCE}


class BodySizeLimit:
    """ASGI middleware: 413 with a JSON error when a body exceeds the limit (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, large_paths: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.large_paths = large_paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((v for p, v in self.large_paths.items() if scope["path"].startswith(p)), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = json.dumps({"error": {"code": "too_large", "message": f"request body over {limit} bytes"}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
