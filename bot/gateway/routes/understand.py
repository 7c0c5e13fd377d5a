"""POST /api/understand: the same understanding the conversations use, without touching any conversation."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from bot.errors import InvalidRequest
from bot.gateway.deps import RasaDep, SettingsDep
from bot.understanding.pipeline import read

router = APIRouter(prefix="/api", tags=["understanding"])


class UnderstandRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    text: str = Field(min_length=1)
    locale: str = Field("zh-CN", max_length=16)


class UnderstandResponse(BaseModel):
    intent: str
    intent_confidence: float
    service: str | None
    service_confidence: float
    # The services the person would be asked to choose between (a clarifying question); empty when the
    # answer is about `service` alone. Lets an evaluation tell a wrong answer from a question asked.
    candidates: list[str]


@router.post("/understand", response_model=UnderstandResponse)
async def understand(body: UnderstandRequest, settings: SettingsDep, rasa: RasaDep) -> UnderstandResponse:
    """Intent (a vocabulary name) and service (an id or null) of a text, with confidences and, when the
    conversation would ask which service is meant, the services it would offer."""
    if len(body.text) > settings.max_text_length:
        raise InvalidRequest(f"text is longer than {settings.max_text_length} characters", code="text_too_long")
    result = (await read(rasa, body.text)).understanding
    return UnderstandResponse(
        intent=result.public_intent,
        intent_confidence=round(result.intent_confidence, 4),
        service=result.service,
        service_confidence=round(result.service_confidence, 4) if result.service else 0.0,
        candidates=list(result.candidates) if result.ambiguous else [],
    )
