"""Calls from a real SIP phone (baresip) to our endpoint on loopback: audio both ways, keys, hang-ups, transfer."""

from __future__ import annotations

import asyncio
import logging
import socket

import numpy as np
import pytest

from tests.channels.phone.sip_line import (
    GREETING_HZ,
    SIP_PORT,
    SipLine,
    needs_baresip,
    ToneHandler,
    key_hz,
    phone_ports,
    run,
)
from tests.channels.phone.sip_client import RATE, dominant_frequency, loud_spans, silence, tone


pytestmark = needs_baresip


def _greeting_span(heard: np.ndarray) -> tuple[float, float]:
    spans = loud_spans(heard)
    assert spans, "the phone heard only silence"
    return spans[0]


@pytest.mark.parametrize("codec", ["PCMA", "PCMU"])
def test_the_greeting_arrives_as_audio_in_either_codec(tmp_path, codec):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phone = await line.phone(codecs=codec)
            await phone.dial(line.uri)
            await asyncio.sleep(1.6)
            (record,) = line.handler.calls
            assert record.call.codec == codec
            await phone.hang_up()
            heard = phone.heard()
            start, end = _greeting_span(heard)
            # The greeting starts at once and lasts its second; it is the tone that was played.
            assert start < 0.3
            assert 0.9 <= end - start <= 1.1
            assert abs(dominant_frequency(heard[int(start * RATE):int(end * RATE)]) - GREETING_HZ) < 10
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)

    run(scenario)


