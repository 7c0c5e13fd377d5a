"""The timing the speed benchmarks share (benchmarks/timing.py), and the benchmarks that use it run as scripts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import timing
from bot.settings import REPO_ROOT
from tests.bot.redaction_shapes import WORST_SHAPES


def test_the_median_is_of_the_timed_calls_after_one_untimed_warm_up_call(monkeypatch: pytest.MonkeyPatch):
    # The clock says the three timed calls took 1, 2 and 9 s; a warm-up that read it would run out of ticks.
    ticks = iter([0.0, 1.0, 1.0, 3.0, 3.0, 12.0])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks))
    calls = []
    assert timing.median_seconds(lambda: calls.append(1), repeats=3) == 2.0
    assert len(calls) == 4, "one call to warm up, then the timed ones"


def test_a_target_is_met_only_below_it():
    assert timing.verdict(0.004, 0.005) == "met"
    assert timing.verdict(0.005, 0.005) == "NOT met"
    assert timing.verdict(0.5, 0.005) == "NOT met"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("script, rows", [("redaction.py", len(WORST_SHAPES) + 3), ("text_speed.py", 5)])
def test_each_speed_benchmark_runs_as_a_script_and_ends_every_figure_with_a_verdict(script, rows):
    # As their docstrings say: `.venv/bin/python benchmarks/<name>.py` from the repository root.
    run = subprocess.run([sys.executable, f"benchmarks/{script}"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=110)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == rows, run.stdout
    assert lines[-1].endswith((": met", ": NOT met"))
