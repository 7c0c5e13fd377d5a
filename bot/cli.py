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
    staff.add_argument("--password", default=None, help="required unless the account is being deactivated")
    staff.add_argument("--role", choices=("staff", "supervisor", "admin"), default="staff")
    staff.add_argument("--active", choices=("yes", "no"), default="yes",
                       help="no: deactivate the account (its logins end at once); yes with a password: (re)activate")
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
        if args.active == "no":
            return _deactivate(settings.database_url, args.username)
        if not args.password:
            parser.error("staff: --password is required (or --active no to deactivate)")
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


def _deactivate(database_url: str, username: str) -> int:
    from bot.db.migrate import upgrade
    from bot.services import audit, staff

    upgrade(database_url)
    if not staff.deactivate(username):
        print(f"no staff account {username!r}", file=sys.stderr)
        return 2
    audit.record("command-line", "deactivate_account", f"staff:{username}", "")
    print(f"staff account {username!r} deactivated; its logins have ended")
    return 0


if __name__ == "__main__":
    sys.exit(main())
