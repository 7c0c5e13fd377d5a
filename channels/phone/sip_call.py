"""One answered SIP call as the call flow sees it: audio out, the caller's events in, transfer and hang-up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiosipua import IncomingCall, parse_uri

from channels.phone.call import CallEvent, PhoneCall
from channels.phone.rtp import RtpStream
from channels.phone.sdp import MediaPlan

if TYPE_CHECKING:
    from channels.phone.sip import SipEndpoint


class SipPhoneCall(PhoneCall):
    """One answered SIP call: its dialog, its RTP stream and the caller's events."""

    def __init__(self, endpoint: SipEndpoint, incoming: IncomingCall, stream: RtpStream, plan: MediaPlan) -> None:
        # Our own id, not the SIP Call-ID: that one is chosen by the caller and could name another call.
        self.call_id = uuid.uuid4().hex[:16]
        self.sip_call_id = incoming.call_id
        self.caller = parse_uri(incoming.caller).user or "" if incoming.caller else ""
        self.codec = plan.codec
        self.incoming = incoming
        self.stream = stream
        self._endpoint = endpoint
        self._ended = asyncio.Event()
        self.ended_by: str | None = None
        self.transfers: list[str] = []
        self.transfer_outcome: asyncio.Future[int] | None = None

    def events(self) -> AsyncIterator[CallEvent]:
        """The caller's audio frames and key presses in order, ending with HungUp."""
        return self.stream.events.__aiter__()

    async def play(self, pcm16: bytes) -> bool:
        """Sends 8 kHz PCM16 to the caller at real-time pace; False when stopped or hung up."""
        if not self.active:
            return False
        return await self.stream.play(pcm16)

    def stop_playing(self) -> None:
        """Stops the audio being played at once (the caller barged in)."""
        self.stream.stop_playing()

    async def transfer(self, target: str) -> bool:
        """Puts the caller through to `target` by SIP REFER; True when done (our side of the call then ends)."""
        return await self._endpoint._transfer(self, target)

    async def hang_up(self) -> None:
        """Ends the call from our side (BYE); safe to call more than once."""
        await self._endpoint._hang_up(self)

    @property
    def active(self) -> bool:
        """True until either side has hung up."""
        return not self._ended.is_set()

    async def wait_ended(self) -> None:
        """Returns once the call is over."""
        await self._ended.wait()
