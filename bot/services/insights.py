"""What residents ask that the assistant cannot answer yet, kept for staff (with personal numbers masked)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from bot.db.models import ClarifyingQuestion, UnansweredQuestion, UnansweredReview
from bot.db.session import unit_of_work
from bot.errors import Conflict, InvalidRequest, NotFound
from bot.knowledge.catalogue import get_catalogue
from bot.privacy import redact_text
from bot.services import knowledge_edits
from bot.settings import get_settings

MAX_STORED_LENGTH = 500
REVIEW_OUTCOMES = ("alias", "faq", "dismissed")


def record_unanswered(conversation_id: str, channel: str, text: str, intent: str | None,
                      confidence: float | None, reason: str) -> None:
    """Stores a question that was not understood or concerns a service not in the catalogue."""
    with unit_of_work() as session:
        session.add(UnansweredQuestion(
            conversation_id=conversation_id, channel=channel, text=redact_text(text)[:MAX_STORED_LENGTH],
            intent=intent, confidence=confidence, reason=reason,
        ))


def record_clarification(conversation_id: str, channel: str) -> None:
    """Counts a time the assistant asked which service was meant (the analytics show how often)."""
    with unit_of_work() as session:
        session.add(ClarifyingQuestion(conversation_id=conversation_id, channel=channel))


@dataclass(frozen=True)
class Review:
    """What a supervisor did with an unanswered question."""

    text: str
    outcome: str
    service_id: str | None
    questions: int  # how many stored questions it closed


def review(text: str, outcome: str, staff_username: str, service_id: str | None = None,
           alias: str | None = None, answer: str | None = None, intent: str | None = None) -> Review:
    """Closes an unanswered question: a new alias of a service (or way of asking for an intent), an FAQ answer, or dismissed.

    The knowledge base file is edited in the same transaction as the review is
    stored: if the edit fails, nothing is recorded and the question stays open.
    """
    if outcome not in REVIEW_OUTCOMES:
        raise InvalidRequest(f"outcome is one of {', '.join(REVIEW_OUTCOMES)}", code="invalid_outcome")
    if outcome != "dismissed" and not service_id and not (outcome == "alias" and intent):
        raise InvalidRequest("name the service (or, for a way of asking, the intent) it belongs to",
                             code="service_required")
    with unit_of_work() as session:
        asked = session.scalar(select(func.count()).select_from(UnansweredQuestion)
                               .where(UnansweredQuestion.text == text)) or 0
        if not asked:
            raise NotFound("no such unanswered question", code="question_not_found")
        if session.scalar(select(UnansweredReview.id).where(UnansweredReview.text == text)) is not None:
            raise Conflict("this question was already closed", code="question_closed")
        session.add(UnansweredReview(text=text, outcome=outcome, service_id=service_id if outcome != "dismissed" else None,
                                     staff_username=staff_username))
        session.flush()
        if outcome == "alias" and service_id:
            knowledge_edits.add_alias(get_catalogue(), service_id, alias if alias is not None else text)
        elif outcome == "alias":
            knowledge_edits.add_example(get_catalogue(), intent or "", alias if alias is not None else text,
                                        get_settings().domain_dir)
        elif outcome == "faq":
            knowledge_edits.add_faq(get_catalogue(), service_id or "", text, answer or "")
    return Review(text, outcome, service_id if outcome != "dismissed" else None, int(asked))
