"""Load on `make cluster` with 1 and with 2 replicas of each server: throughput, p50/p95, CPU per turn by role.

Starts the cluster on its own ports (PostgreSQL and Redis it starts itself under a temporary folder),
runs benchmarks/locustfile.py headless against the balancer for a bounded time, and reads the CPU
time of every process group from /proc before and after. Only 127.0.0.1 is ever contacted.

    .venv/bin/python benchmarks/cluster_load.py [--replicas 1,2] [--users 16,48] [--seconds 60] [--runs 1]
                                                [--base-port 56000]

Quotas are raised for the run: every simulated resident comes from 127.0.0.1, which the default
per-address quotas would stop after 30 new conversations a minute. Each cluster is loaded by each number
of residents in turn, `--runs` times in a row (the machine's load changes from minute to minute: give ranges, not one figure). After each
run the cluster's PostgreSQL is asked whether any message id was stored twice (a retried message run again).
The ports used are the base port and the 41 after it; a base whose balancer, PostgreSQL or Redis port is
taken is refused, so that the run never loads or shares another cluster.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from bot.db.session import get_engine
from bot.process.ports import is_free

TICKS = os.sysconf("SC_CLK_TCK")
# The person's messages Rasa stored (each once, however often it was sent) and how many distinct ids they have.
STORED_TURNS = text("SELECT count(*), count(DISTINCT data::json->>'message_id') FROM events WHERE type_name = 'user'")


def group_cpu_seconds(group: int) -> float:
    """User and system CPU time of every live process in a process group."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def cpu_by_role(table: list[dict]) -> dict[str, float]:
    """CPU seconds so far of each role's processes (process groups), summed over replicas."""
    result: dict[str, float] = {}
    for entry in table:
        result[entry["role"]] = result.get(entry["role"], 0.0) + group_cpu_seconds(entry["pid"])
    return result


def start_cluster(replicas: int, base: int, workdir: Path, database_url: str) -> subprocess.Popen:
    """`make cluster` on ports from `base`, with quotas raised for a crowd from one address."""
    env = {
        **os.environ, "CLUSTER_REPLICAS": str(replicas), "CLUSTER_PORT": str(base),
        "GATEWAY_PORT": str(base + 10), "ACTION_PORT": str(base + 20), "RASA_PORT": str(base + 30),
        "DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{base + 41}/0",
        "RUN_DIR": str(workdir / "run"), "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_CHAT_PER_CLIENT": "100000/minute", "RATE_LIMIT_NEW_CONVERSATIONS_PER_CLIENT": "100000/minute",
        "RATE_LIMIT_BOOKINGS_PER_PHONE": "1000/day", "RATE_LIMIT_CALLBACKS_PER_PHONE": "1000/day",
    }
    return subprocess.Popen([sys.executable, "-m", "bot.cluster.run"], cwd=REPO_ROOT, env=env,
                            stdout=(workdir / "cluster.log").open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    """Until every replica is healthy; the end of the cluster's log when it does not get there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200 and all(r["health"] == "ok" for r in response.json()["replicas"]):
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the cluster did not become ready (exit status {process.poll()}); its log ends:\n{tail}")


def run_locust(host: str, users: int, seconds: int, prefix: Path) -> dict[str, float]:
    """Runs the residents headless; returns the figures of its CSV (`turns` without the retries)."""
    subprocess.run([str(REPO_ROOT / ".venv/bin/locust"), "-f", str(REPO_ROOT / "benchmarks/locustfile.py"),
                    "--headless", "-u", str(users), "-r", str(max(1, users // 4)), "-t", f"{seconds}s",
                    "--host", host, "--csv", str(prefix), "--only-summary", "--stop-timeout", "10"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
    with open(f"{prefix}_stats.csv", encoding="utf-8") as stats:
        rows = {r["Name"]: r for r in csv.DictReader(stats)}
    total, retries = rows["Aggregated"], rows.get("retry", {})
    with open(f"{prefix}_failures.csv", encoding="utf-8") as failures:
        errors = ", ".join(f"{r['Name']} {r['Error']} ×{r['Occurrences']}" for r in csv.DictReader(failures))
    return {"requests": float(total["Request Count"]), "retries": float(retries.get("Request Count", 0)),
            "turns": float(total["Request Count"]) - float(retries.get("Request Count", 0)),
            "failures": float(total["Failure Count"]), "rate": float(total["Requests/s"]),
            "p50": float(total["50%"]), "p95": float(total["95%"]), "errors": errors or "none"}


def stored_turns(database_url: str) -> tuple[int, int]:
    """The person's messages stored in the conversations so far, and how many distinct message ids they carry."""
    with get_engine(database_url).connect() as connection:
        stored, distinct = connection.execute(STORED_TURNS).one()
    return stored, distinct


def loadavg() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, as /proc/loadavg has them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(replicas: int, crowds: list[int], seconds: int, runs: int, base: int) -> None:
    """One cluster: start, load it `runs` times with each crowd, print each run, stop."""
    taken = [port for port in (base, base + 40, base + 41) if not is_free("127.0.0.1", port)]
    if taken:
        raise SystemExit(f"ports {taken} are in use (another cluster?): choose another --base-port")
    workdir = Path(tempfile.mkdtemp(prefix="bianmin-load-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own account and must reach its data
    database_url = f"postgresql://127.0.0.1:{base + 40}/bianmin"
    process = start_cluster(replicas, base, workdir, database_url)
    try:
        wait_ready(f"http://127.0.0.1:{base}/healthz", process, workdir / "cluster.log")
        table = json.loads((workdir / "run" / "cluster.json").read_text())
        for users, run in ((users, run) for users in crowds for run in range(1, runs + 1)):
            before, load_before, stored_before = cpu_by_role(table), loadavg(), stored_turns(database_url)
            figures = run_locust(f"http://127.0.0.1:{base}", users, seconds, workdir / f"locust-{users}-{run}")
            after, load_after, stored_after = cpu_by_role(table), loadavg(), stored_turns(database_url)
            turns = max(figures["turns"], 1)
            cpu = ", ".join(f"{role} {1000 * (after[role] - before[role]) / turns:.0f}"
                            for role in ("gateway", "rasa", "actions", "balancer"))
            stored, distinct = (a - b for a, b in zip(stored_after, stored_before))
            print(f"{replicas} replica(s) of each, {users} residents, {seconds} s, run {run} (load average "
                  f"{load_before} before, {load_after} after): {figures['rate']:.1f} requests/s, "
                  f"p50 {figures['p50']:.0f} ms, p95 {figures['p95']:.0f} ms, {figures['failures']:.0f} failed of "
                  f"{figures['requests']:.0f} ({figures['retries']:.0f} retries; failures: {figures['errors']}); "
                  f"CPU ms per turn: {cpu}; turns stored {stored} of {figures['turns']:.0f} sent, message ids stored twice "
                  f"{stored - distinct}",
                  flush=True)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    """Measures each replica count in turn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--users", default="16")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--base-port", type=int, default=56000)
    args = parser.parse_args()
    for replicas in (int(r) for r in args.replicas.split(",")):
        measure(replicas, [int(u) for u in args.users.split(",")], min(args.seconds, 300), args.runs,
                args.base_port)


if __name__ == "__main__":
    main()
