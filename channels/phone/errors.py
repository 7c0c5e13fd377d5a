"""Errors raised by the phone line: each has a stable code and a message a deployer can act on."""

from __future__ import annotations

from bot.errors import BianminError


class PhoneError(BianminError):
    """Base of every phone-line error: `code` is stable, `message` says what to do."""

    code = "phone_error"

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class SipStartFailed(PhoneError):
    """The SIP port could not be opened (in use, not permitted, unknown address)."""

    code = "sip_start_failed"


class NoUsableCodec(PhoneError):
    """The caller's SDP offer has no PCMA or PCMU audio stream (answered with 488)."""

    code = "sip_no_usable_codec"


class SdpInvalid(PhoneError):
    """The caller's SDP body cannot be parsed (answered with 488)."""

    code = "sip_sdp_invalid"


class RtpPortsExhausted(PhoneError):
    """Every port of the RTP range is taken by a call (answered with 503)."""

    code = "rtp_ports_exhausted"


class RegistrationFailed(PhoneError):
    """The trunk or PBX refused the REGISTER (wrong credentials, unknown account) or did not answer."""

    code = "sip_registration_failed"

