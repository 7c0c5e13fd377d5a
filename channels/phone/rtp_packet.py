"""The RTP packet format (RFC 3550) and RFC 4733 keypad events: bytes in and out, nothing else."""

from __future__ import annotations

import struct
from dataclasses import dataclass

_HEADER = struct.Struct("!BBHII")
_VERSION = 2
# RFC 4733 §3.2: events 0-9, 10 '*', 11 '#', 12-15 'A'-'D' (A-D are not on a phone keypad, but arrive).
_EVENT_KEYS = "0123456789*#ABCD"


@dataclass(frozen=True)
class RtpPacket:
    """The fields of one RTP packet that the call uses."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet's fields, or None for anything that is not RTP version 2 (RTCP, STUN, garbage)."""
    if len(data) < _HEADER.size:
        return None
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != _VERSION or 72 <= (second & 0x7F) <= 76:  # 72-76: RTCP sharing the port
        return None
    offset = _HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:  # padding: the last byte counts the padding bytes
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, data[offset:end])


def build_rtp(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    """One RTP packet without CSRCs or extensions."""
    return _HEADER.pack(_VERSION << 6, (0x80 if marker else 0) | payload_type,
                        sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def telephone_event_key(payload: bytes) -> str | None:
    """The key of an RFC 4733 telephone-event payload, or None for other events or a short payload."""
    if len(payload) < 4 or payload[0] >= len(_EVENT_KEYS):
        return None
    return _EVENT_KEYS[payload[0]]

