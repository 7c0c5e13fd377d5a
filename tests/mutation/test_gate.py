"""What the mutation check of `make test` counts as caught, and when it fails."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import pytest

from tests.mutation import gate
from tests.mutation.run import ROOT, Module


def _child(body) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    return pid


def _outcome(body, *, started_s_ago: float = 0.0, cpu_limit: float = 30.0) -> str:
    """How the check classes a process doing `body`, started that long ago, with that CPU allowance."""
    checker = gate._Gate([], workers=1)
    running = {_child(body): ("m", time.monotonic() - started_s_ago, cpu_limit)}
    while running:
        checker._reap(running)
    return checker.outcomes["m"]


def _loop_past_one_cpu_second():
    resource.setrlimit(resource.RLIMIT_CPU, (1, 2))
    while True:
        pass


def test_a_failing_test_kills_the_mutant_and_passing_tests_let_it_survive():
    assert _outcome(lambda: os._exit(1)) == gate.KILLED
    assert _outcome(lambda: os._exit(0)) == gate.SURVIVED


def test_a_mutant_that_loops_is_stopped_by_its_cpu_time_and_counts_as_caught():
    outcome = _outcome(_loop_past_one_cpu_second)
    assert outcome == gate.CPU_TIMEOUT and outcome in gate.CAUGHT


def test_a_mutant_still_running_at_the_wall_clock_limit_is_stopped_and_counts_as_surviving():
    # Waiting uses no CPU time: this is what a machine too busy to finish the tests looks like.
    outcome = _outcome(lambda: time.sleep(60), started_s_ago=gate.WALL_FACTOR * 2.0, cpu_limit=2.0)
    assert outcome == gate.WALL_TIMEOUT and outcome not in gate.CAUGHT


def test_the_score_leaves_out_equivalent_mutants_and_fails_under_the_floor():
    module = Module("bot/x.py", 0.90, quick=True)
    names = [f"bot.x.x_f__mutmut_{i}" for i in range(1, 12)]
    outcomes = dict.fromkeys(names, gate.KILLED) | {names[0]: gate.SURVIVED, names[1]: gate.CPU_TIMEOUT,
                                                    names[2]: gate.WALL_TIMEOUT}
    result = gate.score(module, names, outcomes, skip={names[0]})
    assert (result.killed, result.total, result.cpu_timeouts) == (9, 10, 1)
    assert result.survivors == [(names[2], gate.WALL_TIMEOUT)] and result.stopped == [names[1]]
    assert result.line() == "bot/x.py 9/10 = 90.0% (floor 90%), 1 of them stopped at the CPU limit"
    outcomes[names[3]] = gate.SURVIVED
    assert gate.score(module, names, outcomes, skip={names[0]}).line().endswith("UNDER THE FLOOR")


@pytest.mark.parametrize("under_mutation", [True, False])
def test_hypothesis_does_not_shrink_a_failing_example_under_mutation_only(under_mutation):
    environment = {k: v for k, v in os.environ.items() if k != "MUTANT_UNDER_TEST"}
    if under_mutation:
        environment["MUTANT_UNDER_TEST"] = "none"
    probe = "import tests.conftest; from hypothesis import Phase, settings; print(Phase.shrink in settings().phases)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == str(not under_mutation)
