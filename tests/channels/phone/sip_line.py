"""The SIP endpoint on loopback with a small test call handler, and real baresip phones calling it.

Ports come from the block given by TEST_PORT_OFFSET (25000 + 100·(offset − 10)), so parallel test
runs with different offsets never meet: +0 our SIP, +10…+39 our RTP, +40…+79 four baresip phones,
+80…+89 SIPp.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from channels.phone.call import AudioFrame, HungUp, KeyPress, PhoneCall
from channels.phone.sip import EndpointOptions, SipEndpoint
from tests.channels.phone.sip_client import Baresip, PortBlock, baresip_available, tone

BASE_PORT = 25000 + 100 * (int(os.environ.get("TEST_PORT_OFFSET", "10")) - 10)
SIP_PORT = BASE_PORT
RTP_PORTS = (BASE_PORT + 10, BASE_PORT + 39)
SIPP_PORT = BASE_PORT + 80
GREETING_HZ = 440.0
GREETING_SECONDS = 1.0
GREETING = tone(GREETING_SECONDS, GREETING_HZ)
KEYS = "0123456789*#"


def key_hz(key: str) -> float:
    """The tone the test handler plays back for a key: 600 Hz for '0', 100 Hz more for each next key."""
    return 600.0 + 100.0 * KEYS.index(key)


def phone_ports(index: int) -> PortBlock:
    """The ports of the index-th baresip (0-3)."""
    return PortBlock(BASE_PORT + 40 + 10 * index)


@dataclass
class CallRecord:
    """What the test handler saw of one call."""

    call: PhoneCall
    keys: list[str] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    transfer_result: bool | None = None
    hung_up_event: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class ToneHandler:
    """The test's `on_call`: a tone as greeting, each key echoed as its own tone, some keys act."""

    hang_up_on: str = "9"
    transfer_on: str = "0"
    transfer_target: str = ""
    calls: list[CallRecord] = field(default_factory=list)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, call: PhoneCall) -> None:
        record = CallRecord(call)
        self.calls.append(record)
        self.answered.set()
        player = asyncio.get_running_loop().create_task(call.play(GREETING))
        try:
            async for event in call.events():
                if isinstance(event, AudioFrame):
                    record.audio += event.pcm16
                elif isinstance(event, KeyPress):
                    record.keys.append(event.key)
                    if event.key == self.hang_up_on:
                        await call.hang_up()
                    elif event.key == self.transfer_on and self.transfer_target:
                        record.transfer_result = await call.transfer(self.transfer_target)
                    else:
                        await player
                        player = asyncio.get_running_loop().create_task(call.play(tone(0.2, key_hz(event.key))))
                elif isinstance(event, HungUp):
                    record.hung_up_event = True
        finally:
            player.cancel()
            record.finished.set()

    def caller_samples(self, index: int = -1) -> np.ndarray:
        """The caller's audio the handler received on a call."""
        return np.frombuffer(bytes(self.calls[index].audio), "<i2")


needs_baresip = pytest.mark.skipif(not baresip_available(),
                                   reason="baresip is not installed (packaging/setup-system.sh --test installs it)")


def run(coroutine_factory: Callable[[], object], timeout: float = 60.0):
    """Runs one async test scenario in a fresh event loop, with a hard time limit."""

    async def bounded():
        async with asyncio.timeout(timeout):
            return await coroutine_factory()

    return asyncio.run(bounded())


class SipLine:
    """Our endpoint and the phones of one test, all stopped at the end whatever happened."""

    def __init__(self, tmp_path: Path, handler: ToneHandler | None = None, **options) -> None:
        self.tmp_path = tmp_path
        self.handler = handler or ToneHandler()
        self.options = EndpointOptions(rtp_ports=RTP_PORTS, **options)
        self.endpoint = SipEndpoint("127.0.0.1", SIP_PORT, self.handler, options=self.options)
        self.phones: list[Baresip] = []

    @property
    def uri(self) -> str:
        return f"sip:service@127.0.0.1:{SIP_PORT}"

    async def __aenter__(self) -> SipLine:
        await self.endpoint.start()
        return self

    async def phone(self, index: int = 0, codecs: str = "PCMA,PCMU", user: str = "13800138000") -> Baresip:
        """A started baresip phone."""
        phone = Baresip(self.tmp_path / f"phone{index}", phone_ports(index), codecs=codecs, user=user)
        self.phones.append(phone)
        await phone.start()
        return phone

    async def __aexit__(self, *exc) -> None:
        for phone in self.phones:
            await phone.stop()
        await self.endpoint.stop()

    async def settled(self, timeout: float = 5.0) -> dict[str, int]:
        """The endpoint's state once every call is gone (or what is left after the timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and any(self.endpoint.state.values()):
            await asyncio.sleep(0.05)
        return self.endpoint.state
