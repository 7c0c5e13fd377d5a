"""GET /wechat (WeChat checks the server URL) and POST /wechat (followers' messages), signed with WECHAT_TOKEN."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from bot.errors import NotFound
from channels.wechat import messages

router = APIRouter(tags=["wechat"])

Signed = Annotated[str, Query(max_length=128)]


def _channel(request: Request):  # noqa: ANN202 - channels.wechat.channel.WeChatChannel
    channel = getattr(request.app.state, "wechat", None)
    if channel is None:
        raise NotFound("the WeChat channel is off (WECHAT_TOKEN is not set)")
    return channel


@router.get("/wechat", response_class=PlainTextResponse)
async def verify_server(request: Request, signature: Signed, timestamp: Signed, nonce: Signed,
                        echostr: Annotated[str, Query(max_length=256)]) -> PlainTextResponse:
    """WeChat's check of the server URL: echoes `echostr` when the signature is the account's, 403 otherwise."""
    channel = _channel(request)
    messages.verify(channel.token, signature, timestamp, nonce)
    return PlainTextResponse(echostr)


@router.post("/wechat")
async def receive(request: Request, signature: Signed, timestamp: Signed, nonce: Signed) -> Response:
    """One message or event; the answer is WeChat's passive reply XML, or "success" when there is none now."""
    channel = _channel(request)
    body = await request.body()  # at most messages.MAX_BODY_BYTES: the gateway's body limit for /wechat
    query = {key: str(value)[:256] for key, value in request.query_params.items()}
    answer = await channel.receive(body, query)
    return Response(answer, media_type="application/xml" if answer != "success" else "text/plain")
