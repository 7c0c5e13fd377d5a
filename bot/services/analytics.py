"""The supervisors' figures for a period: channels, containment, the three rates, 好差评, forms, appointments, understanding.

Every figure is a count or a rate over many people: no name, number or
conversation id leaves this module. The three rates are defined here once:

- response rate (响应率): handoffs accepted within the target wait
  (`HANDOFF_TARGET_WAIT_SECONDS`), of the period's handoffs whose outcome is
  known (still waiting and under the target: not counted yet);
- resolution rate (解决率): handoffs a staff member served and complaints,
  closed and not followed by another handoff or complaint from the same
  conversation within 7 days, of all served handoffs and complaints;
- satisfaction rate (满意率): ratings of 4 (满意) or 5 (非常满意), of all ratings.

Each query is one aggregate over a `created_at` (or slot) index; the dialogue
engine's messages are rolled up per finished day (`understanding_days`), so a
year answers in well under a second on PostgreSQL (benchmarks/analytics.py).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    distinct,
    exists,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot.db.models import (
    Application,
    Appointment,
    ClarifyingQuestion,
    Conversation,
    Handoff,
    Rating,
    StaffTask,
    UnansweredQuestion,
    UnansweredReview,
    UnderstandingDay,
    utcnow,
)
from bot.db.session import unit_of_work
from bot.errors import InvalidRequest
from bot.privacy import redact_text
from bot.services.appointments import city_timezone
from bot.settings import get_settings

MAX_PERIOD_DAYS = 366
REOPEN_DAYS = 7
TOP_UNANSWERED = 10
SATISFIED_LEVELS = (4, 5)
VOICE_AND_KIOSK = ("phone", "kiosk")
ROLLED_UP = "*"  # the channel of the row that marks a day as rolled up
BELOW_THRESHOLD_INTENT = "nlu_fallback"  # what the engine's FallbackClassifier names a message it is unsure of


@dataclass(frozen=True)
class Filters:
    """What narrows the figures: channel narrows all; service the handoffs, complaints, forms and appointments; centre the appointments."""

    channel: str | None = None
    service: str | None = None
    centre: str | None = None


@dataclass(frozen=True)
class Period:
    """Whole days in the city's time zone, both included."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> list[dt.date]:
        """Every day of the period, in order."""
        return [self.first + dt.timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as UTC instants: from the first day's midnight to the midnight after the last."""
        zone = city_timezone()
        start = dt.datetime.combine(self.first, dt.time(), zone)
        end = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)

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


def summary(period: Period, filters: Filters = Filters(), now: dt.datetime | None = None) -> dict[str, Any]:
    """Every figure of the period as one JSON-ready dict (the contract's fields first)."""
    now = now or utcnow()
    roll_up_understanding(period, now)
    with unit_of_work() as session:
        q = _Queries(session, period, filters, now)
        by_day, by_channel = q.conversations()
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
    handed_off = handoffs.pop("conversations")
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


def definitions() -> dict[str, str]:
    """How each rate is counted, in the words the console and the report show."""
    target = get_settings().handoff_target_wait_seconds
    return {
        "response_rate": f"响应率：转人工后 {target} 秒内被工作人员接待的比例（仍在等待且未超时的不计）",
        "resolution_rate": f"解决率：工作人员接待的转人工和投诉中，已办结且同一会话 {REOPEN_DAYS} 天内没有再次转人工或投诉的比例",
        "satisfaction_rate": "满意率：好差评中“满意”和“非常满意”（4、5 星）占全部评价的比例",
        "contained_rate": "自助解决率：期间的会话中没有转人工的比例",
    }


