"""Choosing the call's codec from the caller's SDP offer and writing our answer."""

from __future__ import annotations

from dataclasses import dataclass

from aiosipua import SdpMessage, negotiate_sdp, parse_sdp

from channels.phone.call import FRAME_MS
from channels.phone.errors import NoUsableCodec, SdpInvalid
from channels.phone.peers import is_numeric_address

PCMU = 0
PCMA = 8
# A-law first: it is what Chinese (and most non-North-American) trunks carry, so no transcoding there.
PREFERRED_CODECS = ("PCMA", "PCMU")
_STATIC_TYPES = {"PCMA": PCMA, "PCMU": PCMU}
# Our telephone-event payload type when the offer names none (RFC 4733 uses a dynamic type).
DEFAULT_DTMF_TYPE = 101


@dataclass(frozen=True)
class MediaPlan:
    """What both sides agreed on for the audio stream."""

    codec: str
    payload_type: int
    dtmf_payload_type: int | None
    remote_rtp: tuple[str, int]
    answer: SdpMessage


def parse_offer(body: str) -> SdpMessage:
    """The SDP offer of an INVITE; SdpInvalid when it has no audio line, names a host or cannot be read."""
    try:
        offer = parse_sdp(body)
    except (ValueError, TypeError, IndexError) as err:
        raise SdpInvalid(f"the SDP offer cannot be parsed: {err}") from err
    address = offer.rtp_address
    if address is None or not address[1] or not 0 < address[1] < 65536:
        raise SdpInvalid("the SDP offer has no audio stream with a connection address and port")
    if not is_numeric_address(address[0]):
        # A name would be looked up by the media clock on every packet, on the thread all calls share.
        raise SdpInvalid(f"the SDP connection address {address[0][:64]!r} is a host name; only IP addresses are taken")
    return offer


def choose_codec(offer: SdpMessage, preferred: tuple[str, ...] = PREFERRED_CODECS) -> tuple[str, int]:
    """The codec to use: our first preference that the offer carries at 8 kHz, with its payload type."""
    audio = offer.audio
    offered: dict[str, int] = {}
    for codec in audio.codecs if audio else []:
        name = (codec.encoding_name or "").upper()
        if name in _STATIC_TYPES and codec.clock_rate in (0, 8000) and name not in offered:
            offered[name] = codec.payload_type
    for name in preferred:
        if name in offered:
            return name, offered[name]
    names = [c.encoding_name or str(c.payload_type) for c in (audio.codecs if audio else [])]
    raise NoUsableCodec(f"the caller offers {names or 'no codec'}; the phone line speaks {list(preferred)}")


def answer_offer(offer: SdpMessage, *, rtp_ip: str, rtp_port: int, advertised_ip: str | None = None) -> MediaPlan:
    """Our SDP answer for the offer, with the chosen codec and DTMF type; NoUsableCodec when nothing fits."""
    codec, payload_type = choose_codec(offer)
    audio, remote_rtp = offer.audio, offer.rtp_address
    if audio is None or remote_rtp is None:  # choose_codec and checked_offer refuse such an offer first
        raise SdpInvalid("the SDP offer has no audio stream with a connection address and port")
    offered_dtmf = next(
        (c.payload_type for c in audio.codecs if (c.encoding_name or "").lower() == "telephone-event"
         and c.clock_rate in (0, 8000)),
        None,
    )
    answer, chosen = negotiate_sdp(
        offer,
        local_ip=rtp_ip,
        rtp_port=rtp_port,
        supported_codecs=[payload_type],
        # Answer with the offerer's own telephone-event number so both directions agree (RFC 3264 §6.1).
        dtmf_payload_type=offered_dtmf or DEFAULT_DTMF_TYPE,
        advertised_ip=advertised_ip,
    )
    # We always send 20 ms packets, whatever the offer's ptime, so the answer says so.
    for media in answer.media:
        if media.port and "ptime" in media.attributes:
            media.attributes["ptime"] = [str(FRAME_MS)]
    return MediaPlan(
        codec=codec,
        payload_type=chosen,
        dtmf_payload_type=offered_dtmf,
        remote_rtp=remote_rtp,
        answer=answer,
    )
