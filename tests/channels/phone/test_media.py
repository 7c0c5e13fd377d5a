"""Codec choice from SDP offers, RTP packets and keypad events, and the phone settings' validation."""

from __future__ import annotations

import pytest

from bot.errors import ConfigurationError
from bot.settings import load_settings
from channels.phone.errors import NoUsableCodec, SdpInvalid
from channels.phone.rtp_packet import build_rtp, parse_rtp, telephone_event_key
from channels.phone.sdp import answer_offer, parse_offer

HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"


def offer(media: str) -> str:
    return HEAD + media


@pytest.mark.parametrize("formats", ["0 8 101", "8 0 101", "0 101 8"])
def test_a_law_is_chosen_whenever_it_is_offered(formats):
    plan = answer_offer(parse_offer(offer(f"m=audio 4000 RTP/AVP {formats}\r\na=rtpmap:101 telephone-event/8000\r\n")),
                        rtp_ip="198.51.100.1", rtp_port=10000)
    assert (plan.codec, plan.payload_type, plan.dtmf_payload_type) == ("PCMA", 8, 101)
    assert plan.remote_rtp == ("192.0.2.7", 4000)
    audio = plan.answer.audio
    assert audio.port == 10000 and audio.formats == ["8", "101"] and audio.attributes["ptime"] == ["20"]
    assert plan.answer.connection.address == "198.51.100.1"


def test_mu_law_alone_is_accepted_and_the_offerers_event_type_is_kept():
    plan = answer_offer(parse_offer(offer("m=audio 4000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n"
                                          "a=ptime:30\r\n")), rtp_ip="198.51.100.1", rtp_port=10002)
    assert (plan.codec, plan.dtmf_payload_type) == ("PCMU", 96)
    assert plan.answer.audio.formats == ["0", "96"] and plan.answer.audio.attributes["ptime"] == ["20"]


@pytest.mark.parametrize("media", ["m=audio 4000 RTP/AVP 18 9\r\n", "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n",
                                   "m=audio 4000 RTP/AVP 97\r\na=rtpmap:97 PCMA/16000\r\n"])
def test_an_offer_without_8_khz_g711_has_no_usable_codec(media):
    with pytest.raises(NoUsableCodec):
        answer_offer(parse_offer(offer(media)), rtp_ip="198.51.100.1", rtp_port=10000)


@pytest.mark.parametrize("body", ["", "garbage", offer("m=video 4000 RTP/AVP 96\r\n"),
                                  offer("m=audio x RTP/AVP 8\r\n"), offer("m=audio 0 RTP/AVP 8\r\n"),
                                  "v=0\r\nm=audio 4000 RTP/AVP 8\r\n"])
def test_unreadable_offers_are_sdp_errors(body):
    with pytest.raises(SdpInvalid):
        parse_offer(body)


def test_rtp_packets_round_trip_and_non_rtp_is_ignored():
    packet = parse_rtp(build_rtp(8, 65535, 2**32 - 1, 1234, b"\xd5" * 160, marker=True))
    assert (packet.payload_type, packet.marker, packet.sequence, packet.ssrc, len(packet.payload)) == (8, True, 65535, 1234, 160)
    for junk in (b"", b"\x80\x08", b"\x40" + b"\x00" * 20, b"\x80\xc8" + b"\x00" * 30):  # short, v1, RTCP
        assert parse_rtp(junk) is None
    # Padding and a header extension are skipped.
    padded = bytearray(build_rtp(0, 1, 1, 1, b"abc" + b"\x00\x00\x02"))
    padded[0] |= 0x20
    assert parse_rtp(bytes(padded)).payload == b"abc\x00"
    extended = bytearray(build_rtp(0, 1, 1, 1, b"\xbe\xde\x00\x01" + b"1234" + b"voice"))
    extended[0] |= 0x10
    assert parse_rtp(bytes(extended)).payload == b"voice"


def test_telephone_events_name_keypad_keys():
    assert [telephone_event_key(bytes([n, 0x0A, 0, 160])) for n in (0, 5, 9, 10, 11)] == ["0", "5", "9", "*", "#"]
    assert telephone_event_key(bytes([16, 0, 0, 0])) is None and telephone_event_key(b"\x01") is None


def test_phone_settings_are_validated_with_a_hint():
    settings = load_settings(sip_listen="0.0.0.0:5060", sip_registrar="sip:trunk.example.cn:5080",
                             sip_username="0571888", sip_password="pw", sip_rtp_ports="20000-20099",
                             sip_public_address="203.0.113.10")
    assert settings.sip_registrar_address == ("trunk.example.cn", 5080)
    assert settings.sip_rtp_port_range == (20000, 20099)
    assert "pw" not in repr(settings)
    for bad, hint in ((dict(sip_rtp_ports="20000"), "SIP_RTP_PORTS"), (dict(sip_rtp_ports="80-90"), "SIP_RTP_PORTS"),
                      (dict(sip_public_address="203.0.113.10:5060"), "SIP_PUBLIC_ADDRESS"),
                      (dict(sip_registrar="trunk.example.cn"), "SIP_USERNAME"),
                      (dict(sip_registrar="trunk:abc", sip_username="u"), "SIP_REGISTRAR")):
        with pytest.raises(ConfigurationError, match=hint):
            load_settings(**bad)
