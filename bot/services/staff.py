"""Staff accounts, console logins and who is on duty.

Passwords are kept only as argon2 hashes and tokens only as SHA-256 hashes, so
a copy of the database lets nobody log in. Failed logins are counted atomically
(bot/services/guessing.py) per account and client address (5), per client
address (20) and per account from anywhere (50, so that a stranger's few guesses
never lock a colleague out): a paused login answers exactly like a wrong
password, after the same password check, so neither the answer nor its timing
tells whether the user exists or is locked. A token ends after `staff_session_minutes`,
or earlier when the console was not used for `staff_idle_minutes` (a desk left unattended).
A staff member belongs to one service centre and sees its appointments only (none without a
centre); supervisors and admins see every centre's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update

from bot.db.models import StaffAccount, StaffSession, utcnow
from bot.db.session import unit_of_work
from bot.errors import InvalidRequest, Unauthorized
from bot.knowledge.catalogue import get_catalogue
from bot.services import audit, guessing
from bot.settings import get_settings

ROLES = ("staff", "supervisor", "admin")
SUPERVISOR_ROLES = ("supervisor", "admin")
MAX_FAILED_LOGINS = 5  # per account and client address
MAX_FAILED_LOGINS_PER_CLIENT = 20
MAX_FAILED_LOGINS_PER_ACCOUNT = 50
LOCKOUT = dt.timedelta(minutes=15)
# A staff member whose console was used this recently counts as on duty (the console polls every few seconds).
PRESENCE = dt.timedelta(minutes=5)
# Writing "last seen" on every poll would make each request a write; once in this interval is enough.
SEEN_WRITE_INTERVAL = dt.timedelta(seconds=20)
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
MIN_PASSWORD_LENGTH = 8

# RFC 9106's second recommended option (argon2id, 3 passes over 64 MiB): about a quarter of a second of CPU per
# hash, so a stolen table costs an attacker as much per guess.
PASSWORD_HASHING = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_HASHING)
# Verifying against this when the username is unknown keeps the answer time the same as for a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class StaffIdentity:
    """The staff member behind a valid token."""

    username: str
    role: str
    expires_at: dt.datetime
    centre_id: str | None = None

    @property
    def is_supervisor(self) -> bool:
        """Supervisors and admins may read every conversation and follow up ratings and complaints."""
        return self.role in SUPERVISOR_ROLES

    def sees_centre(self, centre_id: str) -> bool:
        """Whether this staff member may see the appointments of a centre: their own, or all for a supervisor."""
        return self.is_supervisor or (self.centre_id is not None and centre_id == self.centre_id)


@dataclass(frozen=True)
class AccountView:
    """A staff account as the admin list shows it (never the hash)."""

    username: str
    role: str
    active: bool
    locked: bool
    centre_id: str | None


def _as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without a zone; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_centre(centre_id: str) -> str:
    """A centre id of the catalogue (knowledge_base/centres.yml), or InvalidRequest naming the valid ones."""
    centres = get_catalogue().centres
    if centre_id not in centres:
        raise InvalidRequest(f"centre must be one of {', '.join(centres)}", code="unknown_centre")
    return centre_id


def create_or_update(username: str, password: str, role: str, centre_id: str | None = None) -> bool:
    """Creates the account, or sets a new password and role (and unlocks it); True when it was created.

    `centre_id` sets the account's centre; None leaves an existing account's centre as it was.
    """
    if centre_id is not None:
        check_centre(centre_id)
    if not USERNAME.match(username or ""):
        raise InvalidRequest("username must be 2-64 letters, digits or . _ -", code="invalid_username")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters", code="weak_password")
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    password_hash = _hasher.hash(password)
    with unit_of_work() as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
        created = account is None
        if account is None:
            account = StaffAccount(username=username, password_hash=password_hash, role=role, active=True,
                                   failed_logins=0, centre_id=centre_id)
            session.add(account)
        else:
            account.password_hash, account.role, account.active = password_hash, role, True
            if centre_id is not None:
                account.centre_id = centre_id
            account.failed_logins, account.locked_until = 0, None
            guessing.forget_prefix(f"login:{_user_hash(username)}@")
            guessing.forget_prefix(_user_key(username))
            # A new password ends every login made with the old one.
            session.execute(update(StaffSession).where(StaffSession.staff_id == account.id,
                                                       StaffSession.revoked_at.is_(None))
                            .values(revoked_at=utcnow()))
    return created


def _user_hash(username: str) -> str:
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _user_key(username: str) -> str:
    return f"login-user:{_user_hash(username)}"


def set_centre(username: str, centre_id: str | None) -> bool:
    """Moves an account to a centre (None: to none, so it sees no appointments); False for an unknown username."""
    if centre_id is not None:
        check_centre(centre_id)
    with unit_of_work() as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
        if account is None:
            return False
        account.centre_id = centre_id
    return True


def deactivate(username: str) -> bool:
    """Switches an account off and ends its logins at once; False for an unknown username."""
    with unit_of_work() as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
        if account is None:
            return False
        account.active = False
        session.execute(update(StaffSession).where(StaffSession.staff_id == account.id,
                                                   StaffSession.revoked_at.is_(None)).values(revoked_at=utcnow()))
    return True


def login_keys(username: str, client: str) -> tuple[list[str], dict[str, int]]:
    """The failure counters of a login attempt and their limits (the username only as a hash)."""
    user = _user_hash(username)
    keys = [f"login:{user}@{client}", f"login-client:{client}", _user_key(username)]
    return keys, {keys[0]: MAX_FAILED_LOGINS, keys[1]: MAX_FAILED_LOGINS_PER_CLIENT,
                  keys[2]: MAX_FAILED_LOGINS_PER_ACCOUNT}


def login(username: str, password: str, now: dt.datetime | None = None, client: str = "unknown") -> str:
    """Checks the password and returns a new bearer token; the one Unauthorized for every failure.

    A wrong password, an unknown or deactivated user and a paused login all take one
    argon2 check and give the same answer.
    """
    now = now or utcnow()
    keys, limits = login_keys(username, client)
    refused = Unauthorized("wrong username or password", code="invalid_credentials")
    if guessing.paused(keys, now):
        _verify(_DUMMY_HASH, password)
        _audit_refused_login(username, client, "paused after too many failures")
        raise refused
    with unit_of_work() as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
        usable = account is not None and account.active
        if account is None or not _verify(account.password_hash if usable else _DUMMY_HASH, password) or not usable:
            session.rollback()
            guessing.count_failure(keys, now, limits)
            _audit_refused_login(username, client, "wrong username or password")
            raise refused
        account.failed_logins, account.locked_until = 0, None
        if _hasher.check_needs_rehash(account.password_hash):
            account.password_hash = _hasher.hash(password)
        token = secrets.token_urlsafe(32)
        minutes = get_settings().staff_session_minutes
        session.add(StaffSession(token_hash=_token_hash(token), staff_id=account.id, created_at=now,
                                 expires_at=now + dt.timedelta(minutes=minutes), last_seen_at=now))
        return token


def _audit_refused_login(username: str, client: str, why: str) -> None:
    # The username only masked (a password typed into the name field must not land in the log), never the password.
    audit.record(mask_username(username), "staff_login_refused", f"client:{client}"[:160], why)


def mask_username(username: str) -> str:
    """A tried username as the audit log keeps it: its first character only."""
    return f"{username[:1]}***"


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def identity_for_token(token: str, now: dt.datetime | None = None) -> StaffIdentity | None:
    """The staff member of a valid, unexpired, recently used token (and notes they are on duty); None otherwise."""
    if not token:
        return None
    now = now or utcnow()
    with unit_of_work() as session:
        row = session.execute(
            select(StaffSession, StaffAccount).join(StaffAccount, StaffAccount.id == StaffSession.staff_id)
            .where(StaffSession.token_hash == _token_hash(token))
        ).first()
        if row is None:
            return None
        login_session, account = row
        if (login_session.revoked_at is not None or _as_utc(login_session.expires_at) <= now
                or not account.active):
            return None
        if now - _as_utc(login_session.last_seen_at) > dt.timedelta(minutes=get_settings().staff_idle_minutes):
            # Left idle: the login ends for good, so a console left open at an empty desk is of no use.
            login_session.revoked_at = now
            return None
        if now - _as_utc(login_session.last_seen_at) > SEEN_WRITE_INTERVAL:
            login_session.last_seen_at = now
        return StaffIdentity(account.username, account.role, _as_utc(login_session.expires_at), account.centre_id)


def logout(token: str) -> None:
    """Ends a login; the token stops working at once."""
    with unit_of_work() as session:
        session.execute(update(StaffSession).where(StaffSession.token_hash == _token_hash(token))
                        .values(revoked_at=utcnow()))


def on_duty_count(now: dt.datetime | None = None) -> int:
    """How many staff members used the console in the last few minutes with a valid login."""
    now = now or utcnow()
    with unit_of_work() as session:
        return session.scalar(
            select(func.count(func.distinct(StaffSession.staff_id)))
            .where(StaffSession.revoked_at.is_(None), StaffSession.expires_at > now,
                   StaffSession.last_seen_at > now - PRESENCE, StaffSession.last_seen_at <= now)
        ) or 0


def list_accounts() -> list[AccountView]:
    """Every account, for admins."""
    now = utcnow()
    with unit_of_work() as session:
        accounts = session.scalars(select(StaffAccount).order_by(StaffAccount.username)).all()
        return [AccountView(a.username, a.role, a.active, guessing.paused([_user_key(a.username)], now), a.centre_id)
                for a in accounts]
