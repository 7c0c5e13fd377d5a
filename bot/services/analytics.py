"""The supervisors' figures for a period: channels, containment, the three rates, 好差评, forms, appointments, understanding.

Every figure is a count or a rate over many people: no name, number or
conversation id leaves this module. The three rates are defined here once:

- response rate (响应率): handoffs accepted within the target wait
  (`HANDOFF_TARGET_WAIT_SECONDS`), of the period's handoffs whose outcome is
  known (still waiting and under the target: not counted yet);
- resolution rate (解决率): handoffs a staff member served and complaints,
  closed and not followed by another handoff or complaint from the same
  person within 7 days, of all served handoffs and complaints; the same
  person is the one the conversation is linked to after a proof of identity,
  in any conversation, or else the same conversation
  (`analytics_daily.came_back`);
- satisfaction rate (满意率): ratings of 4 (满意) or 5 (非常满意), of all ratings.

Conversations, messages and handoffs of days that are done are read from
daily roll-ups (bot/services/analytics_daily.py); everything else is one
aggregate over a `created_at` (or slot) index, so a year of a city's traffic
answers in under a second on PostgreSQL (benchmarks/analytics.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from bot.db.models import (
    Application,
    Appointment,
    ClarifyingQuestion,
    Rating,
    StaffTask,
    UnansweredQuestion,
    UnansweredReview,
    utcnow,
)
from bot.db.session import unit_of_work
from bot.errors import InvalidRequest
from bot.privacy import redact_text
from bot.services import analytics_daily as daily
from bot.services.analytics_daily import (
    REOPEN_DAYS,
    SETTLE_DAYS,
    Days,
    HandoffFigures,
    came_back,
    count_if,
)
from bot.services.appointments import city_timezone
from bot.settings import get_settings

MAX_PERIOD_DAYS = 366
TOP_UNANSWERED = 10
SATISFIED_LEVELS = (4, 5)
VOICE_AND_KIOSK = ("phone", "kiosk")


@dataclass(frozen=True)
class Filters:
    """What narrows the figures: channel narrows all; service the handoffs, complaints, forms and appointments; centre the appointments."""

    channel: str | None = None
    service: str | None = None
    centre: str | None = None


class Period(Days):
    """Whole days in the city's time zone, both included."""

    def local_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as the centres' wall-clock times (as appointment slots are stored)."""
        return (dt.datetime.combine(self.first, dt.time()),
                dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time()))


def parse_period(first: str | None, last: str | None, today: dt.date | None = None) -> Period:
    """The period of `from`/`to` (YYYY-MM-DD); the current month so far when both are missing."""
    today = today or dt.datetime.now(city_timezone()).date()
    if not first and not last:
        return Period(today.replace(day=1), today)
    try:
        start = dt.date.fromisoformat(first or last or "")
        end = dt.date.fromisoformat(last or first or "")
    except ValueError as err:
        raise InvalidRequest("from and to are dates written YYYY-MM-DD", code="invalid_period") from err
    if end < start:
        raise InvalidRequest("to is before from", code="invalid_period")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidRequest(f"a period is at most {MAX_PERIOD_DAYS} days", code="period_too_long")
    return Period(start, end)


def rate(part: int, whole: int) -> float | None:
    """part / whole rounded for display, None when nothing was counted."""
    return round(part / whole, 4) if whole else None


