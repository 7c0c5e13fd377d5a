"""The QR code printed on the appointment slip, drawn on the server so the kiosk needs no script or asset for it."""

from __future__ import annotations

import io

import segno

# Error correction M survives a creased or smudged thermal slip; a 4-module quiet zone is what scanners expect.
ERROR_CORRECTION = "m"
QUIET_ZONE = 4


def qr_svg(text: str) -> bytes:
    """An SVG QR code of `text`, black on white, sized only by its viewBox so CSS decides how large it prints."""
    out = io.BytesIO()
    segno.make_qr(text, error=ERROR_CORRECTION).save(
        out, kind="svg", border=QUIET_ZONE, dark="#000", light="#fff", xmldecl=False, omitsize=True, nl=False)
    return out.getvalue()
