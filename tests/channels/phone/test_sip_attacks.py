"""Someone other than the trunk tries the phone line: calls from a stranger's address, a host name in the
SDP, a stranger's RTP racing the caller's, malformed and oversized SIP. The line refuses them and keeps
serving real calls."""

from __future__ import annotations

import asyncio
import logging
import random

from tests.channels.phone.raw_sip import (
    RAW_RTP_PORT,
    RAW_SIP_PORT,
    STRANGER_PORT,
    RawCall,
    UdpPeer,
    rtp_packets,
    rtp_payloads,
    sdp,
)
from tests.channels.phone.sip_client import RATE, dominant_frequency, loud_spans, tone
from tests.channels.phone.sip_line import (
    GREETING_HZ,
    RTP_PORTS,
    SipLine,
    needs_baresip,
    run,
)

ZEROS = {"calls": 0, "ringing": 0, "dialogs": 0, "rtp_ports": 0, "pending_requests": 0, "tasks": 0,
         "media_clock_threads": 0}


def test_an_invite_from_outside_the_allow_list_is_refused_with_403(tmp_path, caplog):
    async def scenario():
        async with SipLine(tmp_path, allowed_peers=("127.0.0.1",)) as line:
            async with UdpPeer("127.0.0.2", RAW_SIP_PORT) as stranger:
                refused = await RawCall(stranger).invite()
                assert refused is not None and refused.status_code == 403
                assert line.handler.calls == [] and line.endpoint.state == ZEROS
            async with UdpPeer("127.0.0.1", RAW_SIP_PORT) as trunk:
                call = RawCall(trunk)
                answered = await call.invite()
                assert answered is not None and answered.status_code == 200
                await line.handler.answered.wait()
                assert (await call.bye()).status_code == 200
            assert await line.settled() == ZEROS

    with caplog.at_level(logging.WARNING, logger="channels.phone.sip"):
        run(scenario)
    assert "127.0.0.2 refused" in caplog.text


def test_with_a_registrar_only_the_registrar_may_call_even_from_the_local_network(tmp_path):
    async def scenario():
        # The registrar is a bare socket on 127.0.0.3: it takes our REGISTERs and sends the call.
        async with (UdpPeer("127.0.0.3", RAW_SIP_PORT) as registrar, UdpPeer("127.0.0.1", RAW_SIP_PORT) as local,
                    SipLine(tmp_path, registrar=("127.0.0.3", RAW_SIP_PORT), username="bianmin") as line):
            refused = await RawCall(local).invite()
            assert refused is not None and refused.status_code == 403
            call = RawCall(registrar)
            answered = await call.invite()
            assert answered is not None and answered.status_code == 200
            await line.handler.answered.wait()
            assert (await call.bye()).status_code == 200
            assert len(line.handler.calls) == 1

    run(scenario)


