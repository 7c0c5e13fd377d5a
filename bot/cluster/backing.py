"""PostgreSQL and Redis for the cluster: the ones DATABASE_URL and REDIS_URL name when they answer, else our own.

A server that does not answer on a loopback address is started under var/ (its
data kept there across runs) and supervised like the other processes; one on
another machine must be running already, since it cannot be started from here.
"""

from __future__ import annotations

import getpass
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.errors import ConfigurationError
from bot.runner import Child
from bot.settings import VAR_DIR

log = logging.getLogger("bianmin.cluster")

# Where the cluster keeps the database when DATABASE_URL names none (the default is an SQLite file).
DEFAULT_DATABASE_URL = "postgresql://127.0.0.1:5432/bianmin"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
START_TIMEOUT_SECONDS = 60
# PostgreSQL refuses to run as root; as root, our own server runs as this account (the Debian package's).
POSTGRES_ACCOUNT = "postgres"


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def cluster_database_url(database_url: str) -> str:
    """DATABASE_URL when it names PostgreSQL (replicas cannot share an SQLite file), else the default one."""
    return database_url if database_url.startswith("postgresql") else DEFAULT_DATABASE_URL


def _address(url: str, default_port: int) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def _startable(kind: str, url: str, host: str) -> None:
    if host not in LOOPBACK:
        raise ConfigurationError(f"{kind} at {url} does not answer, and one on another machine cannot be started "
                                 "from here: start it, or point the URL at this machine")


def _binary(name: str) -> str:
    """A PostgreSQL or Redis program from PATH or Debian's versioned PostgreSQL folder."""
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None)
    if not found:
        raise ConfigurationError(f"{name} is not installed: run packaging/setup-system.sh (or apt-get install "
                                 f"{'redis-server' if name.startswith('redis') else 'postgresql'})")
    return found


def redis_child(redis_url: str, data_root: Path = VAR_DIR) -> Child | None:
    """A Redis server to start for REDIS_URL, or None when one answers there already."""
    host, port = _address(redis_url, 6379)
    if answers(host, port):
        return None
    _startable("Redis", redis_url, host)
    data = data_root / f"redis-{port}"
    data.mkdir(parents=True, exist_ok=True)
    # Nothing kept in Redis outlives a restart usefully (locks of turns in hand, quota counts, the poller's
    # lease), and a lock kept on disk would hold its conversation back for the lock's lifetime: no persistence.
    command = [_binary("redis-server"), "--bind", host, "--port", str(port), "--dir", str(data),
               "--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    return Child("redis", command, {**os.environ}, role="redis", address=f"{host}:{port}")


def postgres_child(database_url: str, data_root: Path = VAR_DIR) -> Child | None:
    """A PostgreSQL server to start for DATABASE_URL (initialised on first use), or None when one answers."""
    url = make_url(database_url)
    host, port = url.host or "127.0.0.1", url.port or 5432
    if answers(host, port):
        return None
    _startable("PostgreSQL", database_url, host)
    account = POSTGRES_ACCOUNT if os.geteuid() == 0 else None
    data = data_root / f"postgres-{port}"
    if not (data / "PG_VERSION").exists():
        _initialise(data, url.username or getpass.getuser(), account)
    sockets = data / "sockets"
    command = [_binary("postgres"), "-D", str(data), "-h", host, "-p", str(port), "-k", str(sockets)]
    return Child("postgres", command, {**os.environ}, role="postgres", address=f"{host}:{port}", user=account,
                 stop_signal=signal.SIGINT)


def _initialise(data: Path, superuser: str, account: str | None) -> None:
    """initdb with the URL's user as superuser and trust on loopback (the server listens on loopback only)."""
    data.mkdir(parents=True, exist_ok=True)
    if account:
        entry = pwd.getpwnam(account)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    log.info("initialising a PostgreSQL cluster in %s", data)
    try:
        subprocess.run([_binary("initdb"), "-D", str(data), "-U", superuser, "--auth=trust", "-E", "UTF8",
                        "--locale=C.UTF-8"], check=True, user=account, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as err:
        raise ConfigurationError(f"initdb could not set up {data} (see above); as root, the {account} account "
                                 "must be able to reach that folder") from err
    (data / "sockets").mkdir(exist_ok=True)
    if account:
        entry = pwd.getpwnam(account)
        os.chown(data / "sockets", entry.pw_uid, entry.pw_gid)


def wait_for(child: Child, timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Waits until a started server accepts connections; raises when it exits or the time runs out."""
    host, _, port = child.address.rpartition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process and child.process.poll() is not None:
            raise ConfigurationError(f"{child.name} exited with code {child.process.returncode} while starting")
        if answers(host, int(port)):
            return
        time.sleep(0.2)
    raise ConfigurationError(f"{child.name} did not answer on {child.address} within {timeout:.0f} s")


def ensure_database(database_url: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Creates the URL's database when the server has none of that name (a new server, or a shared one)."""
    url = make_url(database_url)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", url.database or ""):
        raise ConfigurationError(f"the database name {url.database!r} must be letters, digits and _")
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as connection:
                    exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                                {"name": url.database}).first()
                    if not exists:
                        log.info("creating the database %s", url.database)
                        connection.execute(text(f'CREATE DATABASE "{url.database}"'))
                return
            except Exception:  # the server may still be starting up (accepting, not yet serving)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        engine.dispose()
