"""Every error leaves the gateway as JSON {"error": {"code", "message"}}, never as a bare 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.errors import BianminError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The contract's error shape."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def error_answer(err: BianminError) -> JSONResponse:
    """The answer to any of the project's errors: its own status, code and message."""
    retry_after = getattr(err, "retry_after", None)  # RateLimited: when to come back
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return error_response(err.status, err.code, err.message, headers)


def _describe(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return "; ".join(parts)[:500] or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Registers handlers that turn every failure into the contract's JSON error."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, err: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _describe(err))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        if err.status_code == 400:
            # FastAPI's answer to a body it cannot decode (e.g. invalid UTF-8): a malformed body, 422.
            return error_response(422, "invalid_request", "the request body is not valid UTF-8 JSON")
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                413: "too_large", 415: "unsupported_media_type"}.get(err.status_code, "http_error")
        return error_response(err.status_code, code, str(err.detail))

    @app.exception_handler(BianminError)
    async def _domain(_request: Request, err: BianminError) -> JSONResponse:
        return error_answer(err)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error: %s", type(err).__name__)
        return error_response(500, "internal", "服务暂时出错了，请稍后再试。")
