"""Training time of the Rasa model and cold start of the whole assistant (start → /healthz 200).

    .venv/bin/python benchmarks/startup.py [--skip-training] [--port 29000]

Training runs into a temporary folder (the cached model is not touched); the cold
start launches `python -m bot.runner` on spare ports with a fresh SQLite database
and the model already trained, as a restart in production would.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bot.engine.build import BUILD_DIR, engine_environment, rasa_executable, write_training_inputs
from bot.settings import get_settings


def training_seconds() -> float:
    """Seconds for one `rasa train` from scratch on this machine."""
    write_training_inputs(get_settings().knowledge_base_dir)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [str(rasa_executable()), "train", "--config", "config.yml", "--domain", "dialogues/domain", "--data",
             "dialogues/data", str(BUILD_DIR / "nlu"), "--out", out, "--force"],
            cwd=REPO_ROOT, env=engine_environment(), check=True, stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def cold_start_seconds(port_base: int = 29000) -> float:
    """Seconds from starting the supervisor (model already trained) until /healthz answers 200."""
    with tempfile.TemporaryDirectory() as workdir:
        env = {**os.environ, "GATEWAY_PORT": str(port_base), "ACTION_PORT": str(port_base + 5),
               "RASA_PORT": str(port_base + 10), "DATABASE_URL": f"sqlite:///{workdir}/bench.db",
               "RUN_DIR": f"{workdir}/run"}
        subprocess.run([sys.executable, "-m", "bot.cli", "prepare"], cwd=REPO_ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "bot.runner", "--skip-prepare"], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port_base}/healthz", timeout=1).status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError("the assistant did not become healthy")
                time.sleep(0.25)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--port", type=int, default=29000, help="first of the spare ports the assistant starts on")
    args = parser.parse_args()
    if not args.skip_training:
        print(f"Rasa training from scratch: {training_seconds():.1f} s")
    seconds = cold_start_seconds(args.port)
    print(f"Cold start to healthy (trained model, RASA_WORKERS={os.environ.get('RASA_WORKERS', '1')}): "
          f"{seconds:.1f} s (target <= 60 s; load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