class _Queries:
    """The aggregate queries of one summary, sharing its session, period and filters."""

    def __init__(self, session: Session, period: Period, filters: Filters, now: dt.datetime):
        self.session, self.period, self.filters, self.now = session, period, filters, now
        self.start, self.end = period.bounds()
        self.postgres = session.get_bind().dialect.name == "postgresql"

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

    def conversations(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        day = local_day(Conversation.created_at, self.postgres).label("day")
        where = self._narrowed([self._in_period(Conversation.created_at)], channel=Conversation.channel)
        rows = self.session.execute(
            select(day, Conversation.channel, func.count()).where(*where).group_by(day, Conversation.channel)
        ).all()
        per_day: dict[str, dict[str, int]] = {d.isoformat(): {} for d in self.period.days}
        by_channel: dict[str, int] = {}
        for day_value, channel, count in rows:
            key = str(day_value)[:10]
            per_day.setdefault(key, {})[channel] = count
            by_channel[channel] = by_channel.get(channel, 0) + count
        by_day = [{"day": key, "total": sum(counts.values()), "by_channel": counts} for key, counts in per_day.items()]
        return by_day, dict(sorted(by_channel.items(), key=lambda item: -item[1]))

    def handoffs(self) -> dict[str, Any]:
        target = get_settings().handoff_target_wait_seconds
        wait = seconds_between(Handoff.created_at, Handoff.accepted_at, self.postgres)
        accepted = Handoff.accepted_at.is_not(None)
        undecided = and_(Handoff.status == "waiting", Handoff.created_at > self.now - dt.timedelta(seconds=target))
        where = self._narrowed([self._in_period(Handoff.created_at)], channel=Handoff.channel, service=Handoff.service)
        row = self.session.execute(select(
            func.count(),
            _count_if(accepted),
            _count_if(and_(Handoff.status == "closed", Handoff.accepted_at.is_(None))),
            _count_if(Handoff.status == "waiting"),
            _count_if(and_(accepted, wait <= target)),
            _count_if(undecided),
            func.count(distinct(Handoff.conversation_id)),
        ).where(*where)).one()
        total, n_accepted, abandoned, waiting, in_time, n_undecided, handed_off = (int(v or 0) for v in row)
        median, p90 = self._wait_percentiles(wait, where + [accepted])
        served, resolved = self._resolution()
        return {
            "total": total, "accepted": n_accepted,
            "median_wait_seconds": median, "response_rate": rate(in_time, total - n_undecided),
            "resolution_rate": rate(resolved, served),
            "p90_wait_seconds": p90, "abandoned": abandoned, "waiting": waiting,
            "accepted_in_target": in_time, "target_wait_seconds": target,
            "served_and_complaints": served, "resolved": resolved,
            "conversations": handed_off,
        }

    def _wait_percentiles(self, wait: Any, where: list[Any]) -> tuple[float | None, float | None]:
        if self.postgres:
            median, p90 = self.session.execute(select(
                func.percentile_cont(0.5).within_group(wait), func.percentile_cont(0.9).within_group(wait),
            ).where(*where)).one()
            return _seconds(median), _seconds(p90)
        waits = sorted(float(w) for w in self.session.scalars(select(wait).where(*where)) if w is not None)
        if not waits:
            return None, None
        if len(waits) == 1:
            return _seconds(waits[0]), _seconds(waits[0])
        # The same interpolation as PostgreSQL's percentile_cont.
        return _seconds(statistics.median(waits)), _seconds(statistics.quantiles(waits, n=10, method="inclusive")[8])

    def _resolution(self) -> tuple[int, int]:
        later_handoff = aliased(Handoff)
        complaint = StaffTask.kind == "complaint"

        def reopened(conversation_id: Any, closed_at: Any) -> Any:
            window_end = plus_days(closed_at, REOPEN_DAYS, self.postgres)
            again = exists().where(later_handoff.conversation_id == conversation_id,
                                   later_handoff.created_at > closed_at, later_handoff.created_at <= window_end)
            complained = exists().where(complaint, StaffTask.conversation_id == conversation_id,
                                        StaffTask.created_at > closed_at, StaffTask.created_at <= window_end)
            return again | complained

        served_where = self._narrowed([self._in_period(Handoff.created_at), Handoff.accepted_at.is_not(None)],
                                      channel=Handoff.channel, service=Handoff.service)
        handoff_row = self.session.execute(select(
            func.count(),
            _count_if(and_(Handoff.status == "closed", ~reopened(Handoff.conversation_id, Handoff.closed_at))),
        ).where(*served_where)).one()
        complaints = aliased(StaffTask)
        later_complaint = aliased(StaffTask)
        window_end = plus_days(complaints.done_at, REOPEN_DAYS, self.postgres)
        reopened_complaint = (
            exists().where(later_handoff.conversation_id == complaints.conversation_id,
                           later_handoff.created_at > complaints.done_at, later_handoff.created_at <= window_end)
            | exists().where(later_complaint.kind == "complaint",
                             later_complaint.conversation_id == complaints.conversation_id,
                             later_complaint.created_at > complaints.done_at, later_complaint.created_at <= window_end)
        )
        complaint_where = self._narrowed([self._in_period(complaints.created_at), complaints.kind == "complaint"],
                                         channel=complaints.channel, service=complaints.service)
        complaint_row = self.session.execute(select(
            func.count(), _count_if(and_(complaints.status == "done", ~reopened_complaint)),
        ).where(*complaint_where)).one()
        return int(handoff_row[0] or 0) + int(complaint_row[0] or 0), int(handoff_row[1] or 0) + int(complaint_row[1] or 0)

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
            Application.service_id, func.count(), _count_if(Application.submitted_at.is_not(None)), _count_if(abandoned),
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
            Appointment.centre_id, func.count(), _count_if(Appointment.status == "checked_in"),
            _count_if(Appointment.status == "cancelled"), _count_if(no_show),
        ).where(*where).group_by(Appointment.centre_id)).all()
        by_centre = sorted(({"centre": centre, "booked": int(booked), "checked_in": int(kept),
                             "cancelled": int(cancelled), "no_show": int(missed)}
                            for centre, booked, kept, cancelled, missed in rows),
                           key=lambda c: (-c["booked"], c["centre"]))
        totals = {key: sum(c[key] for c in by_centre) for key in ("booked", "checked_in", "cancelled", "no_show")}
        return {**totals, "by_centre": by_centre}

    def understanding(self) -> dict[str, Any]:
        today = self.now.astimezone(city_timezone()).date()
        rolled = [d for d in self.period.days if d < today]
        messages = below = 0
        if rolled:
            where = [UnderstandingDay.day >= rolled[0], UnderstandingDay.day <= rolled[-1],
                     UnderstandingDay.channel != ROLLED_UP]
            if self.filters.channel:
                where.append(UnderstandingDay.channel == self.filters.channel)
            row = self.session.execute(select(func.sum(UnderstandingDay.messages),
                                              func.sum(UnderstandingDay.below_threshold)).where(*where)).one()
            messages, below = int(row[0] or 0), int(row[1] or 0)
        if self.period.first <= today <= self.period.last:
            for channel, count, unsure in engine_messages(self.session, Period(today, today), self.postgres):
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


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _utc_offset_modifier() -> str:
    # SQLite has no time zones: the city's offset now (China keeps one all year).
    offset = dt.datetime.now(city_timezone()).utcoffset() or dt.timedelta()
    return f"{int(offset.total_seconds()):+d} seconds"


