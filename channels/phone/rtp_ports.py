"""The UDP port range RTP may use, one even port per call."""

from __future__ import annotations

import asyncio
import socket

from channels.phone.errors import RtpPortsExhausted
from channels.phone.rtp import RtpStream, _RtpProtocol


class RtpPortRange:
    """The UDP ports RTP may use (the range a deployer opens in the firewall); even ports, one per call."""

    def __init__(self, low: int, high: int) -> None:
        if not 1024 <= low <= high <= 65535:
            raise ValueError(f"RTP port range {low}-{high} must lie within 1024-65535")
        self.low, self.high = low, high
        self._in_use: set[int] = set()
        self._next = low + (low % 2)

    def __len__(self) -> int:
        return len(range(self.low + self.low % 2, self.high + 1, 2))

    @property
    def in_use(self) -> frozenset[int]:
        """Ports held by open streams."""
        return frozenset(self._in_use)

    async def open(self, host: str, **stream_options) -> RtpStream:
        """An RtpStream on the next free even port (RTCP's odd neighbour stays free); RtpPortsExhausted if none."""
        loop = asyncio.get_running_loop()
        candidates = list(range(self.low + self.low % 2, self.high + 1, 2))
        start = candidates.index(self._next) if self._next in candidates else 0
        for port in candidates[start:] + candidates[:start]:
            if port in self._in_use:
                continue
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            # Our own socket, so that the media clock thread can send on it directly.
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue  # another program holds it
            sock.setblocking(False)
            transport, protocol = await loop.create_datagram_endpoint(_RtpProtocol, sock=sock)
            stream = RtpStream(transport, sock, port, **stream_options)
            protocol.stream = stream
            self._in_use.add(port)
            self._next = port + 2 if port + 2 <= self.high else self.low + self.low % 2
            return stream
        raise RtpPortsExhausted(
            f"all {len(candidates)} RTP ports of {self.low}-{self.high} are in use; widen SIP_RTP_PORTS"
        )

    def release(self, stream: RtpStream) -> None:
        """Gives the stream's port back (after its close())."""
        self._in_use.discard(stream.local_port)
