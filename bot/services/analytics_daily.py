"""The analytics' figures per day, channel (and service): computed from the tables, and rolled up once a day is done.

Conversations and the dialogue engine's messages never change once their day
is over, so a finished day is rolled up at once (`analytics_days`). Handoffs
can still be accepted, closed and reopened (the resolution rate looks 7 days
ahead), so their figures, and how many of a day's conversations reached a
person, are rolled up only when the day is settled (`SETTLE_DAYS` old).
What "came back" means is written once, in `came_back`, for the roll-up and
the live complaints alike. A
summary then reads a year as a few hundred roll-up rows plus the live rows of
its last days.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, func, inspect, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot.db.models import (
    AnalyticsDay,
    Conversation,
    Handoff,
    HandoffDay,
    PersonConversation,
    StaffTask,
    utcnow,
)
from bot.db.session import get_engine, unit_of_work
from bot.services.appointments import city_timezone
from bot.settings import get_settings

REOPEN_DAYS = 7
# A day's handoffs settle when the last of them can no longer be reopened: accepted and closed within a day,
# then 7 days in which the same person may come back.
SETTLE_DAYS = REOPEN_DAYS + 2
COUNTED, SETTLED = "*", "#"  # the channels of the rows that mark a day as rolled up
BELOW_THRESHOLD_INTENT = "nlu_fallback"  # what the engine's FallbackClassifier names a message it is unsure of
_events_indexed: set[str] = set()


@dataclass(frozen=True)
class Days:
    """Whole days in the city's time zone, both included."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> list[dt.date]:
        """Every day, in order."""
        return [self.first + dt.timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The days as UTC instants: from the first day's midnight to the midnight after the last."""
        zone = city_timezone()
        start = dt.datetime.combine(self.first, dt.time(), zone)
        end = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclass
class HandoffFigures:
    """Handoff counts that add up across days, channels and services, and the waits in whole seconds."""

    handoffs: int = 0
    accepted: int = 0
    abandoned: int = 0
    waiting: int = 0
    undecided: int = 0  # still waiting and not yet past the target wait
    served: int = 0
    resolved: int = 0
    waits: Counter[int] = field(default_factory=Counter)

    def add(self, other: HandoffFigures) -> None:
        """Adds another day's (or channel's) figures to these."""
        for name in ("handoffs", "accepted", "abandoned", "waiting", "undecided", "served", "resolved"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.waits.update(other.waits)


def today(now: dt.datetime) -> dt.date:
    """The city's calendar day at `now`."""
    return now.astimezone(city_timezone()).date()


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


def came_back(conversation_id: Any, since: Any, postgres: bool) -> Any:
    """SQL: whether the same person asked for a person or complained again within `REOPEN_DAYS` after `since`.

    The issue counts a case resolved only if *the person* does not come back. A person is known across
    conversations only once a conversation is linked to them (after a proof of identity, bot/services/people.py),
    so the same person is the linked person, in whichever conversation they return, and for a conversation
    linked to nobody, that conversation alone. Each test is an index walk: the conversation's link by its key,
    the person's other links by `person_id`, their handoffs and tasks by `conversation_id`.
    """
    window_end = plus_days(since, REOPEN_DAYS, postgres)
    handoff, task = aliased(Handoff), aliased(StaffTask)
    asked = [
        (handoff.conversation_id, [handoff.created_at > since, handoff.created_at <= window_end]),
        (task.conversation_id, [task.kind == "complaint", task.created_at > since, task.created_at <= window_end]),
    ]
    checks = []
    for later_conversation, in_window in asked:
        mine, theirs = aliased(PersonConversation), aliased(PersonConversation)
        checks.append(exists().where(later_conversation == conversation_id, *in_window))
        checks.append(exists().where(mine.conversation_id == conversation_id, theirs.person_id == mine.person_id,
                                     later_conversation == theirs.conversation_id, *in_window))
    return or_(*checks)


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def count_if(condition: Any) -> Any:
    """SQL: how many rows meet `condition`."""
    return func.sum(case((condition, 1), else_=0))


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- figures per day from the tables ---------------------------------------------------------------------------

def conversation_rows(session: Session, days: Days, channel: str | None = None) -> list[tuple[dt.date, str, int, int]]:
    """(day, channel, conversations, of them handed to a person) of conversations started in `days`."""
    postgres = _is_postgres(session)
    start, end = days.bounds()
    day = local_day(Conversation.created_at, postgres).label("day")
    handed = exists().where(Handoff.conversation_id == Conversation.id)
    where = [Conversation.created_at >= start, Conversation.created_at < end]
    if channel:
        where.append(Conversation.channel == channel)
    rows = session.execute(select(day, Conversation.channel, func.count(), count_if(handed))
                           .where(*where).group_by(day, Conversation.channel)).all()
    return [(_as_date(d), c, int(n), int(h or 0)) for d, c, n, h in rows]


def engine_rows(session: Session, days: Days) -> list[tuple[dt.date, str, int, int]]:
    """(day, channel, messages, below the confidence threshold) of people's messages to the dialogue engine."""
    if str(get_engine().url) not in _events_indexed and not inspect(session.get_bind()).has_table("events"):
        return []  # the engine has not started on this database yet
    postgres = _is_postgres(session)
    start, end = days.bounds()
    if postgres:
        day = f"date(timezone('{city_timezone().key}', to_timestamp(e.timestamp)))"
    else:
        day = f"date(e.timestamp, 'unixepoch', '{_utc_offset_modifier()}')"
    rows = session.execute(text(
        f"SELECT {day} AS day, COALESCE(c.channel, 'web') AS channel, COUNT(*) AS messages, "
        f"SUM(CASE WHEN e.intent_name = :unsure THEN 1 ELSE 0 END) AS below "
        f"FROM events e LEFT JOIN conversations c ON c.id = e.sender_id "
        f"WHERE e.timestamp >= :start AND e.timestamp < :end AND e.type_name = 'user' GROUP BY 1, 2"
    ), {"unsure": BELOW_THRESHOLD_INTENT, "start": start.timestamp(), "end": end.timestamp()}).all()
    return [(_as_date(d), c, int(n), int(b or 0)) for d, c, n, b in rows]


def index_events() -> bool:
    """Indexes the engine's events by time (its tracker store does not), once per database; False without the table.

    Called before any transaction of the caller: PostgreSQL builds the index concurrently, so the engine keeps
    writing meanwhile, and that waits for every transaction already open.
    """
    engine = get_engine()
    key = str(engine.url)
    if key in _events_indexed:
        return True
    if not inspect(engine).has_table("events"):
        return False
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_events_timestamp ON events (timestamp)"))
    else:
        with engine.begin() as connection:
            connection.execute(text("CREATE INDEX IF NOT EXISTS ix_events_timestamp ON events (timestamp)"))
    _events_indexed.add(key)
    return True


def handoff_rows(session: Session, days: Days, now: dt.datetime, channel: str | None = None,
                 service: str | None = None) -> dict[tuple[dt.date, str, str], HandoffFigures]:
    """The figures of handoffs requested in `days`, per (day, channel, service)."""
    postgres = _is_postgres(session)
    start, end = days.bounds()
    target = get_settings().handoff_target_wait_seconds
    day = local_day(Handoff.created_at, postgres).label("day")
    service_key = func.coalesce(Handoff.service, "").label("service")
    where = [Handoff.created_at >= start, Handoff.created_at < end]
    if channel:
        where.append(Handoff.channel == channel)
    if service:
        where.append(Handoff.service == service)
    accepted = Handoff.accepted_at.is_not(None)
    reopened = came_back(Handoff.conversation_id, Handoff.closed_at, postgres)
    figures: dict[tuple[dt.date, str, str], HandoffFigures] = {}
    for d, c, s, total, n_accepted, abandoned, waiting, undecided, resolved in session.execute(select(
        day, Handoff.channel, service_key, func.count(), count_if(accepted),
        count_if(and_(Handoff.status == "closed", Handoff.accepted_at.is_(None))),
        count_if(Handoff.status == "waiting"),
        count_if(and_(Handoff.status == "waiting", Handoff.created_at > now - dt.timedelta(seconds=target))),
        count_if(and_(accepted, Handoff.status == "closed", ~reopened)),
    ).where(*where).group_by(day, Handoff.channel, service_key)).all():
        figures[(_as_date(d), c, s)] = HandoffFigures(int(total), int(n_accepted or 0), int(abandoned or 0),
                                                      int(waiting or 0), int(undecided or 0), int(n_accepted or 0),
                                                      int(resolved or 0))
    wait = func.round(seconds_between(Handoff.created_at, Handoff.accepted_at, postgres)).label("wait")
    for d, c, s, seconds, n in session.execute(
        select(day, Handoff.channel, service_key, wait, func.count()).where(*where, accepted)
        .group_by(day, Handoff.channel, service_key, wait)
    ).all():
        figures[(_as_date(d), c, s)].waits[max(int(seconds), 0)] += int(n)
    return figures


# --- roll-up -----------------------------------------------------------------------------------------------------

def roll_up(days: Days, now: dt.datetime) -> tuple[int, int]:
    """Rolls up the finished and the settled days of `days` not rolled up yet; how many of each."""
    current = today(now)
    index_events()
    counted = _roll_up_finished([d for d in days.days if d < current])
    settled = _roll_up_settled([d for d in days.days if d <= current - dt.timedelta(days=SETTLE_DAYS)], now)
    return counted, settled


def roll_up_past_year(now: dt.datetime | None = None) -> tuple[int, int]:
    """Rolls up whatever the last year still lacks: run in the background, so a supervisor's request does not wait."""
    now = now or utcnow()
    current = today(now)
    return roll_up(Days(current - dt.timedelta(days=366), current), now)


def _missing(session: Session, wanted: list[dt.date], marker: str) -> list[dt.date]:
    if not wanted:
        return []
    done = set(session.scalars(select(AnalyticsDay.day).where(
        AnalyticsDay.channel == marker, AnalyticsDay.day >= wanted[0], AnalyticsDay.day <= wanted[-1])))
    return [d for d in wanted if d not in done]


def _row(session: Session, day: dt.date, channel: str) -> AnalyticsDay:
    row = session.get(AnalyticsDay, (day, channel))
    if row is None:
        row = AnalyticsDay(day=day, channel=channel, conversations=0, handed_off=0, messages=0, below_threshold=0)
        session.add(row)
    return row


def _roll_up_finished(wanted: list[dt.date]) -> int:
    try:
        with unit_of_work() as session:
            missing = _missing(session, wanted, COUNTED)
            if not missing:
                return 0
            keep = set(missing)
            for day, channel, messages, below in engine_rows(session, Days(missing[0], missing[-1])):
                if day in keep:
                    row = _row(session, day, channel)
                    row.messages, row.below_threshold = messages, below
            for day in missing:
                _row(session, day, COUNTED)
            return len(missing)
    except IntegrityError:  # another request rolled up the same days at the same moment
        return 0


def _roll_up_settled(wanted: list[dt.date], now: dt.datetime) -> int:
    try:
        with unit_of_work() as session:
            missing = _missing(session, wanted, SETTLED)
            if not missing:
                return 0
            keep, span = set(missing), Days(missing[0], missing[-1])
            for day, channel, conversations, handed_off in conversation_rows(session, span):
                if day in keep:
                    row = _row(session, day, channel)
                    row.conversations, row.handed_off = conversations, handed_off
            for (day, channel, service), figures in handoff_rows(session, span, now).items():
                if day in keep:
                    session.add(HandoffDay(day=day, channel=channel, service=service, handoffs=figures.handoffs,
                                           accepted=figures.accepted, abandoned=figures.abandoned,
                                           served=figures.served, resolved=figures.resolved,
                                           waits={str(k): v for k, v in figures.waits.items()}))
            for day in missing:
                _row(session, day, SETTLED)
            return len(missing)
    except IntegrityError:
        return 0


def rolled_conversations(session: Session, days: Days, channel: str | None) -> list[tuple[dt.date, str, int, int]]:
    """(day, channel, conversations, handed off) of the settled days in `days`, from the roll-up."""
    where = [AnalyticsDay.day >= days.first, AnalyticsDay.day <= days.last,
             AnalyticsDay.channel.not_in((COUNTED, SETTLED))]
    if channel:
        where.append(AnalyticsDay.channel == channel)
    rows = session.execute(select(AnalyticsDay.day, AnalyticsDay.channel, AnalyticsDay.conversations,
                                  AnalyticsDay.handed_off).where(*where)).all()
    return [(d, c, int(n), int(h)) for d, c, n, h in rows if n or h]


def rolled_messages(session: Session, days: Days, channel: str | None) -> tuple[int, int]:
    """(messages, below the threshold) of the finished days in `days`, from the roll-up."""
    where = [AnalyticsDay.day >= days.first, AnalyticsDay.day <= days.last,
             AnalyticsDay.channel.not_in((COUNTED, SETTLED))]
    if channel:
        where.append(AnalyticsDay.channel == channel)
    messages, below = session.execute(select(func.sum(AnalyticsDay.messages),
                                             func.sum(AnalyticsDay.below_threshold)).where(*where)).one()
    return int(messages or 0), int(below or 0)


def rolled_handoffs(session: Session, days: Days, channel: str | None, service: str | None) -> HandoffFigures:
    """The handoff figures of the settled days in `days`, from the roll-up (sums and waits added up in SQL)."""
    where = [HandoffDay.day >= days.first, HandoffDay.day <= days.last]
    if channel:
        where.append(HandoffDay.channel == channel)
    if service:
        where.append(HandoffDay.service == service)
    handoffs, accepted, abandoned, served, resolved = session.execute(select(
        func.sum(HandoffDay.handoffs), func.sum(HandoffDay.accepted), func.sum(HandoffDay.abandoned),
        func.sum(HandoffDay.served), func.sum(HandoffDay.resolved),
    ).where(*where)).one()
    if _is_postgres(session):
        each, value = "json_each_text(h.waits) AS w", "w.value::int"
    else:
        each, value = "json_each(h.waits) AS w", "w.value"
    narrowed = "".join(f" AND h.{name} = :{name}" for name, v in (("channel", channel), ("service", service)) if v)
    rows = session.execute(text(
        f"SELECT w.key, SUM({value}) FROM analytics_handoff_days h, {each} "
        f"WHERE h.day >= :first AND h.day <= :last{narrowed} GROUP BY w.key"
    ), {"first": days.first, "last": days.last, "channel": channel, "service": service}).all()
    return HandoffFigures(int(handoffs or 0), int(accepted or 0), int(abandoned or 0), 0, 0, int(served or 0),
                          int(resolved or 0), Counter({int(key): int(n) for key, n in rows}))
