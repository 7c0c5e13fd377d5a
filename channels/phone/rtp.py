"""RTP audio of one call: G.711 in and out, RFC 4733 keypad events in, 20 ms packets paced in real time."""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable

from channels.phone.call import FRAME_MS, AudioFrame, CallEvent, HungUp, KeyPress
from channels.phone.media_clock import MediaClock
from channels.phone.rtp_packet import (
    RtpPacket,
    build_rtp,
    parse_rtp,
    telephone_event_key,
)
from speech.audio import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * 2
# Caller audio kept while the call flow is busy elsewhere (recognising, waiting on the engine):
# beyond this the oldest frames go, so a stuck consumer cannot grow memory without bound.
MAX_QUEUED_FRAMES = 10 * 1000 // FRAME_MS
# A gap of at most this many lost packets is filled with silence so the endpointer's clock keeps time.
_MAX_FILLED_GAP = 10
# No caller audio for this long means the phone has stopped sending (DTX): silence frames stand in.
_SILENT_AFTER_S = 0.1
# A packet this late is counted as late: beyond what a far end's smallest jitter buffer (60 ms) absorbs
# together with the network's own jitter.
LATE_S = 2 * FRAME_MS / 1000

CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "PCMA": (pcm16_to_alaw, alaw_to_pcm16),
    "PCMU": (pcm16_to_ulaw, ulaw_to_pcm16),
}


def _normal(host: str) -> str:
    """An address in the form the socket reports senders in (IPv4 as is, IPv6 compressed)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


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

    @property
    def queued_frames(self) -> int:
        """Caller audio frames waiting to be read (each 20 ms): how far the reader is behind."""
        return self._frames

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
    """Encoded 20 ms payloads waiting to be sent, and the futures of the play() calls they belong to.

    The media clock thread takes payloads while the event loop adds and clears them, hence the lock;
    futures are resolved on their own loop.
    """

    def __init__(self) -> None:
        self.queue: collections.deque[bytes | asyncio.Future[bool]] = collections.deque()
        self._lock = threading.Lock()

    def add(self, payloads: list[bytes], done: asyncio.Future[bool]) -> None:
        with self._lock:
            self.queue.extend(payloads)
            self.queue.append(done)

    def next_payload(self) -> bytes | None:
        with self._lock:
            while self.queue:
                item = self.queue.popleft()
                if isinstance(item, bytes):
                    return item
                _resolve(item, True)
        return None

    def clear(self) -> None:
        with self._lock:
            for item in self.queue:
                if not isinstance(item, bytes):
                    _resolve(item, False)
            self.queue.clear()


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    def set_result() -> None:
        if not future.done():
            future.set_result(value)

    try:
        future.get_loop().call_soon_threadsafe(set_result)
    except RuntimeError:
        pass  # the loop is closed: nobody waits any more



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

    def __init__(self, transport: asyncio.DatagramTransport, sock: socket.socket, local_port: int, *, codec: str,
                 payload_type: int, dtmf_payload_type: int | None, remote: tuple[str, int], events: CallEvents,
                 clock: MediaClock, peer: str | None = None) -> None:
        self._transport = transport
        self._sock = sock
        self._clock = clock
        self.local_port = local_port
        self.codec = codec
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        self.remote = remote
        self.events = events
        # Media is taken from the signalling peer and the address its SDP names, nobody else: a stranger
        # sending first must not take over a call that reads personal numbers back.
        self.media_sources = {_normal(remote[0])} | ({_normal(peer)} if peer else set())
        self.foreign_packets = 0
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
        self._started = False
        self._talking = False
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self.last_received = self._loop.time()
        # When the caller's audio last arrived (media clock's time base), for the silence filler.
        self._last_audio = time.monotonic()
        self.filled_frames = 0
        self.packets_sent = 0
        self.packets_received = 0
        # Packets that left more than LATE_S after their moment (the machine could not keep up).
        self.late_packets = 0
        self.max_lateness = 0.0

    # ---- receiving ----

    def move_to(self, remote: tuple[str, int]) -> None:
        """Sends to a new address (a re-INVITE moved the caller's media) and takes its packets only."""
        self.remote = remote
        self.media_sources.add(_normal(remote[0]))
        self._latched = True

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = parse_rtp(data)
        if packet is None or self.closed:
            return
        if packet.payload_type not in (self.payload_type, self.dtmf_payload_type):
            return
        if addr[0] not in self.media_sources:
            self.foreign_packets += 1
            if self.foreign_packets == 1:
                log.warning("RTP from %s ignored: neither the caller's signalling nor its SDP address", addr[0])
            return
        if not self._latched:
            # Symmetric RTP (RFC 4961): behind NAT the caller's packets come from another port (or the
            # signalling address rather than the SDP's), and only the address they come from reaches back.
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
        self._last_audio = time.monotonic()
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

    def _fill_silence(self) -> None:
        if self.closed or time.monotonic() - self._last_audio <= _SILENT_AFTER_S:
            return
        self._expected_sequence = None  # the gap is filled here, not again when packets resume
        self.filled_frames += 1
        self.events.put(AudioFrame(b"\0" * FRAME_BYTES))

    # ---- sending ----

    def start(self) -> None:
        """Joins the media clock: our audio every 20 ms when playing, silence otherwise (keeps NAT and trunks awake)."""
        if not self._started and not self.closed:
            self._started = True
            self._clock.add(self)

    def _tick(self, lateness: float) -> None:
        """Sends this stream's next packet (called by the media clock thread)."""
        if self.closed:
            return
        if time.monotonic() - self._last_audio > _SILENT_AFTER_S:
            # The caller's phone stopped sending (silence suppression, comfort noise, a lost stream):
            # the call flow still hears time pass, so a caller who stopped talking is noticed.
            self._loop.call_soon_threadsafe(self._fill_silence)
        if lateness > LATE_S:
            self.late_packets += 1
        self.max_lateness = max(self.max_lateness, lateness)
        payload = self._playback.next_payload()
        # The marker bit starts each talkspurt (RFC 3551 §4.1), so the far end resets its jitter buffer.
        marker = payload is not None and not self._talking
        self._talking = payload is not None
        self._send(payload if payload is not None else self._silence, marker)

    def _send(self, payload: bytes, marker: bool) -> None:
        packet = build_rtp(self.payload_type, self._sequence, self._timestamp, self._ssrc, payload, marker)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + len(payload)) & 0xFFFFFFFF
        try:
            self._sock.sendto(packet, self.remote)
        except OSError as err:  # a full buffer or a vanished route: this packet is lost, the next may go
            log.debug("RTP send failed: %s", err)
            return
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
        # The clock thread may be in this stream's tick: leave the clock (in a thread, as it may join) first.
        await asyncio.get_running_loop().run_in_executor(None, self._clock.remove, self)
        self._playback.clear()
        self._transport.close()
        await asyncio.sleep(0)  # the socket itself closes on the loop's next turn

