"""Load on `make cluster` with 1 and with 2 replicas of each server: throughput, p50/p95, CPU per turn by role.

Starts the cluster on its own ports (PostgreSQL and Redis it starts itself under a temporary folder),
runs benchmarks/locustfile.py headless against the balancer for a bounded time, and reads the CPU
time of every process group from /proc before and after. Only 127.0.0.1 is ever contacted.

    .venv/bin/python benchmarks/cluster_load.py [--replicas 1,2] [--users 16] [--seconds 60] [--base-port 56000]

Quotas are raised for the run: every simulated resident comes from 127.0.0.1, which the default
per-address quotas would stop after 30 new conversations a minute.
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

REPO_ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


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


def start_cluster(replicas: int, base: int, workdir: Path) -> subprocess.Popen:
    """`make cluster` on ports from `base`, with quotas raised for a crowd from one address."""
    env = {
        **os.environ, "CLUSTER_REPLICAS": str(replicas), "CLUSTER_PORT": str(base),
        "GATEWAY_PORT": str(base + 10), "ACTION_PORT": str(base + 20), "RASA_PORT": str(base + 30),
        "DATABASE_URL": f"postgresql://127.0.0.1:{base + 40}/bianmin", "REDIS_URL": f"redis://127.0.0.1:{base + 41}/0",
        "RUN_DIR": str(workdir / "run"), "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_CHAT_PER_CLIENT": "100000/minute", "RATE_LIMIT_NEW_CONVERSATIONS_PER_CLIENT": "100000/minute",
        "RATE_LIMIT_BOOKINGS_PER_PHONE": "1000/day", "RATE_LIMIT_CALLBACKS_PER_PHONE": "1000/day",
    }
    return subprocess.Popen([sys.executable, "-m", "bot.cluster.run"], cwd=REPO_ROOT, env=env,
                            stdout=(workdir / "cluster.log").open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 600) -> None:
    """Until every replica is healthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200 and all(r["health"] == "ok" for r in response.json()["replicas"]):
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise RuntimeError("the cluster did not become ready")


def run_locust(host: str, users: int, seconds: int, prefix: Path) -> dict[str, float]:
    """Runs the residents headless; returns the aggregated figures of its CSV."""
    subprocess.run([str(REPO_ROOT / ".venv/bin/locust"), "-f", str(REPO_ROOT / "benchmarks/locustfile.py"),
                    "--headless", "-u", str(users), "-r", str(max(1, users // 4)), "-t", f"{seconds}s",
                    "--host", host, "--csv", str(prefix), "--only-summary", "--stop-timeout", "10"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
    with open(f"{prefix}_stats.csv", encoding="utf-8") as stats:
        row = next(r for r in csv.DictReader(stats) if r["Name"] == "Aggregated")
    return {"turns": float(row["Request Count"]), "failures": float(row["Failure Count"]),
            "rate": float(row["Requests/s"]), "p50": float(row["50%"]), "p95": float(row["95%"])}


def measure(replicas: int, users: int, seconds: int, base: int) -> None:
    """One run: start, load, print, stop."""
    workdir = Path(tempfile.mkdtemp(prefix="bianmin-load-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own account and must reach its data
    process = start_cluster(replicas, base, workdir)
    try:
        wait_ready(f"http://127.0.0.1:{base}/healthz", process)
        table = json.loads((workdir / "run" / "cluster.json").read_text())
        before, load_before = cpu_by_role(table), os.getloadavg()[0]
        figures = run_locust(f"http://127.0.0.1:{base}", users, seconds, workdir / "locust")
        after = cpu_by_role(table)
        turns = max(figures["turns"], 1)
        cpu = ", ".join(f"{role} {1000 * (after[role] - before[role]) / turns:.0f}"
                        for role in ("gateway", "rasa", "actions", "balancer"))
        print(f"{replicas} replica(s) of each, {users} residents, {seconds} s (load average {load_before:.1f}): "
              f"{figures['rate']:.1f} turns/s, p50 {figures['p50']:.0f} ms, p95 {figures['p95']:.0f} ms, "
              f"{figures['failures']:.0f} failed of {figures['turns']:.0f}; CPU ms per turn: {cpu}", flush=True)
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
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--base-port", type=int, default=56000)
    args = parser.parse_args()
    for replicas in (int(r) for r in args.replicas.split(",")):
        measure(replicas, args.users, min(args.seconds, 300), args.base_port)


if __name__ == "__main__":
    main()
