"""RTP audio of one call: G.711 in and out, RFC 4733 keypad events in, 20 ms packets paced in real time."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from channels.phone.call import FRAME_MS, AudioFrame, CallEvent, HungUp, KeyPress
from channels.phone.errors import RtpPortsExhausted
from speech.audio import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * 2
_HEADER = struct.Struct("!BBHII")
_VERSION = 2
# RFC 4733 §3.2: events 0-9, 10 '*', 11 '#', 12-15 'A'-'D' (A-D are not on a phone keypad, but arrive).
_EVENT_KEYS = "0123456789*#ABCD"
# Caller audio kept while the call flow is busy elsewhere (recognising, waiting on the engine):
# beyond this the oldest frames go, so a stuck consumer cannot grow memory without bound.
MAX_QUEUED_FRAMES = 10 * 1000 // FRAME_MS
# A gap of at most this many lost packets is filled with silence so the endpointer's clock keeps time.
_MAX_FILLED_GAP = 10
# Falling further behind than this (an overloaded machine) restarts the clock instead of bursting.
_MAX_LAG_S = 0.2

CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "PCMA": (pcm16_to_alaw, alaw_to_pcm16),
    "PCMU": (pcm16_to_ulaw, ulaw_to_pcm16),
}


@dataclass(frozen=True)
class RtpPacket:
    """The fields of one RTP packet that the call uses."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet's fields, or None for anything that is not RTP version 2 (RTCP, STUN, garbage)."""
    if len(data) < _HEADER.size:
        return None
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != _VERSION or 72 <= (second & 0x7F) <= 76:  # 72-76: RTCP sharing the port
        return None
    offset = _HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:  # padding: the last byte counts the padding bytes
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, data[offset:end])


