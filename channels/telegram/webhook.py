"""POST /telegram/webhook: updates from Telegram in webhook mode, checked by the secret token header."""

from __future__ import annotations

import json
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot.gateway.errors import error_response

router = APIRouter(tags=["telegram"])

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@router.post("/telegram/webhook", include_in_schema=False)
async def telegram_webhook(request: Request) -> JSONResponse:
    """Hands an update to the Telegram channel; only Telegram knows the secret given to setWebhook."""
    settings = request.app.state.settings
    expected = settings.telegram_webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not secrets.compare_digest(given.encode(), expected.encode()):
        return error_response(401, "unauthorized", "missing or wrong X-Telegram-Bot-Api-Secret-Token")
    channel = getattr(request.app.state, "telegram", None)
    if channel is None or not channel.webhook:
        return error_response(404, "telegram_off", "the Telegram channel is not running in webhook mode")
    try:
        update = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return error_response(422, "invalid_request", "the body is not a JSON Telegram update")
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return error_response(422, "invalid_request", "a Telegram update needs an integer update_id")
    await channel.feed(update)
    return JSONResponse({"ok": True})
