"""Command line of the assistant: `python -m bot.cli prepare|staff|reminders|rotate-keys ...` (the Makefile calls these)."""

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
    staff.add_argument("--centre", default=None,
                       help="the service centre (an id from knowledge_base/centres.yml) whose appointments the account "
                            "sees; 'none' for none; left as it was when not given")
    staff.add_argument("--active", choices=("yes", "no"), default="yes",
                       help="no: deactivate the account (its logins end at once); yes with a password: (re)activate")
    reminders = commands.add_parser("reminders", help="send the appointment reminders that are due now")
    reminders.add_argument("--now", type=dt.datetime.fromisoformat, default=None,
                           help="the centres' local time to act at, e.g. 2026-11-23T10:00 (default: now)")
    commands.add_parser("rotate-keys", help="re-encrypt every personal field with a new key; former keys still read")
    commands.add_parser("retention", help="delete what is past its retention period now, then vacuum")
    erase = commands.add_parser("erase", help="a resident's erasure request: delete all kept about them (audited)")
    erase.add_argument("--id-number", required=True)
    erase.add_argument("--phone", required=True)
    erase.add_argument("--staff", required=True, help="the staff member handling the request (for the audit log)")
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
        return _staff(settings.database_url, args.username, args.password, args.role, args.centre)
    elif args.command == "reminders":
        from bot.db.migrate import upgrade
        from bot.services import reminders as reminder_service

        upgrade(settings.database_url)
        sent = reminder_service.send_due(now=args.now)
        print(f"{len(sent)} reminder(s) sent")
    elif args.command == "rotate-keys":
        return _rotate_keys(settings)
    elif args.command == "retention":
        from bot.services import retention

        report = retention.purge_expired()
        print(f"deleted: {report.conversations} conversation(s), {report.drafts} unfinished application(s), "
              f"{report.audit_entries} audit entr(ies)")
    elif args.command == "erase":
        from bot.services import retention

        found = retention.erase(args.id_number, args.phone, args.staff)
        print(f"deleted: {len(found.conversations)} conversation(s), {len(found.applications)} application(s), "
              f"{len(found.appointments)} appointment(s)")
    return 0


def _rotate_keys(settings) -> int:  # noqa: ANN001 - Settings, imported lazily like the other commands
    from bot.db.migrate import upgrade
    from bot.keys import ensure_key_file
    from bot.services.key_rotation import rotate_keys

    ensure_key_file(settings)
    upgrade(settings.database_url)
    report = rotate_keys(settings)
    where = (f"a new key is first in {settings.key_file}; the former ones stay after it"
             if report.new_key_written else "re-encrypted under FIELD_ENCRYPTION_KEY "
             "(set the new key there and the former one in FIELD_ENCRYPTION_OLD_KEYS before running this)")
    print(f"{sum(report.rotated.values())} value(s) re-encrypted: {where}")
    if report.unreadable:
        print(f"{sum(report.unreadable.values())} value(s) no configured key can read were left as they are: "
              f"{report.unreadable}", file=sys.stderr)
        return 1
    return 0


def _staff(database_url: str, username: str, password: str, role: str, centre: str | None = None) -> int:
    from bot.db.migrate import upgrade
    from bot.errors import BianminError
    from bot.services import staff

    upgrade(database_url)
    try:
        created = staff.create_or_update(username, password, role, None if centre in (None, "none") else centre)
        if centre == "none":
            staff.set_centre(username, None)
    except BianminError as err:
        print(f"cannot save the account: {err.message}", file=sys.stderr)
        return 2
    where = f" at centre {centre}" if centre and centre != "none" else ""
    print(f"staff account {username!r} {'created' if created else 'updated'} with role {role}{where}")
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
