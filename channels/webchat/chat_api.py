"""The web chat API of the contract: POST /api/chat and GET /api/chat/{id}/messages."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from bot.channel import Capabilities, ChannelInfo
from bot.conversation import IncomingMessage, TurnResult
from bot.errors import InvalidRequest
from bot.gateway.deps import ConversationsDep, SettingsDep
from bot.services import chat_replies, conversations, sms_notices

router = APIRouter(prefix="/api/chat", tags=["chat"])
# The page polls for pushed messages; speech buttons appear when the server has speech.
WEB_CHAT = ChannelInfo("web", Capabilities(buttons=True, voice=True, push=True))

# Client-chosen ids; a colon is reserved for server-side channels (telegram:…, phone:…).
CONVERSATION_ID = r"^[A-Za-z0-9_.\-]{1,128}$"


class ChatRequest(BaseModel):
    """A person's message; a button press sends the button's payload as text."""

    model_config = ConfigDict(extra="ignore", strict=True)

    # Omitted: the server chooses an id (and answers with it and the conversation's token).
    conversation_id: str | None = Field(None, pattern=CONVERSATION_ID)
    text: str = Field(min_length=1)
    locale: str = Field("zh-CN", max_length=16)
    channel: Literal["web", "kiosk"] = "web"
    # The client's id for this message (a UUID): sent again with a retry, it gets the first answer, run once.
    message_id: str | None = Field(None, pattern=chat_replies.MESSAGE_ID, description=(
        "Optional: the client's own random id for this message. Sent again with a retry, the message gets the "
        "answer given the first time and is not run twice; with another text, 409 message_id_reused."))

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value


class ButtonOut(BaseModel):
    title: str
    payload: str


class MessageOut(BaseModel):
    text: str
    buttons: list[ButtonOut]


class StateOut(BaseModel):
    form: str | None
    requested_slot: str | None
    handoff: str
    application_reference: str | None
    appointment_reference: str | None


class ChatResponse(BaseModel):
    conversation_id: str
    messages: list[MessageOut]
    state: StateOut
    # Only in the answer that created the conversation; the client sends it as X-Conversation-Token from then on.
    conversation_token: str | None = Field(None, exclude_if=lambda token: token is None)


class PushedMessageOut(BaseModel):
    id: str
    # "from" is a Python keyword; the JSON name is the contract's.
    from_: str = Field(serialization_alias="from")
    text: str
    buttons: list[ButtonOut]


class PushedMessagesResponse(BaseModel):
    messages: list[PushedMessageOut]
    cursor: str | None


def chat_response(result: TurnResult) -> ChatResponse:
    """The contract's JSON shape of one turn."""
    return ChatResponse(
        conversation_id=result.conversation_id,
        messages=[MessageOut(text=m.text, buttons=[ButtonOut(title=b.title, payload=b.payload) for b in m.buttons])
                  for m in result.messages],
        state=StateOut(**result.state.__dict__),
        conversation_token=result.conversation_token,
    )


def new_conversation_id() -> str:
    """An id the server chooses when the client sends none; unguessable, though the token is the proof."""
    return "web-" + secrets.token_hex(12)


TokenHeader = Annotated[str | None, Header(alias=conversations.TOKEN_HEADER)]


@router.post("", response_model=ChatResponse)
async def chat(body: ChatRequest, request: Request, settings: SettingsDep, service: ConversationsDep,
               token: TokenHeader = None) -> ChatResponse:
    """One turn of a web or kiosk conversation; after the first, only with the conversation's token.

    429 with Retry-After when the address or conversation sends too much. A `message_id` sent again (a retry
    after a timeout) gets the answer given the first time; with another text, 409.
    """
    if len(body.text) > settings.max_text_length:
        raise InvalidRequest(f"text is longer than {settings.max_text_length} characters", code="text_too_long")
    client = request.client.host if request.client else None
    if client:
        await request.app.state.limiter.hit("chat_per_client", client)
    message = IncomingMessage(sender_id=body.conversation_id or new_conversation_id(), text=body.text,
                              channel=body.channel, locale=body.locale, token=token, client=client,
                              message_id=body.message_id)
    return chat_response(await service.handle(message))


@router.delete("/{conversation_id}", status_code=204)
async def end_conversation(conversation_id: Annotated[str, Path(pattern=CONVERSATION_ID)],
                           token: TokenHeader = None) -> None:
    """Ends the conversation when the person taps 结束: its token no longer continues or reads it (403 after)."""
    await run_in_threadpool(conversations.end, conversation_id, token)


@router.get("/{conversation_id}/messages", response_model=PushedMessagesResponse, response_model_by_alias=True)
async def pushed_messages(
    conversation_id: Annotated[str, Path(pattern=CONVERSATION_ID)],
    after: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    token: TokenHeader = None,
) -> PushedMessagesResponse:
    """Messages that reached the conversation outside a request, oldest first, after the cursor; token required."""
    await run_in_threadpool(conversations.check_token, conversation_id, token)
    found = await run_in_threadpool(conversations.messages_after, conversation_id, int(after) if after else None)
    cursor = str(found[-1].id) if found else after
    if found:
        # The page has them: a staff reply need not follow by SMS (kiosk residents).
        await run_in_threadpool(sms_notices.read_up_to, conversation_id, found[-1].id)
    return PushedMessagesResponse(
        messages=[PushedMessageOut(id=str(m.id), from_=m.sender, text=m.text,
                                   buttons=[ButtonOut(**b) for b in m.buttons]) for m in found],
        cursor=cursor,
    )
