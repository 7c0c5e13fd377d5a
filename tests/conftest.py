"""Shared fixtures: a migrated SQLite database per test module, settings pointing at it, PostgreSQL databases."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import Phase, settings
from sqlalchemy import create_engine, text

from bot.db import session as db_session
from bot.db.migrate import upgrade
from bot.privacy import generate_key
from bot.settings import get_settings

# The tests drive many conversations, bookings and call-backs from one address and one test phone within
# minutes: the quotas a resident never reaches are raised for them (stacks inherit this environment), and the
# tests of the quotas themselves set their own (tests/bot/test_ratelimit.py).
for _name in ("CHAT_PER_CONVERSATION", "CHAT_PER_CLIENT", "NEW_CONVERSATIONS_PER_CLIENT", "SPEECH_PER_CLIENT",
              "HANDOFFS_PER_CONVERSATION", "CALLBACKS_PER_CONVERSATION", "CALLBACKS_PER_PHONE",
              "BOOKINGS_PER_CONVERSATION", "BOOKINGS_PER_PHONE"):
    os.environ.setdefault(f"RATE_LIMIT_{_name}", "100000/minute")
# No key is built in: the tests, and the stacks they start, use a fresh one.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", generate_key())

# Under a mutation run (`make mutation`, and the check `make test` runs), a property that fails has caught its
# mutant: hypothesis does not shrink the failing example then (seconds of CPU per mutant, for nothing the score
# uses) and keeps no example database (examples that fail only on a mutant would be replayed on every later
# run). The test modules' own settings, made at their import after this one's, inherit it.
settings.register_profile("mutation", phases=[Phase.explicit, Phase.generate], database=None)
if os.environ.get("MUTANT_UNDER_TEST"):
    settings.load_profile("mutation")


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes() -> Iterator[None]:
    """Staff passwords hashed with argon2's lowest cost in this process.

    At the production cost (bot.services.staff.PASSWORD_HASHING) each hash and each check takes about a quarter
    of a second of CPU, a third of the unit tests' time; the tests of logins need a hash, not its cost.
    tests/bot/test_staff.py checks the production cost, and stacks (other processes) keep it.
    """
    from argon2 import PasswordHasher, profiles

    from bot.services import staff

    quick = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(staff, "_hasher", quick)
        patch.setattr(staff, "_DUMMY_HASH", quick.hash("not-a-real-password"))
        yield


POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


# Tests under these paths get the marker; `make unit` (`pytest --unit`) skips them all without importing them.
_MARKED_PATHS = {
    "stack": ("tests/stack/",),
    "browser": ("tests/browser/",),
    "sip": ("tests/channels/phone/test_sip_",),
    # Each starts the action server, plays calls in real time through vosk and espeak-ng, or runs the load test's
    # residents for seconds. A module that runs code in Rasa's Python (`tests.in_rasa.run_in_rasa`, several seconds
    # to import Rasa) is `slow` wherever it lives.
    "slow": ("tests/benchmarks/test_locustfile.py", "tests/bot/test_action_server_logging.py",
             "tests/channels/phone/test_call_flow.py", "tests/channels/phone/test_phone_channel.py", "tests/speech/test_vosk_asr.py",
             "tests/speech/test_pipeline.py", "tests/speech/test_speech_api.py"),
}
# The first test on a stack also pays for its start: `bot.cli prepare`, then Rasa loading its model
# (tests.stack.conftest.START_TIMEOUT_SECONDS at most), on two cores that other work shares.
STACK_TIMEOUT_SECONDS = 600


# What `--unit` runs: the tests that need no stack, browser, SIP client or much time.
UNIT_TESTS = "not stack and not browser and not sip and not slow"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--unit", action="store_true",
                     help=f'run only the fast tests (-m "{UNIT_TESTS}"), without importing the modules it skips')


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("unit"):
        config.option.markexpr = UNIT_TESTS


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` starts three workers for two cores: a unit test spends about half of its time waiting (on
    PostgreSQL, on a test double's answer, on a back-off), and a third worker fills those waits. On 2 cores
    `make unit` took 72 s with 2 workers, 52 s with 3 and 53 s with 4 (README, "Developing").
    PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores * 3 // 2)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under `--unit`, the paths marked stack, browser, sip or slow are not imported at all: importing and
    collecting them (schemathesis builds its cases at collection) took about half of each worker's start."""
    if not config.getoption("unit") or not collection_path.is_relative_to(config.rootpath):
        return None
    where = collection_path.relative_to(config.rootpath).as_posix() + ("/" if collection_path.is_dir() else "")
    return True if any(where.startswith(prefixes) for prefixes in _MARKED_PATHS.values()) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks the tests that need a stack, a browser, a SIP client or much time by where they live (and by
    whether they run code in Rasa's Python); gives stack tests their time."""
    root = config.rootpath
    for item in items:
        where = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        for marker, prefixes in _MARKED_PATHS.items():
            if where.startswith(prefixes):
                item.add_marker(marker)
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "run_in_rasa"):
            item.add_marker("slow")
        if item.get_closest_marker("stack") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(STACK_TIMEOUT_SECONDS))


