"""One phone call as the call flow sees it, whatever carries it.

The SIP/RTP endpoint (`channels/phone/sip.py`) implements `PhoneCall` today; a PBX
media stream (for example Asterisk AudioSocket) can implement the same class later
without the call flow changing. Audio is always mono signed 16-bit PCM at
`sample_rate` (8000 Hz on the telephone network); the transport converts to and
from PCMU/PCMA and RFC 2833 events.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from speech.audio import FRAME_MS

__all__ = ["FRAME_MS", "AudioFrame", "CallEvent", "HungUp", "KeyPress", "PhoneCall"]


@dataclass(frozen=True)
class AudioFrame:
    """20 ms of the caller's voice as PCM16."""

    pcm16: bytes


@dataclass(frozen=True)
class KeyPress:
    """One keypad key the caller pressed: '0'-'9', '*' or '#'."""

    key: str


@dataclass(frozen=True)
class HungUp:
    """The caller (or the network) ended the call; nothing follows."""


CallEvent = AudioFrame | KeyPress | HungUp


class PhoneCall(abc.ABC):
    """A connected call: the caller's audio and keys in, the assistant's audio out."""

    call_id: str
    caller: str
    sample_rate: int = 8000

    @abc.abstractmethod
    def events(self) -> AsyncIterator[CallEvent]:
        """The caller's audio frames and key presses in order, ending with HungUp."""

    @abc.abstractmethod
    async def play(self, pcm16: bytes) -> bool:
        """Sends audio to the caller at real-time pace; False when stopped by stop_playing() or a hang-up."""

    @abc.abstractmethod
    def stop_playing(self) -> None:
        """Stops the audio being played at once (the caller barged in)."""

    @abc.abstractmethod
    async def transfer(self, target: str) -> bool:
        """Puts the caller through to another number or SIP URI; True when the network accepted it."""

    @abc.abstractmethod
    async def hang_up(self) -> None:
        """Ends the call from our side; safe to call more than once."""

    @property
    @abc.abstractmethod
    def active(self) -> bool:
        """True until either side has hung up."""
