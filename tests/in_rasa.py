"""Runs a script in the Rasa environment (Python 3.10, `.venv-rasa`): how tests check code that runs inside Rasa."""

from __future__ import annotations

import os
import subprocess

import pytest

from bot.engine.build import RASA_ENV, REPO_ROOT


def run_in_rasa(script: str) -> str:
    """The script's standard output; skips the test when the Rasa environment is not set up, fails when it fails."""
    python = RASA_ENV / "bin" / "python"
    if not python.exists():
        pytest.skip("the Rasa environment is not set up (packaging/setup-environments.sh)")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([str(python), "-c", script], capture_output=True, text=True, env=env, timeout=180,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
