"""Analytics benchmark: the supervisors' summary of a year of a city's traffic on PostgreSQL.

Run from the repository root: `.venv/bin/python benchmarks/analytics.py [--conversations 1000000]`.
It creates its own database on the local server (TEST_POSTGRES_URL, default
postgresql+psycopg://root@127.0.0.1:5432/test names the server), migrates it, and generates in SQL a
year (2025) of conversations on four channels with, in proportion: handoffs (10 %, some asked
again within a week), people linked to two conversations each (a quarter of the conversations),
ratings, low-rating follow-ups and complaints, applications (drafts left at a field), appointments
at five centres, unanswered and clarifying questions, and the dialogue engine's own events (two
messages and two answers per conversation). Then it times
`analytics.summary` for the year: the first call (which indexes the engine's events and rolls up
every day of the year, once; a running gateway does this hourly in the background) and the
following ones, plus a month and filtered views. The database is dropped at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

if not __package__:
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

from sqlalchemy import create_engine, text

SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
SERVICES = ["residence_permit", "social_security_card", "senior_allowance", "medical_reimbursement", "id_card",
            "household_registration", "birth_registration", "business_license", "housing_fund_withdrawal",
            "senior_card"]
FORMS = ["residence_permit", "social_security_card", "senior_allowance", "senior_card",
         "medical_transfer_registration", "wage_arrears_complaint"]
FIELDS = ["full_name", "id_number", "phone", "address"]
CENTRES = ["centre_1", "centre_2", "centre_3", "centre_4", "centre_5"]
NOW = dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.UTC)


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def generate(url: str, n: int) -> None:
    """Fills the migrated database at `url` with a year of traffic for `n` conversations."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    year = "31536000.0"
    statements = [
        # Conversations spread evenly over 2025 (China time): 55 % web, 15 % each Telegram, phone, kiosk.
        f"""INSERT INTO conversations (id, channel, locale, created_at)
            SELECT 'b' || g, CASE WHEN g % 20 < 11 THEN 'web' WHEN g % 20 < 14 THEN 'telegram'
                                  WHEN g % 20 < 17 THEN 'phone' ELSE 'kiosk' END, 'zh-CN',
                   timestamptz '2025-01-01 00:00:00+08' + make_interval(secs => (g - 1) * {year} / {n})
            FROM generate_series(1, {n}) g""",
        # A handoff for every tenth conversation: 85 % accepted after 0-400 s, the rest abandoned.
        f"""INSERT INTO handoffs (conversation_id, channel, service, reason, status, context, created_at,
                                  accepted_at, closed_at, staff_username)
            SELECT c.id, c.channel, ({_array(SERVICES)})[1 + g % {len(SERVICES)}], 'requested', 'closed', '{{}}',
                   c.created_at + interval '1 minute',
                   CASE WHEN g % 100 < 85 THEN c.created_at + interval '1 minute' + make_interval(secs => (g * 37) % 400) END,
                   c.created_at + interval '10 minutes', CASE WHEN g % 100 < 85 THEN 'staff1' END
            FROM generate_series(10, {n}, 10) g JOIN conversations c ON c.id = 'b' || g""",
        # One in five of those asks again two days later (not resolved).
        f"""INSERT INTO handoffs (conversation_id, channel, service, reason, status, context, created_at,
                                  accepted_at, closed_at)
            SELECT c.id, c.channel, 'id_card', 'requested', 'closed', '{{}}', c.created_at + interval '2 days',
                   c.created_at + interval '2 days 30 seconds', c.created_at + interval '2 days 5 minutes'
            FROM generate_series(50, {n}, 50) g JOIN conversations c ON c.id = 'b' || g""",
        # A quarter of the conversations proved who they are: pairs 100 conversations (about an hour) apart are
        # one person, so a handoff in the first and another in the second count as the person coming back.
        f"""INSERT INTO people (id, id_fingerprint, created_at, updated_at)
            SELECT g / 8, 'p' || g, now(), now() FROM generate_series(8, {n} - 100, 8) g""",
        f"""INSERT INTO person_conversations (conversation_id, person_id, linked_at)
            SELECT 'b' || (g + k), g / 8, now() FROM generate_series(8, {n} - 100, 8) g CROSS JOIN (VALUES (0), (100)) v(k)""",
        f"""INSERT INTO ratings (conversation_id, channel, subject, level, created_at, updated_at)
            SELECT c.id, c.channel, 'handoff:' || g,
                   (ARRAY[1, 2, 3, 4, 4, 4, 5, 5, 5, 5])[1 + (g * 7) % 10], c.created_at + interval '11 minutes',
                   c.created_at + interval '11 minutes'
            FROM generate_series(16, {n}, 16) g JOIN conversations c ON c.id = 'b' || g""",
        """INSERT INTO staff_tasks (kind, audience, conversation_id, channel, summary, status, created_at)
            SELECT 'low_rating', 'supervisor', conversation_id, channel, '', CASE WHEN id % 3 = 0 THEN 'open' ELSE 'done' END,
                   created_at FROM ratings WHERE level <= 2""",
        f"""INSERT INTO staff_tasks (kind, audience, conversation_id, channel, service, summary, status, created_at, done_at)
            SELECT 'complaint', 'supervisor', c.id, c.channel, 'id_card', '', CASE WHEN g % 3 = 0 THEN 'open' ELSE 'done' END,
                   c.created_at + interval '3 minutes', c.created_at + interval '1 day'
            FROM generate_series(200, {n}, 200) g JOIN conversations c ON c.id = 'b' || g""",
        f"""INSERT INTO applications (service_id, status, conversation_id, channel, details, requested_slot,
                                      conversation_ids, created_at, updated_at, submitted_at, reference)
            SELECT ({_array(FORMS)})[1 + (g / 12) % {len(FORMS)}],
                   CASE WHEN (g / 12) % 10 < 6 THEN 'submitted' ELSE 'draft' END, c.id, c.channel, '{{}}',
                   CASE WHEN (g / 12) % 10 >= 6 THEN ({_array(FIELDS)})[1 + g % {len(FIELDS)}] END, '[]',
                   c.created_at, c.created_at + interval '4 minutes',
                   CASE WHEN (g / 12) % 10 < 6 THEN c.created_at + interval '4 minutes' END,
                   CASE WHEN (g / 12) % 10 < 6 THEN 'R' || g END
            FROM generate_series(12, {n}, 12) g JOIN conversations c ON c.id = 'b' || g""",
        f"""INSERT INTO appointments (reference, centre_id, service_id, slot_start, slot_end, seat, status,
                                      conversation_id, channel, full_name_encrypted, phone_encrypted, created_at, updated_at)
            SELECT 'A' || g, ({_array(CENTRES)})[1 + g % {len(CENTRES)}], 'id_card',
                   (c.created_at AT TIME ZONE 'Asia/Shanghai') + interval '1 day',
                   (c.created_at AT TIME ZONE 'Asia/Shanghai') + interval '1 day 30 minutes', g,
                   (ARRAY['checked_in', 'checked_in', 'checked_in', 'cancelled', 'booked'])[1 + g % 5],
                   c.id, c.channel, 'x', 'x', c.created_at, c.created_at
            FROM generate_series(25, {n}, 25) g JOIN conversations c ON c.id = 'b' || g""",
        f"""INSERT INTO unanswered_questions (conversation_id, channel, text, reason, created_at)
            SELECT c.id, c.channel, '问题' || ((g::bigint * 7919) % 2000), 'low_confidence', c.created_at + interval '20 seconds'
            FROM generate_series(5, {n}, 10) g JOIN conversations c ON c.id = 'b' || g""",
        f"""INSERT INTO clarifying_questions (conversation_id, channel, created_at)
            SELECT c.id, c.channel, c.created_at + interval '10 seconds'
            FROM generate_series(3, {n}, 20) g JOIN conversations c ON c.id = 'b' || g""",
        # The dialogue engine's tracker table, as its SQL tracker store creates it.
        """CREATE TABLE events (id SERIAL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL,
                                timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)""",
        f"""INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)
            SELECT 'b' || g, CASE WHEN k % 2 = 1 THEN 'user' ELSE 'bot' END,
                   extract(epoch FROM timestamptz '2025-01-01 00:00:00+08') + (g - 1) * {year} / {n} + k * 5,
                   CASE WHEN k % 2 = 1 THEN CASE WHEN (g * k) % 12 = 0 THEN 'nlu_fallback' ELSE 'ask_materials' END END,
                   NULL, '{{}}'
            FROM generate_series(1, {n}) g CROSS JOIN generate_series(1, 4) k""",
        "CREATE INDEX ix_events_sender_id ON events (sender_id)",
        "VACUUM ANALYZE",
    ]
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", metavar="NAME", help="keep the generated database under this name (and reuse it)")
    args = parser.parse_args()

    server = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    name = args.keep or f"bianmin_bench_{uuid.uuid4().hex[:8]}"
    with server.connect() as connection:
        exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = SERVER.rsplit("/", 1)[0] + f"/{name}"
    os.environ["DATABASE_URL"] = url
    try:
        from bot.db.migrate import upgrade
        from bot.services import analytics
        from bot.services.analytics import Filters, Period

        upgrade(url)
        seconds, _ = (0.0, None) if exists else timed(generate, url, args.conversations)
        engine = create_engine(url)
        with engine.connect() as connection:
            counts = {table: connection.scalar(text(f"SELECT count(*) FROM {table}")) for table in (
                "conversations", "handoffs", "person_conversations", "ratings", "staff_tasks", "applications",
                "appointments", "unanswered_questions", "clarifying_questions", "events")}
        engine.dispose()
        print(f"generated in {seconds:.0f} s: " + ", ".join(f"{t} {c:,}" for t, c in counts.items()))

        year = Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
        cold, figures = timed(analytics.summary, year, now=NOW)
        print(f"year summary, first call (indexes the engine's events and rolls up 365 days, once): {cold:.2f} s")
        views = {
            "year": (year, Filters()),
            "year, phone only": (year, Filters(channel="phone")),
            "year, one service": (year, Filters(service="id_card")),
            "year, one centre": (year, Filters(centre="centre_1")),
            "one month (December)": (Period(dt.date(2025, 12, 1), dt.date(2025, 12, 31)), Filters()),
        }
        for label, (period, filters) in views.items():
            runs = [timed(analytics.summary, period, filters, now=NOW)[0] for _ in range(args.runs)]
            print(f"{label}: median {statistics.median(runs):.3f} s, max {max(runs):.3f} s ({args.runs} runs)")
        summary = figures  # type: ignore[assignment]
        print(f"check: {summary['conversations']:,} conversations, {summary['handoffs']['total']:,} handoffs, "  # type: ignore[index]
              f"response rate {summary['handoffs']['response_rate']}, resolution rate "  # type: ignore[index]
              f"{summary['handoffs']['resolution_rate']}, {summary['understanding']['messages']:,} messages")  # type: ignore[index]
    finally:
        from bot.db.session import get_engine
        get_engine.cache_clear()
        if not args.keep:
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()


if __name__ == "__main__":
    main()
