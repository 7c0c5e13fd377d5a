"""What residents ask that the assistant cannot answer yet, kept for staff (with personal numbers masked)."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.db.models import UnansweredQuestion
from bot.db.session import unit_of_work
from bot.privacy import redact_text

MAX_STORED_LENGTH = 500


def record_unanswered(conversation_id: str, channel: str, text: str, intent: str | None,
                      confidence: float | None, reason: str) -> None:
    """Stores a question that was not understood or concerns a service not in the catalogue."""
    with unit_of_work() as session:
        session.add(UnansweredQuestion(
            conversation_id=conversation_id, channel=channel, text=redact_text(text)[:MAX_STORED_LENGTH],
            intent=intent, confidence=confidence, reason=reason,
        ))


def top_unanswered(limit: int = 50) -> list[dict[str, object]]:
    """The most frequent unanswered questions, most frequent first."""
    with unit_of_work() as session:
        rows = session.execute(
            select(UnansweredQuestion.text, UnansweredQuestion.reason, func.count().label("count"),
                   func.max(UnansweredQuestion.created_at).label("last_asked"))
            .group_by(UnansweredQuestion.text, UnansweredQuestion.reason)
            .order_by(func.count().desc()).limit(limit)
        ).all()
    return [{"text": r.text, "reason": r.reason, "count": r.count, "last_asked": r.last_asked} for r in rows]
