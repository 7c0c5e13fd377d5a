"""Security headers on every answer of the gateway: what a browser may load, frame, sniff and send on.

The pages load scripts only from the gateway itself (no inline script, no CDN); the staff console and the
kiosk may not be framed by any site (their sessions hold a staff token or a resident's answers); HSTS is sent
only when the request came over TLS (directly or through a trusted proxy's X-Forwarded-Proto), since a
plain-HTTP deployment on a closed network must stay reachable.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob: data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors {ancestors}"
)
# Pages whose sessions must never sit inside another site's frame (clickjacking of staff and residents).
UNFRAMEABLE_PREFIXES = ("/staff", "/kiosk")
HSTS = b"max-age=31536000; includeSubDomains"


def _headers(ancestors: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.format(ancestors=ancestors).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY" if ancestors == "'none'" else b"SAMEORIGIN"),
        (b"permissions-policy", b"microphone=(self), camera=(), geolocation=(), payment=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP answer (a few microseconds: lists built once)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._framable = _headers("'self'")
        self._unframable = _headers("'none'")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._unframable if scope["path"].startswith(UNFRAMEABLE_PREFIXES) else self._framable
        if scope.get("scheme") == "https":
            extra = [*extra, (b"strict-transport-security", HSTS)]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
