"""A lean keep-alive HTTP/1.1 transport for the gateway's calls to the Rasa workers on loopback.

httpx's default transport (httpcore) costs several milliseconds of CPU per
request here, as much as all the rest of the gateway's work on a turn: among
other things it looks for the optional `sniffio` module on every request, and
a failed import is never cached. Rasa answers small JSON bodies with a
Content-Length, so a plain exchange over pooled asyncio streams is enough.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx

# Idle connections kept per worker; more concurrent requests open more, and the extra ones are closed after use.
MAX_IDLE_PER_HOST = 32
# httpx adds these; compression is pointless on loopback and the connection is kept alive anyway.
_DROPPED_HEADERS = {b"accept-encoding", b"connection"}

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class StaleConnection(Exception):
    """A pooled connection was closed by the server before it answered (e.g. its keep-alive time ran out)."""


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """Sends each request over an idle pooled connection to its host, or a new one."""

    def __init__(self, max_idle_per_host: int = MAX_IDLE_PER_HOST):
        self._idle: dict[tuple[str, int], list[Connection]] = defaultdict(list)
        self._max_idle = max_idle_per_host

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """One request and its whole response; a stale pooled connection is retried once on a fresh one."""
        timeouts = request.extensions.get("timeout", {})
        key = (request.url.host, request.url.port or 80)
        payload = self._serialise(request, await request.aread())
        while True:
            pooled = self._take_idle(key)
            try:
                connection = pooled or await self._connect(key, timeouts.get("connect"))
                status, headers, body, keep = await self._exchange(connection, payload, timeouts.get("read"),
                                                                   stale_possible=pooled is not None)
            except StaleConnection:
                continue
            self._release(key, connection, keep)
            return httpx.Response(status, headers=headers, content=body, request=request)

    async def aclose(self) -> None:
        """Closes every idle connection."""
        for connections in self._idle.values():
            for _reader, writer in connections:
                writer.close()
        self._idle.clear()

    def _take_idle(self, key: tuple[str, int]) -> Connection | None:
        connections = self._idle[key]
        while connections:
            reader, writer = connections.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    def _release(self, key: tuple[str, int], connection: Connection, keep: bool) -> None:
        if keep and len(self._idle[key]) < self._max_idle:
            self._idle[key].append(connection)
        else:
            connection[1].close()

    @staticmethod
    async def _connect(key: tuple[str, int], timeout: float | None) -> Connection:
        try:
            return await asyncio.wait_for(asyncio.open_connection(*key), timeout)
        except TimeoutError as err:
            raise httpx.ConnectTimeout(f"connecting to {key[0]}:{key[1]} timed out") from err
        except OSError as err:
            raise httpx.ConnectError(f"cannot connect to {key[0]}:{key[1]}: {err}") from err

    @staticmethod
    def _serialise(request: httpx.Request, body: bytes) -> bytes:
        lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
        lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw
                  if name.lower() not in _DROPPED_HEADERS]
        if body and "content-length" not in request.headers:
            lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def _exchange(self, connection: Connection, payload: bytes, timeout: float | None,
                        stale_possible: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        reader, writer = connection
        try:
            async with asyncio.timeout(timeout):
                writer.write(payload)
                await writer.drain()
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as err:
                    writer.close()
                    if stale_possible and not err.partial:
                        raise StaleConnection from err
                    raise httpx.RemoteProtocolError("the server closed the connection without answering") from err
                status, headers = self._parse_head(head)
                fields = {name.lower(): value for name, value in headers}
                if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
                    body = await self._read_chunked(reader)
                elif b"content-length" in fields:
                    body = await reader.readexactly(int(fields[b"content-length"]))
                else:
                    body, fields[b"connection"] = await reader.read(), b"close"
        except TimeoutError as err:
            writer.close()
            raise httpx.ReadTimeout("the server did not answer in time") from err
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as err:
            writer.close()
            if stale_possible and isinstance(err, ConnectionError):
                raise StaleConnection from err
            raise httpx.RemoteProtocolError(f"broken answer from the server: {type(err).__name__}") from err
        except BaseException:
            # Cancelled mid-exchange: the connection's state is unknown, so it is never reused.
            writer.close()
            raise
        return status, headers, body, fields.get(b"connection", b"").lower() != b"close"

    @staticmethod
    def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        status_line, *header_lines = head[:-4].split(b"\r\n")
        version, code, *_reason = status_line.split(b" ", 2)
        if not version.startswith(b"HTTP/1."):
            raise ValueError("not an HTTP/1.x answer")
        headers = []
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers.append((name.strip(), value.strip()))
        return int(code), headers

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                # Trailers, if any, end with an empty line.
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