def test_pcma_is_chosen_when_the_caller_prefers_pcmu(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phone = await line.phone(codecs="PCMU,PCMA")
            await phone.dial(line.uri)
            await line.handler.answered.wait()
            assert line.handler.calls[0].call.codec == "PCMA"
            await phone.hang_up()

    run(scenario)


def test_keys_arrive_in_order_and_each_is_answered(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phone = await line.phone()
            await phone.dial(line.uri)
            await asyncio.sleep(1.2)  # the greeting
            await phone.press("1234*#5", gap=0.4)
            await asyncio.sleep(0.6)
            record = line.handler.calls[0]
            assert record.keys == list("1234*#5")
            await phone.hang_up()
            # Every key came back as its own tone, in the order pressed.
            heard = phone.heard()
            echoes = loud_spans(heard, min_gap_s=0.1)[1:]
            frequencies = [dominant_frequency(heard[int(s * RATE):int(e * RATE)]) for s, e in echoes]
            assert [round(f, -2) for f in frequencies] == [key_hz(k) for k in "1234*#5"]

    run(scenario)


def test_the_callers_voice_reaches_the_call_handler(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phone = await line.phone()
            await phone.dial(line.uri)
            await phone.say(silence(0.2) + tone(1.0, 1000.0))
            await asyncio.sleep(1.8)
            await phone.hang_up()
            await line.handler.calls[0].finished.wait()
            samples = line.handler.caller_samples()
            spans = loud_spans(samples)
            assert len(spans) == 1 and 0.9 <= spans[0][1] - spans[0][0] <= 1.1
            start, end = spans[0]
            assert abs(dominant_frequency(samples[int(start * RATE):int(end * RATE)]) - 1000) < 10

    run(scenario)


def test_the_callers_number_never_reaches_the_log(tmp_path, caplog):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phone = await line.phone(user="13912345678")
            await phone.dial(line.uri)
            await line.handler.answered.wait()
            assert line.handler.calls[0].call.caller == "13912345678"  # the call flow gets it, for call-backs
            await phone.press("9")
            await phone.wait_event("CALL_CLOSED", timeout=5)

    with caplog.at_level(logging.DEBUG):
        run(scenario)
    assert "answered" in caplog.text
    assert "13912345678" not in caplog.text and "139****5678" in caplog.text


def test_the_caller_hanging_up_ends_the_call_and_leaves_nothing_behind(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phone = await line.phone()
            await phone.dial(line.uri)
            await line.handler.answered.wait()
            record = line.handler.calls[0]
            assert line.endpoint.state["calls"] == 1 and line.endpoint.state["rtp_ports"] == 1
            await phone.hang_up()
            await asyncio.wait_for(record.finished.wait(), 5)
            assert record.hung_up_event and not record.call.active
            assert record.call.ended_by == "caller"
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)
            assert await record.call.play(tone(0.2)) is False  # nothing plays on a dead call

    run(scenario)


def test_hanging_up_from_our_side_closes_the_phones_call(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phone = await line.phone()
            await phone.dial(line.uri)
            await line.handler.answered.wait()
            await phone.press("9")  # the handler hangs up on 9
            await phone.wait_event("CALL_CLOSED", timeout=5)
            record = line.handler.calls[0]
            await asyncio.wait_for(record.finished.wait(), 5)
            assert record.call.ended_by == "us"
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)

    run(scenario)


def test_three_calls_at_once_each_have_their_own_audio_and_keys(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phones = [await line.phone(i, user=f"1390000000{i}") for i in range(3)]
            await asyncio.gather(*(p.dial(line.uri) for p in phones))
            assert line.endpoint.state["calls"] == 3
            ports = {r.call.stream.local_port for r in line.handler.calls}
            assert len(ports) == 3
            await asyncio.sleep(1.2)
            await asyncio.gather(*(p.press(k) for p, k in zip(phones, "123")))
            await asyncio.sleep(0.6)
            by_caller = {r.call.caller: r.keys for r in line.handler.calls}
            assert by_caller == {"13900000000": ["1"], "13900000001": ["2"], "13900000002": ["3"]}
            await asyncio.gather(*(p.hang_up() for p in phones))
            for phone, key in zip(phones, "123"):
                heard = phone.heard()
                spans = loud_spans(heard, min_gap_s=0.1)
                assert abs(dominant_frequency(heard[int(spans[0][0] * RATE):int(spans[0][1] * RATE)]) - GREETING_HZ) < 10
                echo = spans[1]
                assert round(dominant_frequency(heard[int(echo[0] * RATE):int(echo[1] * RATE)]), -2) == key_hz(key)
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)

    run(scenario, timeout=90)


def test_a_transfer_sends_refer_and_the_phone_calls_the_staff_line(tmp_path):
    async def scenario():
        staff_ports = phone_ports(3)
        handler = ToneHandler(transfer_target=f"sip:staff@127.0.0.1:{staff_ports.sip}")
        async with SipLine(tmp_path, handler) as line:
            caller = await line.phone(0)
            staff = await line.phone(3, user="staff")
            await caller.dial(line.uri)
            await line.handler.answered.wait()
            await caller.press("0")
            # The staff phone rings (it answers by itself) because the caller's phone followed our REFER.
            await staff.wait_event("CALL_ESTABLISHED", timeout=10)
            record = line.handler.calls[0]
            assert record.transfer_result is True
            assert record.call.transfers == [f"sip:staff@127.0.0.1:{staff_ports.sip}"]
            await asyncio.wait_for(record.finished.wait(), 10)  # the caller's phone leaves our call
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)

    run(scenario)


def test_a_caller_who_gives_up_while_it_rings_leaves_nothing_behind(tmp_path):
    async def scenario():
        async with SipLine(tmp_path, answer_delay=3.0) as line:
            phone = await line.phone()
            await phone.command("dial", line.uri)
            await phone.wait_event("CALL_RINGING", timeout=5)
            assert line.endpoint.state["ringing"] == 1
            await phone.hang_up()  # before the answer: baresip sends CANCEL
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)
            assert line.handler.calls == []

    run(scenario)


def test_garbage_and_unusable_offers_get_answers_and_do_not_stop_the_line(tmp_path):
    def invite(body: str, branch: str) -> bytes:
        head = (f"INVITE sip:service@127.0.0.1:{SIP_PORT} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{sock.getsockname()[1]};branch=z9hG4bK{branch}\r\n"
                f"From: <sip:13800138000@127.0.0.1>;tag=a{branch}\r\nTo: <sip:service@127.0.0.1>\r\n"
                f"Call-ID: {branch}@127.0.0.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                f"Contact: <sip:13800138000@127.0.0.1:{sock.getsockname()[1]}>\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n")
        return (head + body).encode()

    def final_status() -> int:
        while True:
            data, _ = sock.recvfrom(65535)
            status = int(data.split(b" ", 2)[1])
            if status >= 200:
                return status

    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    async def scenario():
        async with SipLine(tmp_path) as line:
            loop = asyncio.get_running_loop()
            for junk in (b"\x00\xff" * 40, b"INVITE\r\n\r\n", b"SIP/2.0 banana\r\n", bytes(range(256)) * 4,
                         b"OPTIONS sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n"):
                sock.sendto(junk, ("127.0.0.1", SIP_PORT))
            # Only G.729 offered: 488. An unreadable m= line: 488. No audio at all: 488.
            for branch, body in (("g729", sdp + "m=audio 30000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"),
                                 ("badm", sdp + "m=audio notaport RTP/AVP 8\r\n"),
                                 ("noaudio", sdp + "m=video 30000 RTP/AVP 96\r\n")):
                sock.sendto(invite(body, branch), ("127.0.0.1", SIP_PORT))
                assert await loop.run_in_executor(None, final_status) == 488
            assert line.handler.calls == []
            # The line still answers a real phone.
            phone = await line.phone()
            await phone.dial(line.uri)
            await phone.hang_up()
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    try:
        run(scenario)
    finally:
        sock.close()


def test_garbage_on_the_rtp_port_does_not_end_the_call(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            phone = await line.phone()
            await phone.dial(line.uri)
            await line.handler.answered.wait()
            await asyncio.sleep(0.5)  # the phone's own RTP is flowing
            port = line.handler.calls[0].call.stream.local_port
            junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for packet in (b"", b"\x80", b"\x80\x08" + b"\xff" * 10, b"\xbf\xff" + b"\x00" * 30, b"hello"):
                junk.sendto(packet, ("127.0.0.1", port))
            junk.close()
            await phone.press("7")
            await asyncio.sleep(0.5)
            assert line.handler.calls[0].keys == ["7"] and line.handler.calls[0].call.active
            await phone.hang_up()

    run(scenario)
