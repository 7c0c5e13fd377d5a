"""Command line of the assistant: `python -m bot.cli prepare|staff|reminders ...` (the Makefile calls these)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from bot.logs import configure_logging
from bot.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    """Parses the command and runs it."""
    parser = argparse.ArgumentParser(prog="python -m bot.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="migrate the database, build training inputs, train the model if needed")
    staff = commands.add_parser("staff", help="create or update a staff account (the first admin included)")
    staff.add_argument("--username", required=True)
    staff.add_argument("--password", required=True)
    staff.add_argument("--role", choices=("staff", "supervisor", "admin"), default="staff")
    reminders = commands.add_parser("reminders", help="send the appointment reminders that are due now")
    reminders.add_argument("--now", type=dt.datetime.fromisoformat, default=None,
                           help="the centres' local time to act at, e.g. 2026-11-23T10:00 (default: now)")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    if args.command == "prepare":
        from bot.prepare import prepare

        prepare(settings)
    elif args.command == "staff":
        return _staff(settings.database_url, args.username, args.password, args.role)
    elif args.command == "reminders":
        from bot.db.migrate import upgrade
        from bot.services import reminders as reminder_service

        upgrade(settings.database_url)
        sent = reminder_service.send_due(now=args.now)
        print(f"{len(sent)} reminder(s) sent")
    return 0


def _staff(database_url: str, username: str, password: str, role: str) -> int:
    from bot.db.migrate import upgrade
    from bot.errors import BianminError
    from bot.services import staff

    upgrade(database_url)
    try:
        created = staff.create_or_update(username, password, role)
    except BianminError as err:
        print(f"cannot save the account: {err.message}", file=sys.stderr)
        return 2
    print(f"staff account {username!r} {'created' if created else 'updated'} with role {role}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
