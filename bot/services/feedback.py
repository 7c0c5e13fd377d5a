"""政务服务好差评: five-level ratings after a handoff or a finished task, and complaints about the service.

A rating of 不满意 or worse, and every complaint, becomes a follow-up task for
a supervisor. Comments and complaints are stored with personal numbers masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from bot import texts
from bot.db.models import Handoff, Rating, StaffTask, utcnow
from bot.db.session import unit_of_work
from bot.errors import InvalidRequest
from bot.privacy import redact_text

LEVELS = (5, 4, 3, 2, 1)  # 非常满意 … 非常不满意, best first as the buttons show them
FOLLOW_UP_AT_OR_BELOW = 2  # 不满意 and 非常不满意
MAX_COMMENT_LENGTH = 500


@dataclass(frozen=True)
class RatingResult:
    """A stored rating and the supervisor task it created, if any."""

    rating_id: int
    level: int
    follow_up_task_id: int | None


def level_name(level: int) -> str:
    """非常满意 … 非常不满意, from the domain."""
    return texts.text(f"utter_rating_level_{level}")


def rating_payload(subject: str, level: int) -> str:
    """The button payload that rates `subject` (e.g. "handoff:12") with `level`."""
    return "/rate" + json.dumps({"rating": str(level), "rated": subject}, ensure_ascii=False)


def rating_question(subject: str) -> tuple[str, list[dict[str, str]]]:
    """The question asking for a rating, with its five buttons."""
    buttons = [{"title": level_name(level), "payload": rating_payload(subject, level)} for level in LEVELS]
    return texts.text("utter_ask_rating"), buttons


def rate(conversation_id: str, channel: str, subject: str, level: int) -> RatingResult:
    """Stores (or changes) the person's rating of `subject`; a low one opens a task for a supervisor."""
    if level not in LEVELS:
        raise InvalidRequest("a rating is 1 to 5", code="invalid_rating")
    staff_username = _staff_of(subject)
    with unit_of_work() as session:
        rating = session.scalar(select(Rating).where(Rating.conversation_id == conversation_id,
                                                    Rating.subject == subject))
        if rating is None:
            rating = Rating(conversation_id=conversation_id, channel=channel, subject=subject, level=level,
                            staff_username=staff_username)
            session.add(rating)
        else:
            rating.level = level
        session.flush()
        task = session.scalar(select(StaffTask).where(StaffTask.rating_id == rating.id))
        if level <= FOLLOW_UP_AT_OR_BELOW and task is None:
            task = StaffTask(kind="low_rating", audience="supervisor", conversation_id=conversation_id,
                             channel=channel, summary=level_name(level), rating_id=rating.id, status="open")
            session.add(task)
            session.flush()
        elif task is not None and level > FOLLOW_UP_AT_OR_BELOW and task.status == "open":
            # The person changed their mind before anyone followed up.
            task.status, task.done_by, task.done_at = "done", None, utcnow()
        return RatingResult(rating.id, level, task.id if task is not None and task.status == "open" else None)


def add_comment(rating_id: int, comment: str) -> None:
    """Adds the person's optional comment to their rating (and to the follow-up task)."""
    comment = redact_text(comment.strip())[:MAX_COMMENT_LENGTH]
    if not comment:
        return
    with unit_of_work() as session:
        rating = session.get(Rating, rating_id)
        if rating is None:
            return
        rating.comment = comment
        task = session.scalar(select(StaffTask).where(StaffTask.rating_id == rating_id))
        if task is not None:
            task.summary = f"{level_name(rating.level)}：{comment}"


def record_complaint(conversation_id: str, channel: str, text: str, service: str | None = None) -> int:
    """Records a complaint about the service for supervisors; returns the task id."""
    with unit_of_work() as session:
        task = StaffTask(kind="complaint", audience="supervisor", conversation_id=conversation_id, channel=channel,
                         service=service, summary=redact_text(text.strip())[:MAX_COMMENT_LENGTH], status="open")
        session.add(task)
        session.flush()
        return task.id


def _staff_of(subject: str) -> str | None:
    kind, _, ident = subject.partition(":")
    if kind != "handoff" or not ident.isdigit():
        return None
    with unit_of_work() as session:
        return session.scalar(select(Handoff.staff_username).where(Handoff.id == int(ident)))
