"""Every use of aiosipua's private attributes, in one place (aiosipua 0.7).

The phone line needs a few things aiosipua does not offer publicly: a UDP transport that starts on
Python 3.11, keypad presses sent as SIP INFO, answering an INVITE it would drop, forgetting a call we
ended ourselves. tests/channels/phone/test_aiosipua_adapter.py pins each behaviour relied on here,
so an upgrade that changes one fails there, by name, rather than somewhere in a call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from aiosipua import IncomingCall, SipRequest, SipResponse, SipUAS, UdpSipTransport
from aiosipua.dialog import Dialog
from aiosipua.transport import _UdpProtocol

log = logging.getLogger(__name__)

RequestHandler = Callable[[SipRequest, tuple[str, int]], None]
# Larger datagrams are dropped unread: no trunk sends a SIP message near this size over UDP
# (RFC 3261 §18.1.1 keeps UDP messages under the path MTU), and parsing one costs CPU for nothing.
MAX_DATAGRAM_BYTES = 8192


class _SipUdpProtocol(_UdpProtocol):
    """aiosipua's datagram protocol, without its Python 3.12-only assertion and with a size limit."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # aiosipua asserts an isinstance that Python 3.11's selector transport fails (fixed in 3.12).
        self._owner._udp_transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > MAX_DATAGRAM_BYTES:
            log.warning("SIP datagram of %d bytes from %s dropped unread", len(data), addr[0])
            return
        super().datagram_received(data, addr)


class SipUdpTransport(UdpSipTransport):
    """aiosipua's UDP transport with a protocol that starts on Python 3.11."""

    async def start(self) -> None:
        """Binds the UDP socket."""
        loop = asyncio.get_running_loop()
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipUdpProtocol(self), local_addr=self.local_addr)

    @property
    def bound_port(self) -> int:
        """The port the socket is bound to (the one the kernel chose for port 0)."""
        if self._udp_transport is None:
            raise RuntimeError("the SIP transport has not been started")
        return int(self._udp_transport.get_extra_info("sockname")[1])


def handle_method(uas: SipUAS, method: str, handler: RequestHandler) -> None:
    """Routes a request method to our handler (aiosipua answers INFO with 405 otherwise)."""
    uas._handlers[method.upper()] = handler


def dispatch(uas: SipUAS, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
    """Hands a message on to aiosipua's own handling, after ours looked at it."""
    uas._on_message(message, addr)


def knows_call(uas: SipUAS, call_id: str) -> bool:
    """True when aiosipua holds a dialog for the Call-ID (a re-INVITE or a retransmission)."""
    return call_id in uas._calls


def dialog_count(uas: SipUAS) -> int:
    """How many calls aiosipua still holds (zero once every call is over)."""
    return len(uas._calls)


def forget_call(uas: SipUAS, incoming: IncomingCall) -> None:
    """Drops aiosipua's record of a call we are done with (it keeps calls we end ourselves)."""
    if uas._calls.get(incoming.call_id) is incoming:
        del uas._calls[incoming.call_id]
    uas._remove_invite_transaction(incoming.invite)


def send_error(uas: SipUAS, request: SipRequest, status: int, reason: str) -> None:
    """Answers a request outside any dialog with an error status; a request without a usable Via gets nothing."""
    try:
        uas._send_error(request, status, reason)
    except ValueError as err:  # no Via, or one that cannot be read: there is nowhere to send the answer
        log.debug("no %d sent for a %s: %s", status, request.method, err)


def valid_in_dialog(uas: SipUAS, dialog: Dialog, request: SipRequest) -> bool:
    """Tag and CSeq checks of an in-dialog request; answers 481/500 itself when they fail."""
    return uas._validate_in_dialog(dialog, request)


def signalling_address(incoming: IncomingCall) -> tuple[str, int]:
    """The address the call advertises in Via and Contact."""
    return incoming._signaling_addr()


def stop_retransmissions(incoming: IncomingCall) -> None:
    """Stops the call's 200 OK retransmissions and timers before we send BYE."""
    incoming._stop_retransmissions()
