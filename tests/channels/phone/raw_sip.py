"""A SIP peer made of bare UDP sockets, for what a real phone will not do: call from a chosen loopback
address, put a host name in its SDP, race a call's RTP, send malformed and oversized messages.

Ports: +90…+99 of the test's block (see sip_line.py), so they never meet baresip's or SIPp's.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Self

from aiosipua import SipMessage, SipResponse

from channels.phone.rtp_packet import build_rtp, parse_rtp
from speech.audio import pcm16_to_alaw
from tests.channels.phone.sip_line import BASE_PORT, SIP_PORT

RAW_SIP_PORT = BASE_PORT + 90
RAW_RTP_PORT = BASE_PORT + 92
STRANGER_PORT = BASE_PORT + 94


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr) -> None:
        self.queue.put_nowait((data, (addr[0], addr[1])))


class UdpPeer:
    """One UDP socket on a loopback address: sends datagrams, keeps what comes back.

    Port 0 takes a free port (then `port` is the one bound): tests that run in parallel, as `make unit`'s
    workers do, must not share a fixed port, or one receives the other's datagrams."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._transport: asyncio.DatagramTransport | None = None
        self._inbox = _Inbox()

    async def __aenter__(self) -> Self:
        self._transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: self._inbox, local_addr=(self.host, self.port))
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._transport.close()

    def send(self, data: bytes | str, to: tuple[str, int] = ("127.0.0.1", SIP_PORT)) -> None:
        self._transport.sendto(data.encode() if isinstance(data, str) else data, to)

    async def receive(self, timeout: float = 3.0) -> tuple[bytes, tuple[str, int]] | None:
        """The next datagram, or None when none came within the timeout."""
        try:
            return await asyncio.wait_for(self._inbox.queue.get(), timeout)
        except TimeoutError:
            return None

    def drain(self) -> list[bytes]:
        """Every datagram received so far."""
        items = []
        while not self._inbox.queue.empty():
            items.append(self._inbox.queue.get_nowait()[0])
        return items

    async def final_response(self, timeout: float = 5.0) -> SipResponse | None:
        """The first final (≥ 200) SIP response, provisional ones skipped; None when none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            got = await self.receive(left)
            if got is None:
                return None
            message = SipMessage.parse(got[0])
            if isinstance(message, SipResponse) and message.status_code >= 200:
                return message
        return None


def sdp(connection: str, rtp_port: int) -> str:
    """An audio offer of PCMA and keys at the connection address (which may be a host name)."""
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
            f"c=IN IP4 {connection}\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 8 101\r\n"
            "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


class RawCall:
    """The requests of one call from a UdpPeer: INVITE, ACK, BYE."""

    def __init__(self, peer: UdpPeer, *, user: str = "13600136000", body: str | None = None) -> None:
        self.peer = peer
        self.call_id = uuid.uuid4().hex
        self.tag = uuid.uuid4().hex[:8]
        self.user = user
        self.body = body if body is not None else sdp(peer.host, RAW_RTP_PORT)
        self.to_header = f"<sip:service@127.0.0.1:{SIP_PORT}>"

    def request(self, method: str, cseq: int, body: str = "", content_type: str = "application/sdp") -> str:
        """A request of this call, From and Via naming the peer."""
        lines = [
            f"{method} sip:service@127.0.0.1:{SIP_PORT} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.peer.host}:{self.peer.port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport",
            f"From: <sip:{self.user}@{self.peer.host}>;tag={self.tag}",
            f"To: {self.to_header}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{self.user}@{self.peer.host}:{self.peer.port}>",
            "Max-Forwards: 70",
        ]
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    async def invite(self, timeout: float = 5.0) -> SipResponse | None:
        """Sends the INVITE; the final answer (a 200 is acknowledged at once), None when none came."""
        self.peer.send(self.request("INVITE", 1, self.body))
        response = await self.peer.final_response(timeout)
        if response is not None and response.status_code == 200:
            self.to_header = response.headers.get_first("to")
            self.peer.send(self.request("ACK", 1))
        return response

    async def ping(self, tries: int = 5) -> SipResponse | None:
        """OPTIONS, sent again after 0.5 s, 1 s … as a phone would (UDP may drop one); the answer or None."""
        wait = 0.5
        for cseq in range(1, tries + 1):
            self.peer.send(self.request("OPTIONS", cseq))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while (left := deadline - loop.time()) > 0:
                answer = await self.peer.final_response(left)
                if answer is not None and answer.call_id == self.call_id:
                    return answer
            wait *= 2
        return None

    async def bye(self) -> SipResponse | None:
        """Hangs up; the answer to the BYE."""
        self.peer.send(self.request("BYE", 2))
        return await self.peer.final_response()


def rtp_packets(pcm16: bytes, *, ssrc: int, first_sequence: int = 1000) -> list[bytes]:
    """PCMA RTP packets of 20 ms for the audio."""
    payload = pcm16_to_alaw(pcm16)
    return [build_rtp(8, first_sequence + n, 160 * n, ssrc, payload[i:i + 160])
            for n, i in enumerate(range(0, len(payload) - 159, 160))]


def rtp_payloads(datagrams: list[bytes]) -> list[bytes]:
    """The payloads of the RTP packets among the datagrams."""
    return [packet.payload for packet in map(parse_rtp, datagrams) if packet is not None]