def test_a_host_name_in_the_sdp_is_refused_with_488_and_holds_nothing(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line, UdpPeer("127.0.0.1", RAW_SIP_PORT) as trunk:
            refused = await RawCall(trunk, body=sdp("localhost", RAW_RTP_PORT)).invite()
            assert refused is not None and refused.status_code == 488
            assert line.handler.calls == [] and line.endpoint.state == ZEROS

    run(scenario)


def test_a_stranger_racing_rtp_to_the_call_cannot_take_it_over(tmp_path):
    async def scenario():
        async with (SipLine(tmp_path) as line, UdpPeer("127.0.0.1", RAW_SIP_PORT) as trunk,
                    UdpPeer("127.0.0.1", RAW_RTP_PORT) as caller_media,
                    UdpPeer("127.0.0.7", STRANGER_PORT) as stranger):
            # The stranger sprays its own voice (300 Hz) at every RTP port before and during the call.
            spray = rtp_packets(tone(0.2, 300.0), ssrc=0xBAD)

            async def flood():
                while True:
                    for port in range(RTP_PORTS[0] + RTP_PORTS[0] % 2, RTP_PORTS[1] + 1, 2):
                        for packet in spray[:2]:
                            stranger.send(packet, ("127.0.0.1", port))
                    await asyncio.sleep(0.005)

            flooding = asyncio.get_running_loop().create_task(flood())
            try:
                await asyncio.sleep(0.1)
                call = RawCall(trunk)
                assert (await call.invite()).status_code == 200
                await line.handler.answered.wait()
                await asyncio.sleep(0.3)  # the stranger's packets reach the call's port before the caller's
                for packet in rtp_packets(tone(1.0, 1000.0), ssrc=0x600D):
                    caller_media.send(packet, ("127.0.0.1", line.handler.calls[0].call.stream.local_port))
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)
                stream = line.handler.calls[0].call.stream
                assert stream.remote == ("127.0.0.1", RAW_RTP_PORT)
                assert stream.foreign_packets > 0
                assert (await call.bye()).status_code == 200
            finally:
                flooding.cancel()
            await line.handler.calls[0].finished.wait()
            # The call handler heard the caller's 1000 Hz, never the stranger's 300 Hz ...
            samples = line.handler.caller_samples()
            spans = loud_spans(samples)
            assert len(spans) == 1
            start, end = spans[0]
            assert abs(dominant_frequency(samples[int(start * RATE):int(end * RATE)]) - 1000) < 10
            # ... and the greeting went to the caller, nothing to the stranger.
            assert rtp_payloads(caller_media.drain())
            assert rtp_payloads(stranger.drain()) == []

    run(scenario)


def _malformed(rng: random.Random, valid: list[bytes]) -> bytes:
    """One broken SIP message: cut, flipped, shuffled, bloated, or junk."""
    base = rng.choice(valid)
    kind = rng.randrange(9)
    if kind == 0:
        return base[: rng.randrange(len(base))]
    if kind == 1:
        # Bytes flipped in the headers only: a flipped SDP address could name a host off this machine.
        data = bytearray(base)
        head = base.index(b"\r\n\r\n")
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(head)] = rng.randrange(256)
        return bytes(data)
    if kind == 2:
        lines = base.split(b"\r\n")
        rng.shuffle(lines)
        return b"\r\n".join(lines)
    if kind == 3:  # a header dropped (Via, CSeq, Call-ID ... whichever)
        lines = base.split(b"\r\n")
        del lines[rng.randrange(1, 8)]
        return b"\r\n".join(lines)
    if kind == 4:  # a huge header, under and over the datagram limit
        return base.replace(b"Max-Forwards: 70", b"X-Junk: " + b"A" * rng.choice([4000, 7000, 20000, 60000]))
    if kind == 5:
        return rng.randbytes(rng.randrange(1, 1500))
    if kind == 6:  # lies about numbers
        return rng.choice([
            base.replace(b"CSeq: 1", b"CSeq: -99999999999999999999"),
            base.replace(b"CSeq: 1 INVITE", b"CSeq: abc"),
            base.replace(b"Content-Length: ", b"Content-Length: 9999"),
            base.replace(b"Content-Length: ", b"Content-Length: -"),
            base.replace(b"m=audio ", b"m=audio 99999999"),
            base.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 " + b"9" * 300),
            base.replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1),
        ])
    if kind == 7:  # a thousand headers
        return base.replace(b"Max-Forwards: 70", b"\r\n".join([b"Via: SIP/2.0/UDP 1.2.3.4"] * 1000))
    return base.replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\n\r\n", b"\x00"]))


