"""Staff accounts: logging in, lockout after wrong passwords, expiring tokens, who is on duty."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.errors import InvalidRequest, Unauthorized
from bot.services import audit, staff
from bot.settings import get_settings

PASSWORD = "correct horse 1"


def new_account(role: str = "staff") -> str:
    username = f"s{uuid.uuid4().hex[:8]}"
    assert staff.create_or_update(username, PASSWORD, role) is True
    return username


def test_a_created_account_logs_in_and_its_token_names_the_member_and_role():
    username = new_account("supervisor")
    token = staff.login(username, PASSWORD)
    identity = staff.identity_for_token(token)
    assert identity is not None and identity.username == username and identity.role == "supervisor"
    assert identity.is_supervisor


def test_the_password_is_never_stored_in_clear():
    from sqlalchemy import select

    from bot.db.models import StaffAccount
    from bot.db.session import unit_of_work

    username = new_account()
    with unit_of_work() as session:
        stored = session.scalar(select(StaffAccount.password_hash).where(StaffAccount.username == username))
    assert PASSWORD not in stored and stored.startswith("$argon2")


def test_passwords_are_hashed_at_the_cost_rfc_9106_recommends():
    from argon2 import PasswordHasher, extract_parameters, profiles

    assert staff.PASSWORD_HASHING == profiles.RFC_9106_LOW_MEMORY
    made = extract_parameters(PasswordHasher.from_parameters(staff.PASSWORD_HASHING).hash(PASSWORD))
    assert (made.type.name, made.time_cost, made.memory_cost) == ("ID", 3, 64 * 1024)


def test_wrong_password_and_unknown_user_are_refused_alike():
    username = new_account()
    with pytest.raises(Unauthorized) as wrong:
        staff.login(username, "wrong password")
    with pytest.raises(Unauthorized) as unknown:
        staff.login("nobody-here", PASSWORD)
    assert wrong.value.message == unknown.value.message


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes():
    username = new_account()
    now = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            staff.login(username, "guess", now=now)
    with pytest.raises(Unauthorized) as paused:
        staff.login(username, PASSWORD, now=now + dt.timedelta(minutes=14))
    assert paused.value.message == "wrong username or password"
    assert staff.login(username, PASSWORD, now=now + dt.timedelta(minutes=16))


def test_a_strangers_guesses_from_another_address_do_not_lock_a_colleague_out():
    username = new_account()
    now = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.timezone.utc)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            staff.login(username, "guess", now=now, client="203.0.113.9")
    assert staff.login(username, PASSWORD, now=now, client="10.0.0.5"), "the colleague at their own desk gets in"
    with pytest.raises(Unauthorized):
        staff.login(username, PASSWORD, now=now, client="203.0.113.9")


def test_parallel_wrong_passwords_are_all_counted():
    import threading

    username = new_account()
    now = dt.datetime(2026, 11, 23, 4, 0, tzinfo=dt.timezone.utc)

    def guess() -> None:
        with pytest.raises(Unauthorized):
            staff.login(username, "guess", now=now, client="198.51.100.7")

    threads = [threading.Thread(target=guess) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pytest.raises(Unauthorized):
        staff.login(username, PASSWORD, now=now, client="198.51.100.7")


def test_a_token_stops_working_after_the_session_length_and_after_logout():
    username = new_account()
    now = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc)
    token = staff.login(username, PASSWORD, now=now)
    minutes, idle = get_settings().staff_session_minutes, get_settings().staff_idle_minutes
    for used in range(idle - 1, minutes, idle - 1):  # kept in use all along
        assert staff.identity_for_token(token, now=now + dt.timedelta(minutes=used)) is not None
    assert staff.identity_for_token(token, now=now + dt.timedelta(minutes=minutes - 1)) is not None
    assert staff.identity_for_token(token, now=now + dt.timedelta(minutes=minutes + 1)) is None
    fresh = staff.login(username, PASSWORD)
    staff.logout(fresh)
    assert staff.identity_for_token(fresh) is None
    assert staff.identity_for_token("made-up-token") is None


def test_a_login_left_idle_ends_and_stays_ended_while_use_keeps_it_alive():
    username = new_account()
    now = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc)
    idle = dt.timedelta(minutes=get_settings().staff_idle_minutes)
    used, left = staff.login(username, PASSWORD, now=now), staff.login(username, PASSWORD, now=now)
    assert staff.identity_for_token(used, now=now + idle - dt.timedelta(minutes=1)) is not None
    assert staff.identity_for_token(used, now=now + 2 * idle - dt.timedelta(minutes=2)) is not None
    assert staff.identity_for_token(left, now=now + idle + dt.timedelta(minutes=1)) is None
    assert staff.identity_for_token(left, now=now + idle + dt.timedelta(minutes=2)) is None


def test_a_new_password_ends_the_old_logins():
    username = new_account()
    token = staff.login(username, PASSWORD)
    assert staff.create_or_update(username, "another password 2", "admin") is False
    assert staff.identity_for_token(token) is None
    assert staff.identity_for_token(staff.login(username, "another password 2")).role == "admin"


def test_staff_count_as_on_duty_only_while_they_use_the_console():
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    before = staff.on_duty_count(now=later)
    username = new_account()
    token = staff.login(username, PASSWORD, now=later)
    assert staff.on_duty_count(now=later) == before + 1
    assert staff.on_duty_count(now=later + dt.timedelta(minutes=30)) == 0
    staff.identity_for_token(token, now=later + dt.timedelta(minutes=30))
    assert staff.on_duty_count(now=later + dt.timedelta(minutes=31)) == 1


@pytest.mark.parametrize("username, password, role", [
    ("ok-name", "short", "staff"),
    ("bad name!", PASSWORD, "staff"),
    ("ok-name", PASSWORD, "boss"),
])
def test_bad_account_details_are_refused(username, password, role):
    with pytest.raises(InvalidRequest):
        staff.create_or_update(username, password, role)


def test_the_command_line_creates_the_first_admin(capsys):
    from bot.cli import main

    username = f"admin{uuid.uuid4().hex[:6]}"
    assert main(["staff", "--username", username, "--password", PASSWORD, "--role", "admin"]) == 0
    assert "created" in capsys.readouterr().out
    assert staff.identity_for_token(staff.login(username, PASSWORD)).role == "admin"
    assert main(["staff", "--username", username, "--password", "x", "--role", "admin"]) == 2


def test_the_command_line_puts_an_account_in_a_centre_and_keeps_it_there_until_told_otherwise(capsys):
    from bot.cli import main

    username = f"clerk{uuid.uuid4().hex[:6]}"
    assert main(["staff", "--username", username, "--password", PASSWORD, "--centre", "east_centre"]) == 0
    assert staff.identity_for_token(staff.login(username, PASSWORD)).centre_id == "east_centre"
    assert main(["staff", "--username", username, "--password", PASSWORD]) == 0, "a new password only"
    assert staff.identity_for_token(staff.login(username, PASSWORD)).centre_id == "east_centre"
    assert main(["staff", "--username", username, "--password", PASSWORD, "--centre", "moon_base"]) == 2
    assert "east_centre" in capsys.readouterr().err, "the valid centre ids are named"
    assert main(["staff", "--username", username, "--password", PASSWORD, "--centre", "none"]) == 0
    identity = staff.identity_for_token(staff.login(username, PASSWORD))
    assert identity.centre_id is None and not identity.sees_centre("east_centre")


def test_only_supervisors_see_every_centre():
    now = dt.datetime.now(dt.timezone.utc)
    clerk = staff.StaffIdentity("li", "staff", now, "east_centre")
    assert clerk.sees_centre("east_centre") and not clerk.sees_centre("west_centre")
    assert not staff.StaffIdentity("wang", "staff", now).sees_centre("east_centre")
    assert all(staff.StaffIdentity("zhao", role, now).sees_centre("west_centre") for role in ("supervisor", "admin"))


def test_a_deactivated_account_cannot_log_in_and_its_tokens_end_at_once():
    import subprocess
    import sys

    from bot.settings import REPO_ROOT

    username = new_account()
    token = staff.login(username, PASSWORD)
    # The same database: the test session's DATABASE_URL is in the environment the command inherits.
    result = subprocess.run([sys.executable, "-m", "bot.cli", "staff", "--username", username, "--active", "no"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert staff.identity_for_token(token) is None
    with pytest.raises(Unauthorized) as refused:
        staff.login(username, PASSWORD)
    assert refused.value.message == "wrong username or password"


def test_a_refused_login_is_audited_with_the_username_masked_and_the_client_address():
    username = new_account()
    client = f"198.51.100.{uuid.uuid4().int % 250}"
    with pytest.raises(Unauthorized):
        staff.login(username, "wrong-password-typed", client=client)
    with pytest.raises(Unauthorized):
        staff.login("nobody-" + username, PASSWORD, client=client)
    refused = [e for e in audit.recent(subject=f"client:{client}") if e.action == "staff_login_refused"]
    assert len(refused) == 2 and {e.staff_username for e in refused} == {username[:1] + "***", "n***"}
    assert not any(username in e.staff_username + e.detail or "wrong-password" in e.detail for e in refused)
