"""Speech endpoints: recognise an uploaded recording, synthesise a spoken answer."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from bot.gateway.deps import per_client
from bot.gateway.errors import error_answer, error_response
from bot.gateway.limits import MAX_SPEECH_UPLOAD_BYTES, MAX_SYNTHESIS_CHARS
from speech import errors
from speech.service import SpeechService

router = APIRouter(prefix="/api/speech", tags=["speech"], dependencies=[per_client("speech_per_client")])

_AUDIO_TYPES = ("audio/", "video/webm", "video/ogg", "application/octet-stream")


class RecognitionResponse(BaseModel):
    """What was heard."""

    text: str
    confidence: float


class SynthesizeRequest(BaseModel):
    """Text to speak and how fast."""

    text: str = Field(min_length=1, max_length=MAX_SYNTHESIS_CHARS)
    rate: Literal["slow", "normal"] = "slow"
    locale: str = "zh-CN"


def get_speech_service(request: Request) -> SpeechService | None:
    """The SpeechService the application set at start-up as app.state.speech."""
    return getattr(request.app.state, "speech", None)


SpeechDep = Annotated[SpeechService | None, Depends(get_speech_service)]


def _unavailable() -> JSONResponse:
    return error_response(503, "speech_unavailable", "speech is not set up on this server")


async def _read_upload(request: Request) -> tuple[bytes, str] | JSONResponse:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        uploads = [v for v in form.values() if isinstance(v, UploadFile)]
        if not uploads:
            return error_response(422, "audio_missing", "the form holds no audio file")
        named = form.get("file")
        upload = named if isinstance(named, UploadFile) else uploads[0]
        data = await upload.read(MAX_SPEECH_UPLOAD_BYTES + 1)
        content_type = upload.content_type or ""
    else:
        if not content_type.startswith(_AUDIO_TYPES):
            return error_response(
                415,
                "unsupported_media_type",
                "send audio/wav, audio/webm or audio/ogg as the body, or a multipart file",
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_SPEECH_UPLOAD_BYTES:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
    if len(data) > MAX_SPEECH_UPLOAD_BYTES:
        return error_response(
            422, "audio_too_long", f"uploads are limited to {MAX_SPEECH_UPLOAD_BYTES // (1024 * 1024)} MB"
        )
    return data, content_type


@router.post(
    "/recognize",
    response_model=RecognitionResponse,
    openapi_extra={
        "requestBody": {
            "content": {
                "audio/wav": {"schema": {"type": "string", "format": "binary"}},
                "audio/webm": {"schema": {"type": "string", "format": "binary"}},
                "audio/ogg": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            },
            "required": True,
        }
    },
)
async def recognise(request: Request, service: SpeechDep, locale: str = "zh-CN") -> Response:
    """Recognise up to 60 s of speech sent as a raw audio body or a multipart file."""
    if service is None:
        return _unavailable()
    if not service.can_recognise(locale):
        return error_answer(
            errors.RecognitionUnavailable(
                f"speech recognition for {locale} is not configured on this server"
            )
        )
    upload = await _read_upload(request)
    if isinstance(upload, JSONResponse):
        return upload
    data, content_type = upload
    try:
        transcript = await service.transcribe_bytes(data, content_type, locale=locale)
    except errors.SpeechError as err:
        return error_answer(err)
    return JSONResponse(RecognitionResponse(text=transcript.text, confidence=transcript.confidence).model_dump())


@router.post(
    "/synthesize",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}},
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": SynthesizeRequest.model_json_schema()}},
            "required": True,
        }
    },
)
async def synthesize(request: Request, service: SpeechDep) -> Response:
    """Speak up to 500 characters as a 16 kHz WAV file, slowly unless asked otherwise."""
    if service is None:
        return _unavailable()
    # Validated here rather than by a body parameter so that every client error keeps
    # the contract's {"error": …} shape whatever handlers the application installs.
    try:
        body = SynthesizeRequest.model_validate(json.loads(await request.body() or b"null"))
    except (ValueError, ValidationError) as err:
        detail = err.errors()[0]["msg"] if isinstance(err, ValidationError) else "the body is not JSON"
        return error_response(
            422, "invalid_request", f'send {{"text": 1–{MAX_SYNTHESIS_CHARS} characters, "rate": "slow"|"normal"}}: {detail}'
        )
    try:
        wav = await service.synthesize_wav(body.text, locale=body.locale, rate=body.rate)
    except errors.SpeechError as err:
        return error_answer(err)
    return Response(wav, media_type="audio/wav")