def build_rtp(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    """One RTP packet without CSRCs or extensions."""
    return _HEADER.pack(_VERSION << 6, (0x80 if marker else 0) | payload_type,
                        sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def telephone_event_key(payload: bytes) -> str | None:
    """The key of an RFC 4733 telephone-event payload, or None for other events or a short payload."""
    if len(payload) < 4 or payload[0] >= len(_EVENT_KEYS):
        return None
    return _EVENT_KEYS[payload[0]]


class CallEvents:
    """The caller's frames and keys in arrival order; audio is dropped oldest-first when nobody reads."""

    def __init__(self, max_frames: int = MAX_QUEUED_FRAMES) -> None:
        self._items: collections.deque[CallEvent] = collections.deque()
        self._frames = 0
        self._max_frames = max_frames
        self._ready = asyncio.Event()
        self.closed = False
        self.dropped_frames = 0

    def put(self, event: CallEvent) -> None:
        """Queue one event; nothing is queued after HungUp."""
        if self.closed:
            return
        if isinstance(event, AudioFrame):
            if self._frames >= self._max_frames:
                self._drop_oldest_frame()
            self._frames += 1
        elif isinstance(event, HungUp):
            self.closed = True
        self._items.append(event)
        self._ready.set()

    def _drop_oldest_frame(self) -> None:
        for index, item in enumerate(self._items):
            if isinstance(item, AudioFrame):
                del self._items[index]
                self._frames -= 1
                self.dropped_frames += 1
                return

    async def __aiter__(self) -> AsyncIterator[CallEvent]:
        while True:
            while not self._items:
                self._ready.clear()
                await self._ready.wait()
            event = self._items.popleft()
            if isinstance(event, AudioFrame):
                self._frames -= 1
            yield event
            if isinstance(event, HungUp):
                return


class _Playback:
    """Encoded 20 ms payloads waiting to be sent, and the futures of the play() calls they belong to."""

    def __init__(self) -> None:
        self.queue: collections.deque[bytes | asyncio.Future[bool]] = collections.deque()

    def add(self, payloads: list[bytes], done: asyncio.Future[bool]) -> None:
        self.queue.extend(payloads)
        self.queue.append(done)

    def next_payload(self) -> bytes | None:
        while self.queue:
            item = self.queue.popleft()
            if isinstance(item, bytes):
                return item
            if not item.done():
                item.set_result(True)
        return None

    def clear(self) -> None:
        for item in self.queue:
            if not isinstance(item, bytes) and not item.done():
                item.set_result(False)
        self.queue.clear()


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.stream: RtpStream | None = None

    def datagram_received(self, data: bytes, addr) -> None:
        if self.stream is None:
            return
        try:
            self.stream._received(data, (str(addr[0]), int(addr[1])))
        except Exception:  # one bad packet must never end the call
            log.exception("RTP packet from %s could not be handled", addr[0])

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable before the caller's RTP socket is up, for example: not fatal.
        log.debug("RTP socket error: %s", exc)


class RtpStream:
    """One call's RTP socket: decodes the caller's audio and keys into CallEvents and paces our audio out."""

    def __init__(self, transport: asyncio.DatagramTransport, local_port: int, *, codec: str, payload_type: int,
                 dtmf_payload_type: int | None, remote: tuple[str, int], events: CallEvents) -> None:
        self._transport = transport
        self.local_port = local_port
        self.codec = codec
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        self.remote = remote
        self.events = events
        self._encode, self._decode = CODECS[codec]
        self._silence = self._encode(b"\0" * FRAME_BYTES)
        self._ssrc = random.getrandbits(32)
        self._sequence = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._playback = _Playback()
        self._play_lock = asyncio.Lock()
        self._pcm_rest = b""
        self._expected_sequence: int | None = None
        self._last_event_timestamp: int | None = None
        self._latched = False
        self._sender: asyncio.Task[None] | None = None
        self.closed = False
        self.last_received = asyncio.get_running_loop().time()
        self.packets_sent = 0
        self.packets_received = 0
        self.late_restarts = 0

    # ---- receiving ----

    def move_to(self, remote: tuple[str, int]) -> None:
        """Sends to a new address (a re-INVITE moved the caller's media) and takes its packets only."""
        self.remote = remote
        self._latched = True

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = parse_rtp(data)
        if packet is None or self.closed:
            return
        if packet.payload_type not in (self.payload_type, self.dtmf_payload_type):
            return
        if not self._latched:
            # Symmetric RTP (RFC 4961): behind NAT the caller's packets come from another address than
            # the SDP names, and only the address they come from reaches back.
            self._latched = True
            if addr != self.remote:
                log.info("RTP from %s:%d, not the offered %s:%d: sending there", *addr, *self.remote)
                self.remote = addr
        elif addr != self.remote:
            return  # once the caller's stream is known, packets from anyone else are not the caller
        self.last_received = asyncio.get_running_loop().time()
        self.packets_received += 1
        if packet.payload_type == self.dtmf_payload_type:
            self._keypad_event(packet)
        else:
            self._audio(packet)

    def _keypad_event(self, packet: RtpPacket) -> None:
        # Every packet of one key press (and the three end packets) share its timestamp.
        if packet.timestamp == self._last_event_timestamp:
            return
        key = telephone_event_key(packet.payload)
        if key is None:
            return
        self._last_event_timestamp = packet.timestamp
        self.events.put(KeyPress(key))

    def _audio(self, packet: RtpPacket) -> None:
        pcm = self._decode(packet.payload)
        if self._expected_sequence is not None:
            ahead = (packet.sequence - self._expected_sequence) & 0xFFFF
            if ahead >= 0x8000:
                return  # late or duplicated: its moment has passed
            if 0 < ahead <= _MAX_FILLED_GAP:
                pcm = b"\0" * (len(pcm) * ahead) + pcm
        self._expected_sequence = (packet.sequence + 1) & 0xFFFF
        data = self._pcm_rest + pcm
        whole = len(data) // FRAME_BYTES * FRAME_BYTES
        self._pcm_rest = data[whole:]
        for start in range(0, whole, FRAME_BYTES):
            self.events.put(AudioFrame(data[start:start + FRAME_BYTES]))

    # ---- sending ----

    def start(self) -> None:
        """Starts the 20 ms clock: our audio when playing, silence otherwise (keeps NAT and trunks awake)."""
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_loop(), name=f"rtp-{self.local_port}")

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        talking = False
        while not self.closed:
            payload = self._playback.next_payload()
            # The marker bit starts each talkspurt (RFC 3551 §4.1), so the far end resets its jitter buffer.
            marker = payload is not None and not talking
            talking = payload is not None
            self._send(payload if payload is not None else self._silence, marker)
            next_at += FRAME_MS / 1000
            delay = next_at - loop.time()
            if delay < -_MAX_LAG_S:
                self.late_restarts += 1
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(max(delay, 0))

    def _send(self, payload: bytes, marker: bool) -> None:
        packet = build_rtp(self.payload_type, self._sequence, self._timestamp, self._ssrc, payload, marker)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + len(payload)) & 0xFFFFFFFF
        self._transport.sendto(packet, self.remote)
        self.packets_sent += 1

    async def play(self, pcm16: bytes) -> bool:
        """Sends 8 kHz PCM16 at real-time pace; False when stopped or the call ends first."""
        async with self._play_lock:
            if self.closed:
                return False
            if not pcm16:
                return True
            padding = (-len(pcm16)) % FRAME_BYTES
            encoded = self._encode(pcm16 + b"\0" * padding)
            step = SAMPLES_PER_FRAME
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._playback.add([encoded[i:i + step] for i in range(0, len(encoded), step)], done)
            return await done

    @property
    def playing(self) -> bool:
        """True while some of our audio is still waiting to go out."""
        return bool(self._playback.queue)

    def stop_playing(self) -> None:
        """Drops the audio not yet sent; the waiting play() returns False."""
        self._playback.clear()

    async def close(self) -> None:
        """Stops the clock, drops pending audio and closes the socket (the port becomes free)."""
        if self.closed:
            return
        self.closed = True
        self._playback.clear()
        if self._sender is not None:
            self._sender.cancel()
            try:
                await self._sender
            except asyncio.CancelledError:
                pass
        self._transport.close()


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
            try:
                transport, protocol = await loop.create_datagram_endpoint(
                    _RtpProtocol, local_addr=(host, port), family=family)
            except OSError:
                continue  # another program holds it
            stream = RtpStream(transport, port, **stream_options)
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
