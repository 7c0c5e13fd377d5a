"""Voice notes: Telegram wants Ogg/Opus, the speech service speaks WAV; ffmpeg converts."""

from __future__ import annotations

import asyncio

OGG_CONTENT_TYPE = "audio/ogg"


class VoiceConversionFailed(Exception):
    """ffmpeg is missing or could not encode the answer."""


async def ogg_opus_from_wav(wav: bytes) -> bytes:
    """Encodes WAV as a mono Ogg/Opus voice note."""
    try:
        process = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0",
            "-ac", "1", "-c:a", "libopus", "-b:a", "32k", "-application", "voip", "-f", "ogg", "pipe:1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError as err:
        raise VoiceConversionFailed("ffmpeg is not installed") from err
    out, stderr = await process.communicate(wav)
    if process.returncode != 0 or not out:
        raise VoiceConversionFailed(f"ffmpeg failed: {stderr.decode(errors='replace')[-300:]}")
    return out
