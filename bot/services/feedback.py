"""政务服务好差评: five-level ratings after a handoff or a finished task, and complaints about the service.

A rating of 不满意 or worse, and every complaint, becomes a follow-up task for
a supervisor. Comments and complaints are stored with personal numbers masked.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from sqlalchemy import select

from bot import texts
from bot.db.models import Appointment, Handoff, Rating, StaffTask
from bot.db.session import unit_of_work
from bot.errors import InvalidRequest
from bot.privacy import redact_text
from bot.services import audit, people

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


class RatingRefused(InvalidRequest):
    """A rating of something this conversation was not offered to rate, or rated already."""

    code = "rating_refused"


def signed_subject(conversation_id: str, subject: str) -> str:
    """`subject` with the server's signature for this conversation: a payload nobody else can make or reuse."""
    return f"{subject}.{_signature(conversation_id, subject)}"


def _signature(conversation_id: str, subject: str) -> str:
    # Keyed by the field key (an HMAC): only the server can make a signature, and it is bound to the conversation.
    return people.cipher().fingerprint(f"rating|{conversation_id}|{subject}")[:24]


def rating_payload(conversation_id: str, subject: str, level: int) -> str:
    """The button payload that rates `subject` (e.g. "handoff:12") with `level`, signed for the conversation."""
    rated = signed_subject(conversation_id, subject)
    return "/rate" + json.dumps({"rating": str(level), "rated": rated}, ensure_ascii=False)


def rating_question(conversation_id: str, subject: str) -> tuple[str, list[dict[str, str]]]:
    """The question asking the conversation for a rating of `subject`, with its five signed buttons."""
    buttons = [{"title": level_name(level), "payload": rating_payload(conversation_id, subject, level)}
               for level in LEVELS]
    return texts.text("utter_ask_rating"), buttons


def rate(conversation_id: str, channel: str, signed: str, level: int) -> RatingResult:
    """Stores the person's one rating of what they were asked to rate; a low one opens a task for a supervisor.

    Refused (RatingRefused, audited): a payload the server did not sign for this conversation,
    a handoff or appointment of another conversation, a second rating of the same thing.
    """
    if level not in LEVELS:
        raise InvalidRequest("a rating is 1 to 5", code="invalid_rating")
    subject, _, signature = (signed or "").rpartition(".")
    if not subject or not hmac.compare_digest(signature, _signature(conversation_id, subject)) \
            or not _belongs_to(conversation_id, subject):
        _refuse(conversation_id, "a rating payload the server did not sign for this conversation")
    staff_username = _staff_of(subject)
    with unit_of_work() as session:
        if session.scalar(select(Rating.id).where(Rating.conversation_id == conversation_id,
                                                  Rating.subject == subject)) is not None:
            _refuse(conversation_id, f"a second rating of {subject}")
        rating = Rating(conversation_id=conversation_id, channel=channel, subject=subject, level=level,
                        staff_username=staff_username)
        session.add(rating)
        session.flush()
        task = None
        if level <= FOLLOW_UP_AT_OR_BELOW:
            task = StaffTask(kind="low_rating", audience="supervisor", conversation_id=conversation_id,
                             channel=channel, summary=level_name(level), rating_id=rating.id, status="open")
            session.add(task)
            session.flush()
        return RatingResult(rating.id, level, task.id if task is not None else None)


def _refuse(conversation_id: str, what: str) -> None:
    audit.record("resident", "rating_refused", f"conversation:{conversation_id}", what)
    raise RatingRefused("this rating is not accepted")


def _belongs_to(conversation_id: str, subject: str) -> bool:
    """A handoff of this conversation that staff closed, or an appointment it booked."""
    kind, _, ident = subject.partition(":")
    with unit_of_work() as session:
        if kind == "handoff" and ident.isdigit():
            row = session.get(Handoff, int(ident))
            return row is not None and row.conversation_id == conversation_id and row.status == "closed"
        if kind == "appointment":
            owner = session.scalar(select(Appointment.conversation_id).where(Appointment.reference == ident))
            return owner == conversation_id
    return False


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
