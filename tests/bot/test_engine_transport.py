"""The keep-alive transport to Rasa against a real HTTP/1.1 server on loopback: reuse, stale connections, failures."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from bot.engine.transport import KeepAliveTransport


class LoopbackServer:
    """A small HTTP/1.1 server that echoes JSON bodies, counts connections, and can close idle ones or stall."""

    def __init__(self, chunked: bool = False):
        self.connections = 0
        self.stall = False
        self.chunked = chunked
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> "LoopbackServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close_idle()
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def close_idle(self) -> None:
        """Closes every open connection, as a server whose keep-alive time ran out does."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                length = next((int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length")), 0)
                body = await reader.readexactly(length) if length else b""
                if self.stall:
                    await asyncio.sleep(1)
                answer = json.dumps({"path": lines[0].split(" ")[1], "body": body.decode()}, ensure_ascii=False).encode()
                if self.chunked:
                    half = len(answer) // 2
                    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (answer[:half], answer[half:]))
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def run(coroutine):  # noqa: ANN001, ANN201 - a test coroutine and its result
    return asyncio.run(coroutine)


def post(transport: KeepAliveTransport, url: str, body: dict, timeout: float = 5.0) -> httpx.Response:
    request = httpx.Request("POST", url, json=body, extensions={"timeout": httpx.Timeout(timeout).as_dict()})

    async def send() -> httpx.Response:
        return await transport.handle_async_request(request)

    return send()


@pytest.mark.parametrize("chunked", [False, True])
def test_requests_share_one_connection_and_bodies_arrive_whole(chunked):
    async def scenario() -> None:
        async with LoopbackServer(chunked=chunked) as server:
            transport = KeepAliveTransport()
            for text in ("社保卡丢了怎么补办", "要带什么材料", "谢谢"):
                response = await post(transport, f"{server.url}/webhooks/gateway/webhook?x=1", {"message": text})
                assert response.status_code == 200
                assert response.json() == {"path": "/webhooks/gateway/webhook?x=1",
                                           "body": json.dumps({"message": text}, ensure_ascii=False,
                                                              separators=(",", ":"))}
            assert server.connections == 1
            await transport.aclose()

    run(scenario())


def test_a_connection_closed_by_the_server_while_idle_is_replaced_without_an_error():
    async def scenario() -> None:
        async with LoopbackServer() as server:
            transport = KeepAliveTransport()
            await post(transport, server.url + "/", {"n": 1})
            server.close_idle()
            await asyncio.sleep(0.05)
            response = await post(transport, server.url + "/", {"n": 2})
            assert response.status_code == 200 and response.json()["body"] == '{"n":2}'
            assert server.connections == 2
            await transport.aclose()

    run(scenario())


def test_concurrent_requests_each_get_their_own_answer():
    async def scenario() -> None:
        async with LoopbackServer() as server:
            transport = KeepAliveTransport()
            responses = await asyncio.gather(*(post(transport, server.url + "/", {"n": n}) for n in range(20)))
            assert [r.json()["body"] for r in responses] == [json.dumps({"n": n}, separators=(",", ":"))
                                                            for n in range(20)]
            await transport.aclose()

    run(scenario())


def test_a_refused_connection_and_a_silent_server_are_httpx_errors():
    async def scenario() -> None:
        async with LoopbackServer() as server:
            url = server.url
            transport = KeepAliveTransport()
            server.stall = True
            with pytest.raises(httpx.ReadTimeout):
                await post(transport, url + "/", {"n": 1}, timeout=0.2)
        with pytest.raises(httpx.ConnectError):
            await post(transport, url + "/", {"n": 2})

    run(scenario())