def _use_database(url: str) -> None:
    if db_session.get_engine.cache_info().currsize:
        db_session.get_engine().dispose()  # the previous database's connections
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db_session.get_engine.cache_clear()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated once per test process; each module starts from a copy (copying takes milliseconds)."""
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def copy_sqlite(template: Path, path: Path) -> str:
    """A copy of a migrated SQLite database at `path`, as a URL. The backup API, not a file copy: it includes
    what is still in the template's write-ahead log."""
    with sqlite3.connect(template) as source, sqlite3.connect(path) as target:
        source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module", autouse=True)
def database(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every test module gets a fresh migrated database of its own, never the developer's var/bianmin.db,
    so what one module leaves behind (staff on duty, queued handoffs) cannot change another's outcome."""
    url = copy_sqlite(migrated_template, tmp_path_factory.mktemp("db") / "test.db")
    _use_database(url)
    yield url


@contextmanager
def _database_in_use(url: str) -> Iterator[str]:
    """The services use `url` inside the block, then the database they used before."""
    previous = os.environ["DATABASE_URL"]
    _use_database(url)
    try:
        yield url
    finally:
        db_session.get_engine().dispose()
        _use_database(previous)


@pytest.fixture
def own_sqlite(migrated_template: Path, tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite database of this test alone (the module's `database` is shared by its tests)."""
    with _database_in_use(copy_sqlite(migrated_template, tmp_path / "own.db")) as url:
        yield url


def _postgres_url(name: str) -> str:
    return POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def _throwaway_postgres(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database on the local server, empty or a copy of `template`, dropped afterwards by the
    process that made it. A process forked from it (the mutation check's, tests/mutation/gate.py) tears down the
    session's fixtures after its last test and must not drop the template its parent and siblings still copy."""
    maker = os.getpid()
    try:
        server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            name = f"bianmin_test_{uuid.uuid4().hex[:8]}"
            copied = f' TEMPLATE "{template}"' if template else ""
            connection.execute(text(f'CREATE DATABASE "{name}"{copied}'))
    except Exception as err:  # noqa: BLE001 - no server here: say so instead of failing
        pytest.skip(f"PostgreSQL at {POSTGRES_SERVER} is not reachable: {type(err).__name__}")
    try:
        yield name
    finally:
        if os.getpid() == maker:
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            server.dispose()
        else:
            server.dispose(close=False)  # the pooled connection is the maker's: closing it here would break it there


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """The URL of a throw-away, empty PostgreSQL database on the local server."""
    with _throwaway_postgres() as name:
        yield _postgres_url(name)


@pytest.fixture(scope="session")
def migrated_postgres_template() -> Iterator[str]:
    """One PostgreSQL database migrated once per test process; `postgres` copies it (CREATE DATABASE … TEMPLATE:
    0.1-0.6 s here, against 1.1 s for the migrations alone). Nothing connects to it after its migration, as a copy
    requires."""
    with _throwaway_postgres() as name:
        upgrade(_postgres_url(name))
        yield name


@pytest.fixture
def postgres(migrated_postgres_template: str) -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated, used by the services for one test."""
    with (_throwaway_postgres(template=migrated_postgres_template) as name,
          _database_in_use(_postgres_url(name)) as url):
        yield url