@needs_baresip
def test_malformed_and_oversized_sip_leaves_the_line_serving_calls(tmp_path):
    async def scenario():
        # Broken INVITEs that still make a call are hung up by the RTP watchdog (the fuzzer sends no audio).
        async with SipLine(tmp_path, rtp_timeout=1.0) as line:
            async with UdpPeer("127.0.0.1", RAW_SIP_PORT) as fuzzer, UdpPeer("127.0.0.9", STRANGER_PORT) as stranger:
                valid = [RawCall(fuzzer).request(method, 1, sdp("127.0.0.1", RAW_RTP_PORT) if method == "INVITE"
                                                 else "").encode() for method in ("INVITE", "OPTIONS", "BYE", "INFO")]
                rng = random.Random(20261206)
                for n in range(1500):
                    (fuzzer if n % 3 else stranger).send(_malformed(rng, valid))
                    if n % 50 == 0:
                        await asyncio.sleep(0.01)  # let the line read: a UDP buffer overflow would test nothing
                # The line still answers a well-formed request.
                answer = await RawCall(fuzzer).ping()
                assert answer is not None and answer.status_code == 200
            assert await line.settled(timeout=20) == ZEROS
            # A real phone's call works as before: the greeting is heard.
            calls_before = len(line.handler.calls)
            phone = await line.phone()
            await phone.dial(line.uri)
            await asyncio.sleep(1.6)
            await phone.hang_up()
            assert len(line.handler.calls) == calls_before + 1
            heard = phone.heard()
            spans = loud_spans(heard)
            assert spans and 0.9 <= spans[0][1] - spans[0][0] <= 1.1
            start, end = spans[0]
            assert abs(dominant_frequency(heard[int(start * RATE):int(end * RATE)]) - GREETING_HZ) < 10
            assert await line.settled() == ZEROS

    run(scenario, timeout=120)


def test_an_offer_check_costs_no_dns_lookup(monkeypatch):
    """The SDP check itself must not resolve anything: a name is refused by its form."""
    import socket

    from channels.phone.errors import SdpInvalid
    from channels.phone.sdp import parse_offer

    def no_dns(*args, **kwargs):
        raise AssertionError("a DNS lookup was made")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)
    for name in ("localhost", "media.example-trunk.cn", "127.0.0.1.nip.io"):
        try:
            parse_offer(sdp(name, 4000))
        except SdpInvalid as err:
            assert "host name" in err.message
        else:
            raise AssertionError(f"{name} was taken")
    assert parse_offer(sdp("192.0.2.10", 4000)).rtp_address == ("192.0.2.10", 4000)


def test_a_second_invite_with_the_call_id_of_a_ringing_call_is_refused_and_the_first_call_kept(tmp_path):
    async def scenario():
        async with SipLine(tmp_path, answer_delay=0.5) as line, UdpPeer("127.0.0.1", RAW_SIP_PORT) as trunk:
            first = RawCall(trunk)
            trunk.send(first.request("INVITE", 1, first.body))
            await asyncio.sleep(0.1)  # it rings
            second = RawCall(trunk)
            second.call_id, second.tag = first.call_id, "other"
            trunk.send(second.request("INVITE", 1, second.body))
            assert (await trunk.final_response()).status_code == 482
            answered = await trunk.final_response()
            assert answered.status_code == 200 and answered.headers.get_first("from").endswith(first.tag)
            await line.handler.answered.wait()
            assert len(line.handler.calls) == 1 and len(line.endpoint.calls) == 1
            first.to_header = answered.headers.get_first("to")
            trunk.send(first.request("ACK", 1))
            assert (await first.bye()).status_code == 200
            assert await line.settled() == ZEROS

    run(scenario)


def test_a_caller_who_sends_no_audio_is_hung_up_and_leaves_no_port_held(tmp_path):
    async def scenario():
        async with SipLine(tmp_path, rtp_timeout=0.5) as line, UdpPeer("127.0.0.1", RAW_SIP_PORT) as trunk:
            for _ in range(3):
                assert (await RawCall(trunk).invite()).status_code == 200
            while len(line.handler.calls) < 3:
                await asyncio.sleep(0.05)
            for record in line.handler.calls:
                await record.finished.wait()
            assert await line.settled(timeout=10) == ZEROS

    run(scenario)
