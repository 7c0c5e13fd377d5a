"""While Redis or the database does not answer, a turn still gets the polite answer, never an error."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import OperationalError

from bot import conversation
from bot.conversation import ConversationService, IncomingMessage, engine_unavailable_message
from bot.engine.client import RasaClient
from bot.ratelimit import AsyncLimiter, Limiter
from bot.settings import load_settings

NOTHING_LISTENS = "redis://127.0.0.1:1/0"


def test_quotas_let_requests_through_while_their_redis_is_away(caplog):
    settings = load_settings(rate_limit_storage="redis", redis_url=NOTHING_LISTENS)
    Limiter(settings).hit("bookings_per_phone", "x")
    asyncio.run(AsyncLimiter(settings).hit("chat_per_conversation", "x"))
    assert "not counted" in caplog.text


def test_a_turn_while_the_database_is_away_gets_the_polite_answer(monkeypatch):
    async def database_away(*_args: object) -> str:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(conversation, "arrive", database_away)
    settings = load_settings()
    service = ConversationService(RasaClient(settings), AsyncLimiter(settings))
    result = asyncio.run(service.handle(IncomingMessage(sender_id="o-1", text="要带什么", channel="web",
                                                        locale="zh-CN")))
    assert [m.text for m in result.messages] == [engine_unavailable_message().text]
    assert result.state.handoff == "none"
