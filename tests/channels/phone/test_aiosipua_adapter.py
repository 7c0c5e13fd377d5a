"""The behaviour of aiosipua's private parts that the phone line relies on, pinned one by one.

If an aiosipua upgrade renames or changes one of them, the test named after it fails here.
"""

from __future__ import annotations

import asyncio
from typing import Self

import aiosipua
from aiosipua import IncomingCall, SipMessage, SipResponse, SipUAS, parse_sdp

from channels.phone import aiosipua_adapter as sipua
from tests.channels.phone.raw_sip import RawCall, UdpPeer, sdp
from tests.channels.phone.sip_line import run


def test_the_version_these_pins_were_written_for():
    # A new version is fine once the tests below pass with it: then move this pin.
    assert aiosipua.__version__.startswith("0.7."), aiosipua.__version__


class _Uas:
    """aiosipua's UAS on an ephemeral loopback port, with what it hands to on_invite recorded."""

    def __init__(self) -> None:
        self.transport = sipua.SipUdpTransport(local_addr=("127.0.0.1", 0))
        self.uas: SipUAS | None = None
        self.invites: list[IncomingCall] = []

    async def __aenter__(self) -> Self:
        await self.transport.start()
        self.transport.local_addr = ("127.0.0.1", self.transport.bound_port)
        self.uas = SipUAS(self.transport, user_agent="pin")
        self.uas.on_invite = self.invites.append
        self.transport.on_message = lambda message, addr: sipua.dispatch(self.uas, message, addr)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.uas.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.local_addr


async def _response(peer: UdpPeer, status: int, timeout: float = 2.0) -> SipResponse | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (left := deadline - loop.time()) > 0:
        got = await peer.receive(left)
        if got is None:
            return None
        message = SipMessage.parse(got[0])
        if isinstance(message, SipResponse) and message.status_code == status:
            return message
    return None


def test_the_udp_transport_starts_on_this_python_and_knows_its_port():
    async def scenario():
        async with _Uas() as uas:
            assert 1024 <= uas.transport.bound_port <= 65535

    run(scenario)


def test_an_oversized_datagram_is_dropped_before_parsing_and_a_normal_one_still_arrives():
    async def scenario():
        async with _Uas() as uas, UdpPeer("127.0.0.1", 0) as peer:
            seen, arrived = [], asyncio.Event()
            uas.transport.on_message = lambda message, addr: (seen.append(message), arrived.set())
            call = RawCall(peer)
            peer.send(call.request("OPTIONS", 1).replace("Max-Forwards: 70", "X-Pad: " + "A" * 9000), uas.address)
            peer.send(call.request("OPTIONS", 2), uas.address)
            await asyncio.wait_for(arrived.wait(), 2)
            assert [m.cseq.seq for m in seen] == [2]

    run(scenario)


def test_a_method_routed_to_our_handler_reaches_it_instead_of_a_405():
    async def scenario():
        async with _Uas() as uas, UdpPeer("127.0.0.1", 0) as peer:
            got = []
            sipua.handle_method(uas.uas, "INFO", lambda request, addr: got.append(request.method))
            peer.send(RawCall(peer).request("INFO", 1, "Signal=5\r\n", "application/dtmf-relay"), uas.address)
            assert await _response(peer, 405, timeout=0.5) is None
            assert got == ["INFO"]

    run(scenario)


def test_a_new_invite_is_known_counted_and_forgotten():
    async def scenario():
        async with _Uas() as uas, UdpPeer("127.0.0.1", 0) as peer:
            call = RawCall(peer, body=sdp("127.0.0.1", 4000))
            peer.send(call.request("INVITE", 1, call.body), uas.address)
            await _response(peer, 100, timeout=1.0)
            (incoming,) = uas.invites
            assert sipua.knows_call(uas.uas, call.call_id) and sipua.dialog_count(uas.uas) == 1
            sipua.forget_call(uas.uas, incoming)
            assert not sipua.knows_call(uas.uas, call.call_id) and sipua.dialog_count(uas.uas) == 0

    run(scenario)


def test_an_error_answer_goes_back_to_the_sender_with_the_requests_call_id():
    async def scenario():
        async with _Uas() as uas, UdpPeer("127.0.0.1", 0) as peer:
            seen = []
            uas.transport.on_message = lambda message, addr: seen.append(message)
            call = RawCall(peer)
            peer.send(call.request("OPTIONS", 1), uas.address)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            sipua.send_error(uas.uas, seen[0], 403, "Forbidden")
            answer = await _response(peer, 403)
            assert answer is not None and answer.call_id == call.call_id

    run(scenario)


def test_in_dialog_checks_refuse_a_stranger_tag_with_481_and_take_the_callers():
    async def scenario():
        async with _Uas() as uas, UdpPeer("127.0.0.1", 0) as peer:
            call = RawCall(peer, body=sdp("127.0.0.1", 4000))
            peer.send(call.request("INVITE", 1, call.body), uas.address)
            await _response(peer, 100, timeout=1.0)
            (incoming,) = uas.invites
            incoming.accept(parse_sdp(sdp("127.0.0.1", 4002)))
            ok = await _response(peer, 200)
            call.to_header = ok.headers.get_first("to")
            own = SipMessage.parse(call.request("INFO", 2).encode())
            assert sipua.valid_in_dialog(uas.uas, incoming.dialog, own)
            call.tag = "stranger"
            foreign = SipMessage.parse(call.request("INFO", 3).encode())
            assert not sipua.valid_in_dialog(uas.uas, incoming.dialog, foreign)
            assert await _response(peer, 481) is not None

    run(scenario)


def test_the_advertised_address_is_what_the_call_signals_and_retransmissions_stop():
    async def scenario():
        async with _Uas() as uas, UdpPeer("127.0.0.1", 0) as peer:
            call = RawCall(peer, body=sdp("127.0.0.1", 4000))
            peer.send(call.request("INVITE", 1, call.body), uas.address)
            await _response(peer, 100, timeout=1.0)
            (incoming,) = uas.invites
            incoming.advertised_addr = ("203.0.113.7", 5070)
            assert sipua.signalling_address(incoming) == ("203.0.113.7", 5070)
            incoming.accept(parse_sdp(sdp("127.0.0.1", 4002)))
            assert await _response(peer, 200) is not None
            # Unacknowledged, the 200 OK is sent again after T1 (0.5 s) ... until the retransmissions stop.
            assert await _response(peer, 200, timeout=1.5) is not None
            sipua.stop_retransmissions(incoming)
            peer.drain()
            assert await _response(peer, 200, timeout=2.5) is None

    run(scenario)
