"""POST /api/handwriting/recognize: the candidates for the strokes of one character written on the kiosk's pad."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.gateway.deps import per_client
from kiosk.handwriting.recogniser import MAX_CANDIDATES
from kiosk.handwriting.service import HandwritingService

MAX_STROKES = 64
MAX_POINTS = 4096
# A pad larger than any screen, or a point far outside it, is not a finger's.
MAX_SIDE = 10_000
MAX_COORDINATE = 100_000

Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORDINATE, le=MAX_COORDINATE)]
# A list, not a tuple: strict validation takes a JSON array only as a list.
Point = Annotated[list[Coordinate], Field(min_length=2, max_length=2, description="x, y in pixels of the pad, y down")]

router = APIRouter(tags=["kiosk"])


class HandwritingIn(BaseModel):
    """The strokes of one character in the order written, in pixels of a pad of the given size."""

    model_config = ConfigDict(extra="ignore", strict=True)

    width: float = Field(gt=0, le=MAX_SIDE, allow_inf_nan=False)
    height: float = Field(gt=0, le=MAX_SIDE, allow_inf_nan=False)
    strokes: list[Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS)]] = Field(
        min_length=1, max_length=MAX_STROKES)

    @model_validator(mode="after")
    def _few_enough_points(self) -> HandwritingIn:
        if sum(len(s) for s in self.strokes) > MAX_POINTS:
            raise ValueError(f"at most {MAX_POINTS} points in all")
        return self


class HandwritingOut(BaseModel):
    """Up to ten characters, best first."""

    candidates: list[str] = Field(max_length=MAX_CANDIDATES)


async def get_handwriting(request: Request) -> HandwritingService:
    """The app's recogniser."""
    return request.app.state.handwriting


@router.post("/api/handwriting/recognize", response_model=HandwritingOut,
             dependencies=[per_client("handwriting_per_client")])
async def recognise(body: HandwritingIn, service: Annotated[HandwritingService, Depends(get_handwriting)]) -> HandwritingOut:
    """Recognises one character as the resident writes it; keeps nothing of it."""
    return HandwritingOut(candidates=await service.recognise(body.strokes))