def local_day(column: Any, postgres: bool) -> Any:
    """The city's calendar day of a UTC timestamp column."""
    if postgres:
        return func.date(func.timezone(city_timezone().key, column))
    return func.date(column, _utc_offset_modifier())


def seconds_between(start: Any, end: Any, postgres: bool) -> Any:
    """end - start in seconds, as SQL."""
    if postgres:
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def plus_days(column: Any, days: int, postgres: bool) -> Any:
    """A timestamp column plus whole days, as SQL."""
    if postgres:
        return column + text(f"interval '{int(days)} days'")
    # SQLite keeps timestamps as text; strftime keeps the fraction so comparisons stay text-exact.
    return func.strftime("%Y-%m-%d %H:%M:%f000", column, f"+{int(days)} days")


# --- the dialogue engine's messages, rolled up per finished day ---------------------------------------------

def engine_messages(session: Session, period: Period, postgres: bool) -> list[tuple[str, int, int]]:
    """(channel, messages, below the confidence threshold) of people's messages to the engine in the period."""
    return [(channel, count, below) for _, channel, count, below in _engine_messages_by_day(session, period, postgres)]


def _engine_messages_by_day(session: Session, period: Period, postgres: bool) -> list[tuple[dt.date, str, int, int]]:
    if not inspect(session.get_bind()).has_table("events"):
        return []  # the engine has not started on this database yet
    start, end = period.bounds()
    if postgres:
        day = f"date(timezone('{city_timezone().key}', to_timestamp(e.timestamp)))"
    else:
        day = f"date(e.timestamp, 'unixepoch', '{_utc_offset_modifier()}')"
    rows = session.execute(text(
        f"SELECT {day} AS day, COALESCE(c.channel, 'web') AS channel, COUNT(*) AS messages, "
        f"SUM(CASE WHEN e.intent_name = :unsure THEN 1 ELSE 0 END) AS below "
        f"FROM events e LEFT JOIN conversations c ON c.id = e.sender_id "
        f"WHERE e.type_name = 'user' AND e.timestamp >= :start AND e.timestamp < :end GROUP BY 1, 2"
    ), {"unsure": BELOW_THRESHOLD_INTENT, "start": start.timestamp(), "end": end.timestamp()}).all()
    return [(_as_date(d), channel, int(count), int(below or 0)) for d, channel, count, below in rows]


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def roll_up_understanding(period: Period, now: dt.datetime | None = None) -> int:
    """Rolls up the period's finished days not rolled up yet (one pass over the engine's events); how many."""
    now = now or utcnow()
    today = now.astimezone(city_timezone()).date()
    with unit_of_work() as session:
        wanted = [d for d in period.days if d < today]
        if not wanted:
            return 0
        done = set(session.scalars(select(UnderstandingDay.day).where(
            UnderstandingDay.channel == ROLLED_UP, UnderstandingDay.day >= wanted[0], UnderstandingDay.day <= wanted[-1])))
        missing = [d for d in wanted if d not in done]
        if not missing:
            return 0
        postgres = session.get_bind().dialect.name == "postgresql"
        missing_set = set(missing)
        for day, channel, count, below in _engine_messages_by_day(session, Period(missing[0], missing[-1]), postgres):
            if day in missing_set:
                session.add(UnderstandingDay(day=day, channel=channel, messages=count, below_threshold=below))
        session.add_all(UnderstandingDay(day=d, channel=ROLLED_UP, messages=0, below_threshold=0) for d in missing)
        try:
            session.flush()
        except IntegrityError:  # another request rolled up the same days at the same moment
            session.rollback()
            return 0
        return len(missing)

