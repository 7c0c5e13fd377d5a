"""`make cluster`: HAProxy in front of gateway, Rasa and action-server replicas on PostgreSQL and Redis.

Ports, from the usual settings: the balancer on CLUSTER_PORT (8080) and the
cluster's health page inside it on CLUSTER_PORT + 1; gateways on GATEWAY_PORT + i;
Rasa servers on RASA_PORT + i; the action servers' balanced front on ACTION_PORT
and the replicas on ACTION_PORT + 1 + i. The same supervisor as `make run`
restarts what dies and stops everything on Ctrl-C; var/run/cluster.json lists
the serving processes, rewritten at every restart.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from pathlib import Path

import redis
from sqlalchemy import text

from bot.cluster import backing
from bot.cluster.balancer import Fronts, haproxy_config
from bot.cluster.health import SERVING_ROLES, report, serve
from bot.engine.build import RASA_ENV, engine_config_dir, engine_environment
from bot.errors import ConfigurationError
from bot.keys import ensure_key_file
from bot.logs import configure_logging
from bot.prepare import prepare
from bot.runner import Child, Supervisor, wait_for_tracker_tables, write_json
from bot.services.key_rotation import rotate_keys
from bot.settings import REPO_ROOT, Settings, get_settings

log = logging.getLogger("bianmin.cluster")


def _address(host: str, port: int) -> str:
    return f"{host}:{port}"


def fronts(settings: Settings) -> Fronts:
    """The balancer's fronts and the replicas' addresses for these settings."""
    count = settings.cluster_replicas
    return Fronts(
        public=_address(settings.gateway_host, settings.cluster_port),
        health=_address(settings.gateway_host, settings.cluster_port + 1),
        gateways=[_address(settings.gateway_host, settings.gateway_port + i) for i in range(count)],
        actions_front=_address(settings.action_host, settings.action_port),
        actions=[_address(settings.action_host, settings.action_port + 1 + i) for i in range(count)],
    )


def cluster_environment(settings: Settings) -> dict[str, str]:
    """What every replica shares: PostgreSQL, the Redis lock store and quotas, all Rasa servers, the actions front."""
    return {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "LOCK_STORE": "redis",
        "RATE_LIMIT_STORAGE": "redis",
        "RASA_WORKERS": str(settings.cluster_replicas),
        "GATEWAY_REPLICAS": str(settings.cluster_replicas),
        "ACTION_PORT": str(settings.action_port),
    }


def serving_children(settings: Settings, model: Path) -> list[Child]:
    """The balancer and the replicas of each kind."""
    shared = cluster_environment(settings)
    ours = {**os.environ, **shared, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT)}
    # A conversation's lock left by a Rasa server killed in the middle of a turn (or kept by a Redis that saves
    # to disk) holds the conversation back until it expires: 20 s instead of Rasa's 60; a turn takes seconds.
    engine_env = {**engine_environment(), **shared, "PYTHONPATH": str(REPO_ROOT), "TICKET_LOCK_LIFETIME": "20"}
    config_dir = engine_config_dir(settings)
    layout = fronts(settings)
    haproxy_cfg = settings.run_dir / "haproxy.cfg"
    haproxy_cfg.parent.mkdir(parents=True, exist_ok=True)
    haproxy_cfg.write_text(haproxy_config(layout), encoding="utf-8")
    result = []
    for i in range(settings.cluster_replicas):
        port = settings.rasa_port + i
        result.append(Child(f"rasa{i}", [
            str(RASA_ENV / "bin" / "rasa"), "run", "--model", str(model), "--enable-api",
            "--auth-token", settings.rasa_token, "--interface", settings.rasa_host, "--port", str(port),
            "--endpoints", str(config_dir / "endpoints.yml"), "--credentials", str(config_dir / "credentials.yml"),
        ], engine_env, role="rasa", address=_address(settings.rasa_host, port)))
    for i, address in enumerate(layout.actions):
        env = {**ours, "ACTION_PORT": address.rpartition(":")[2]}
        result.append(Child(f"actions{i}", [sys.executable, "-m", "bot.actions.server"], env,
                            role="actions", address=address))
    for i, address in enumerate(layout.gateways):
        result.append(Child(f"gateway{i}", [
            sys.executable, "-m", "uvicorn", "bot.gateway.app:main_app", "--factory",
            "--host", settings.gateway_host, "--port", address.rpartition(":")[2], "--no-access-log",
            "--timeout-graceful-shutdown", "5",
        ], ours, role="gateway", address=address))
    result.append(Child("balancer", [shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(haproxy_cfg)], ours, role="balancer",
                        address=layout.public))
    return result


class ClusterSupervisor(Supervisor):
    """The supervisor of `make run`, over the cluster's processes, with its table and its health page."""

    def ports(self) -> list[tuple[str, int]]:
        """Every address a serving child or the health page will listen on."""
        addresses = [c.address for c in self.processes if c.role in SERVING_ROLES]
        addresses += [fronts(self.settings).health, fronts(self.settings).actions_front]
        return [(host, int(port)) for host, _, port in (a.rpartition(":") for a in addresses)]

    def ready_url(self) -> str:
        """The cluster's health through the balancer."""
        return f"http://{fronts(self.settings).public}/healthz"

    def start_all(self) -> None:
        """Starts the health page, then the Rasa servers (the first creates the tables), then the rest."""
        self._health = serve(fronts(self.settings).health, self.health)
        rasa = [c for c in self.processes if c.role == "rasa"]
        for child in self.processes:
            if child.process is None:  # PostgreSQL and Redis, when started here, run already
                child.start()
            if child is rasa[0]:
                wait_for_tracker_tables(child)

    def stop_all(self) -> None:
        """Stops the serving processes all at once (one by one takes minutes on a busy machine), then the stores."""
        serving = [c for c in self.processes if c.role in SERVING_ROLES]
        stoppers = [threading.Thread(target=child.stop) for child in serving]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for child in reversed([c for c in self.processes if c.role not in SERVING_ROLES]):
            child.stop()

    def health(self) -> tuple[int, dict]:
        """The cluster's /healthz."""
        return report(self.processes, self.settings.rasa_token, backing_health(self.settings))

    def _write_process_table(self) -> None:
        """processes.json as for `make run`, and var/run/cluster.json with each serving process's role and address."""
        super()._write_process_table()
        table = [{"role": c.role, "pid": c.process.pid, "address": c.address}
                 for c in self.processes if c.process and c.role in SERVING_ROLES]
        write_json(self.settings.run_dir / "cluster.json", table)

    def banner(self, seconds: float) -> str:
        """What the operator reads once the cluster answers."""
        layout = fronts(self.settings)
        return (
            f"\n便民助手 cluster is ready after {seconds:.0f} s:\n"
            f"  balancer       http://{layout.public}/ (health: /healthz)\n"
            f"  gateways       {', '.join(layout.gateways)}\n"
            f"  action servers {', '.join(layout.actions)} (balanced at {layout.actions_front})\n"
            f"  processes      {self.settings.run_dir / 'cluster.json'}\n"
            "Press Ctrl-C to stop.\n"
        )