def summary(period: Period, filters: Filters | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Every figure of the period as one JSON-ready dict (the contract's fields first)."""
    now, filters = now or utcnow(), filters or Filters()
    daily.roll_up(period, now)
    with unit_of_work() as session:
        q = _Queries(session, period, filters, now)
        by_day, by_channel, handed_off = q.conversations()
        conversations = sum(by_channel.values())
        handoffs = q.handoffs()
        ratings = q.ratings()
        rated = sum(ratings.values())
        applications = q.applications()
        appointments = q.appointments()
        understanding = q.understanding()
        unanswered = q.unanswered()
        closed = q.unanswered_closed()
        follow_ups = q.follow_ups()
    return {
        "from": period.first.isoformat(), "to": period.last.isoformat(),
        "filters": {"channel": filters.channel, "service": filters.service, "centre": filters.centre},
        "conversations": conversations, "by_channel": by_channel,
        "contained_rate": rate(max(conversations - handed_off, 0), conversations),
        "handoffs": handoffs,
        "ratings": {str(level): ratings.get(level, 0) for level in (1, 2, 3, 4, 5)},
        "satisfaction_rate": rate(sum(ratings.get(level, 0) for level in SATISFIED_LEVELS), rated),
        "applications": applications,
        "appointments": appointments,
        "unanswered": unanswered,
        "voice_kiosk_share": rate(sum(by_channel.get(c, 0) for c in VOICE_AND_KIOSK), conversations),
        "by_day": by_day,
        "rated": rated,
        "follow_ups": follow_ups,
        "understanding": understanding,
        "unanswered_closed": closed,
        "definitions": definitions(),
    }


def percentile(waits: dict[int, int], fraction: float) -> float | None:
    """The `fraction` percentile of waits counted per whole second, interpolated as PostgreSQL's percentile_cont."""
    total = sum(waits.values())
    if not total:
        return None
    position = fraction * (total - 1)
    below, above = int(position), min(int(position) + 1, total - 1)
    found: dict[int, float] = {}
    seen = 0
    for seconds in sorted(waits):
        count = waits[seconds]
        for index in (below, above):
            if index not in found and seen <= index < seen + count:
                found[index] = float(seconds)
        seen += count
    return round(found[below] + (found[above] - found[below]) * (position - below), 1)


def definitions() -> dict[str, str]:
    """How each rate is counted, in the words the console and the report show."""
    target = get_settings().handoff_target_wait_seconds
    return {
        "response_rate": f"响应率：转人工后 {target} 秒内被工作人员接待的比例（仍在等待且未超时的不计）",
        "resolution_rate": f"解决率：工作人员接待的转人工和投诉中，已办结且同一人 {REOPEN_DAYS} 天内没有再次转人工或投诉的比例"
                           "（同一人：已核验身份的按本人计，含其他会话；未核验的按同一会话计）",
        "satisfaction_rate": "满意率：好差评中“满意”和“非常满意”（4、5 星）占全部评价的比例",
        "contained_rate": "自助解决率：期间的会话中没有转人工的比例",
    }


class _Queries:
    """The aggregate queries of one summary, sharing its session, period and filters."""

    def __init__(self, session: Session, period: Period, filters: Filters, now: dt.datetime):
        self.session, self.period, self.filters, self.now = session, period, filters, now
        self.start, self.end = period.bounds()
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.today = daily.today(now)
        # Days done long enough to be read from the roll-up, and the rest, computed now.
        last_settled = min(period.last, self.today - dt.timedelta(days=SETTLE_DAYS))
        self.settled = Days(period.first, last_settled) if last_settled >= period.first else None
        first_recent = max(period.first, last_settled + dt.timedelta(days=1))
        self.recent = Days(first_recent, period.last) if first_recent <= period.last else None

    def _in_period(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)

    def _narrowed(self, conditions: list[Any], channel: Any = None, service: Any = None, centre: Any = None) -> list[Any]:
        if self.filters.channel and channel is not None:
            conditions.append(channel == self.filters.channel)
        if self.filters.service and service is not None:
            conditions.append(service == self.filters.service)
        if self.filters.centre and centre is not None:
            conditions.append(centre == self.filters.centre)
        return conditions

    def conversations(self) -> tuple[list[dict[str, Any]], dict[str, int], int]:
        rows = []
        if self.settled:
            rows += daily.rolled_conversations(self.session, self.settled, self.filters.channel)
        if self.recent:
            rows += daily.conversation_rows(self.session, self.recent, self.filters.channel)
        per_day: dict[str, dict[str, int]] = {d.isoformat(): {} for d in self.period.days}
        by_channel: dict[str, int] = {}
        handed_off = 0
        for day, channel, count, handed in rows:
            per_day.setdefault(day.isoformat(), {})[channel] = count
            by_channel[channel] = by_channel.get(channel, 0) + count
            handed_off += handed
        by_day = [{"day": key, "total": sum(counts.values()), "by_channel": counts} for key, counts in per_day.items()]
        return by_day, dict(sorted(by_channel.items(), key=lambda item: -item[1])), handed_off

    def handoffs(self) -> dict[str, Any]:
        target = get_settings().handoff_target_wait_seconds
        figures = HandoffFigures()
        if self.settled:
            figures.add(daily.rolled_handoffs(self.session, self.settled, self.filters.channel, self.filters.service))
        if self.recent:
            for part in daily.handoff_rows(self.session, self.recent, self.now, self.filters.channel,
                                           self.filters.service).values():
                figures.add(part)
        in_time = sum(n for seconds, n in figures.waits.items() if seconds <= target)
        complaints, complaints_resolved = self._complaints()
        served, resolved = figures.served + complaints, figures.resolved + complaints_resolved
        return {
            "total": figures.handoffs, "accepted": figures.accepted,
            "median_wait_seconds": percentile(figures.waits, 0.5),
            "response_rate": rate(in_time, figures.handoffs - figures.undecided),
            "resolution_rate": rate(resolved, served),
            "p90_wait_seconds": percentile(figures.waits, 0.9), "abandoned": figures.abandoned,
            "waiting": figures.waiting, "accepted_in_target": in_time, "target_wait_seconds": target,
            "served_and_complaints": served, "resolved": resolved,
        }

    def _complaints(self) -> tuple[int, int]:
        """Complaints of the period, and those done and the person not back within 7 days (few: always live)."""
        complaints = aliased(StaffTask)
        reopened = came_back(complaints.conversation_id, complaints.done_at, self.postgres)
        where = self._narrowed([self._in_period(complaints.created_at), complaints.kind == "complaint"],
                               channel=complaints.channel, service=complaints.service)
        total, resolved = self.session.execute(select(
            func.count(), count_if(and_(complaints.status == "done", ~reopened)),
        ).where(*where)).one()
        return int(total or 0), int(resolved or 0)

    def ratings(self) -> dict[int, int]:
        where = self._narrowed([self._in_period(Rating.created_at)], channel=Rating.channel)
        rows = self.session.execute(select(Rating.level, func.count()).where(*where).group_by(Rating.level)).all()
        return {int(level): int(count) for level, count in rows}

    def follow_ups(self) -> dict[str, int]:
        where = self._narrowed([self._in_period(StaffTask.created_at), StaffTask.kind == "low_rating"],
                               channel=StaffTask.channel)
        rows = self.session.execute(select(StaffTask.status, func.count()).where(*where).group_by(StaffTask.status)).all()
        counts = {status: int(count) for status, count in rows}
        return {"total": sum(counts.values()), "open": counts.get("open", 0), "done": counts.get("done", 0)}

    def applications(self) -> dict[str, Any]:
        idle_since = self.now - dt.timedelta(hours=get_settings().abandoned_draft_hours)
        abandoned = and_(Application.status == "draft", Application.updated_at < idle_since)
        where = self._narrowed([self._in_period(Application.created_at)],
                               channel=Application.channel, service=Application.service_id)
        rows = self.session.execute(select(
            Application.service_id, func.count(), count_if(Application.submitted_at.is_not(None)), count_if(abandoned),
        ).where(*where).group_by(Application.service_id)).all()
        gave_up = self.session.execute(select(
            Application.service_id, Application.requested_slot, func.count(),
        ).where(*where, abandoned).group_by(Application.service_id, Application.requested_slot)).all()
        fields: dict[str, dict[str, int]] = {}
        for service_id, slot, count in gave_up:
            fields.setdefault(service_id, {})[slot or "unknown"] = int(count)
        by_form = [{"service": service_id, "started": int(started), "submitted": int(submitted),
                    "abandoned": int(dropped),
                    "gave_up_at": dict(sorted(fields.get(service_id, {}).items(), key=lambda item: -item[1]))}
                   for service_id, started, submitted, dropped in rows]
        by_form.sort(key=lambda form: (-form["started"], form["service"]))
        return {"started": sum(f["started"] for f in by_form), "submitted": sum(f["submitted"] for f in by_form),
                "abandoned": sum(f["abandoned"] for f in by_form), "by_form": by_form}

    def appointments(self) -> dict[str, Any]:
        first, after = self.period.local_bounds()
        local_now = self.now.astimezone(city_timezone()).replace(tzinfo=None)
        no_show = and_(Appointment.status == "booked", Appointment.slot_end < local_now)
        where = self._narrowed([Appointment.slot_start >= first, Appointment.slot_start < after],
                               channel=Appointment.channel, service=Appointment.service_id,
                               centre=Appointment.centre_id)
        rows = self.session.execute(select(
            Appointment.centre_id, func.count(), count_if(Appointment.status == "checked_in"),
            count_if(Appointment.status == "cancelled"), count_if(no_show),
        ).where(*where).group_by(Appointment.centre_id)).all()
        by_centre = sorted(({"centre": centre, "booked": int(booked), "checked_in": int(kept),
                             "cancelled": int(cancelled), "no_show": int(missed)}
                            for centre, booked, kept, cancelled, missed in rows),
                           key=lambda c: (-c["booked"], c["centre"]))
        totals = {key: sum(c[key] for c in by_centre) for key in ("booked", "checked_in", "cancelled", "no_show")}
        return {**totals, "by_centre": by_centre}

    def understanding(self) -> dict[str, Any]:
        finished_last = min(self.period.last, self.today - dt.timedelta(days=1))
        messages = below = 0
        if finished_last >= self.period.first:
            messages, below = daily.rolled_messages(self.session, Days(self.period.first, finished_last),
                                                    self.filters.channel)
        if self.period.first <= self.today <= self.period.last:
            for _, channel, count, unsure in daily.engine_rows(self.session, Days(self.today, self.today)):
                if not self.filters.channel or channel == self.filters.channel:
                    messages, below = messages + count, below + unsure
        where = self._narrowed([self._in_period(ClarifyingQuestion.created_at)], channel=ClarifyingQuestion.channel)
        clarifying = int(self.session.scalar(select(func.count()).select_from(ClarifyingQuestion).where(*where)) or 0)
        return {"messages": messages, "below_threshold": below, "below_threshold_share": rate(below, messages),
                "clarifying_questions": clarifying}

    def unanswered(self, limit: int = TOP_UNANSWERED) -> list[dict[str, Any]]:
        reviewed = exists().where(UnansweredReview.text == UnansweredQuestion.text)
        where = self._narrowed([self._in_period(UnansweredQuestion.created_at), ~reviewed],
                               channel=UnansweredQuestion.channel)
        count = func.count().label("count")
        rows = self.session.execute(select(UnansweredQuestion.text, count).where(*where)
                                    .group_by(UnansweredQuestion.text)
                                    .order_by(count.desc(), UnansweredQuestion.text).limit(limit)).all()
        # Stored masked already; masked again in case the rule grew since.
        return [{"text": redact_text(text_value), "count": int(n)} for text_value, n in rows]

    def unanswered_closed(self) -> dict[str, int]:
        rows = self.session.execute(select(UnansweredReview.outcome, func.count())
                                    .where(self._in_period(UnansweredReview.created_at))
                                    .group_by(UnansweredReview.outcome)).all()
        counts = {outcome: int(n) for outcome, n in rows}
        return {"total": sum(counts.values()), **{k: counts.get(k, 0) for k in ("alias", "faq", "dismissed")}}