def backing_health(settings: Settings) -> dict[str, str]:
    """Whether PostgreSQL and Redis answer."""
    from bot.db.session import get_engine

    result = {}
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        result["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means it is down
        result["database"] = "down"
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        result["redis"] = "ok" if client.ping() else "down"
        client.close()
    except redis.RedisError:
        result["redis"] = "down"
    return result


def cluster_settings() -> Settings:
    """The settings with the cluster's shared stores in force, for this process and every child."""
    base = get_settings()
    os.environ.update({
        "DATABASE_URL": backing.cluster_database_url(base.database_url),
        "LOCK_STORE": "redis", "RATE_LIMIT_STORAGE": "redis",
        "RASA_WORKERS": str(base.cluster_replicas), "ACTION_PORT": str(base.action_port),
    })
    get_settings.cache_clear()
    return get_settings()


def main() -> int:
    """Entry point of `make cluster`."""
    settings = cluster_settings()
    configure_logging(settings.log_level)
    # Beside the run directory: var/ for `make cluster`, a test's own folder for a test's cluster.
    data_root = settings.run_dir.parent
    stores = [c for c in (backing.postgres_child(settings.database_url, data_root),
                          backing.redis_child(settings.redis_url, data_root)) if c]
    try:
        for child in stores:
            log.info("starting %s on %s (nothing answered there)", child.name, child.address)
            child.start()
            backing.wait_for(child)
        backing.ensure_database(settings.database_url)
        # As `make run` does: every replica reads the same key file.
        created = ensure_key_file(settings)
        if created:
            log.info("no field encryption key was configured: created %s (mode 0600); keep it with the database",
                     created)
        model = prepare(settings)
        if created:
            # A database from before keys were required was encrypted under the published placeholder.
            rotate_keys(settings, new_key=False)
        return ClusterSupervisor(settings, [*stores, *serving_children(settings, model)]).run()
    except ConfigurationError as err:
        log.error("cannot start the cluster: %s", err)
        return 1
    finally:
        for child in reversed(stores):
            child.stop()


if __name__ == "__main__":
    sys.exit(main())
