"""`make test`'s mutation check: the mutants of masking, redaction and the vault, each run against its fast tests.

`make mutation` (tests/mutation/run.py) runs mutmut on every guarded module, and mutmut starts a new pytest
session per mutant: it collects the test files again, sets up the session's fixtures (a migrated database)
and runs every test of the configured files that ever called the mutated function, the PostgreSQL ones
included, so a mutant costs seconds. This check plants the same mutants (mutmut's, with the same names, so
mutation-equivalents.toml applies) but keeps one pytest session: the tests are collected and run once
unchanged, which also records which tests run which function; then each mutant runs in a process forked
from that session, with its fixtures already set up, only the tests that ran its function, in the
collected order, stopping at the first failure.

What counts as killed: a test failed or errored, or the mutant's process crashed. A mutant is stopped when
one of its tests has used ten times the CPU time it needed unchanged (plus a second): CPU time, unlike wall
time, does not grow with the machine's load, so only a mutant that really loops or slows down is stopped,
and that counts as killed (reported apart, and listed in the report). A mutant still running after a long
wall-clock limit (a sleep or a deadlock, or a machine too busy) is stopped too but counts as surviving,
since nothing shows a test would have failed.

    .venv/bin/python -m tests.mutation.gate                      # every mutant of the `quick` modules
    .venv/bin/python -m tests.mutation.gate --mutant NAME        # one mutant (repeatable)
"""

from __future__ import annotations

import argparse
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import math
import os
import resource
import select
import signal
import sys
import tempfile
import time
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.mutation import mutants
from tests.mutation.run import MODULES, ROOT, Module, equivalents

# The unit tests that run masking, redaction and the vault (PostgreSQL's included when a server is there): a few
# seconds unchanged.
TESTS = [
    "tests/bot/test_privacy.py",
    "tests/bot/test_masking_properties.py",
    "tests/bot/test_redaction_databases.py",
    "tests/bot/test_applications_redaction.py",
    "tests/bot/test_vault.py",
    "tests/bot/test_vault_known_values.py",
]
REPORT = ROOT / "var" / "mutation" / "gate-survivors.md"
WORKERS = int(os.environ.get("MUTATION_WORKERS", "2"))
# A test may use this many times its CPU time unchanged, plus CPU_GRACE_S, before its mutant is stopped.
CPU_FACTOR, CPU_GRACE_S = 10, 1.0
# A mutant still running after this many times its tests' CPU limits in wall time is stopped and counts as
# surviving: a machine several times over-loaded still leaves it the time.
WALL_FACTOR = 6

KILLED, CPU_TIMEOUT, SURVIVED, WALL_TIMEOUT, NO_TESTS = "killed", "cpu timeout", "survived", "wall timeout", "no tests"
# Outcomes that mean a test (or the time limit of `make test`) would have failed.
CAUGHT = {KILLED, CPU_TIMEOUT}
_FAILED_EXIT, _BROKEN_EXIT = 1, 70


class MutatedSource(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the guarded modules from their mutated source, with their real `__file__`; everything else as usual."""

    def __init__(self, root: Path, modules: Sequence[mutants.MutatedModule]):
        self._root = root
        self._modules = {m.dotted: m for m in modules}

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None,
                  ) -> importlib.machinery.ModuleSpec | None:
        """A spec for a mutated module; None lets the usual finders import the others."""
        module = self._modules.get(fullname)
        if module is None:
            return None
        return importlib.util.spec_from_file_location(fullname, self._root / module.path, loader=self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        """The default module object."""
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        """Runs the mutated source in the module."""
        mutated = self._modules[module.__name__]
        exec(compile(mutated.code, f"{self._root / mutated.path} (mutants)", "exec"), module.__dict__)


@dataclass
class _Tested:
    """A collected test: how much CPU time it needed unchanged, and which mutated functions it ran."""

    item: pytest.Item
    cpu_s: float = 0.0
    functions: set[str] = field(default_factory=set)


def _cpu_limit(tests: list[_Tested]) -> float:
    """The CPU time a mutant's tests may use in all."""
    return sum(CPU_FACTOR * t.cpu_s + CPU_GRACE_S for t in tests)


class _Gate:
    """A pytest plugin that replaces the run loop: one run unchanged, then one forked run per mutant."""

    def __init__(self, names: Sequence[str], workers: int):
        self.names = list(names)
        self.workers = workers
        self.outcomes: dict[str, str] = {}
        self.seconds: dict[str, float] = {}  # wall time of each mutant's process
        self.tests: dict[str, int] = {}  # how many tests each mutant's process had to run
        self.clean_failures: list[str] = []
        self.clean_s = 0.0
        self._failed = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Notes a failure, in the run unchanged and in a mutant's process alike."""
        if report.failed:
            self._failed = True
            self.clean_failures.append(report.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """Runs the tests unchanged (recording what each runs), then every mutant."""
        started = time.monotonic()
        tested = self._run_unchanged(session.items)
        self.clean_s = time.monotonic() - started
        if self.clean_failures or session.shouldfail or session.shouldstop:
            return True
        if self._caught(tested, mutants.FAIL) not in CAUGHT:
            # The trampolines would raise in every test: if none fails, the tests do not run the mutated source.
            self.clean_failures.append("no test failed with every mutated function raising")
            return True
        queue = [(name, [t for t in tested if mutants.function_of(name) in t.functions]) for name in self.names]
        # The forked processes share this one's memory until they write to it; a garbage collection there would
        # visit (and so copy) every object of pytest, SQLAlchemy and hypothesis, at seconds of CPU per mutant.
        gc.freeze()
        self._run_mutants(queue)
        return True

    def _run_unchanged(self, items: list[pytest.Item]) -> list[_Tested]:
        mutants.activate(mutants.RECORD)
        mutants.functions_run()
        tested = []
        for i, item in enumerate(items):
            # After the last test, only what it needs alone is torn down: the session's fixtures (the migrated
            # database template) stay set up for the mutants' processes.
            nextitem = items[i + 1] if i + 1 < len(items) else items[0]
            started = time.process_time()
            item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            tested.append(_Tested(item, time.process_time() - started, mutants.functions_run()))
        mutants.activate(mutants.NONE)
        return tested

    def _run_mutants(self, queue: list[tuple[str, list[_Tested]]]) -> None:
        running: dict[int, tuple[str, float, float]] = {}  # pid → mutant, start, CPU limit
        pending = list(reversed(queue))
        while pending or running:
            while pending and len(running) < self.workers:
                name, tests = pending.pop()
                if not tests:
                    self.outcomes[name] = NO_TESTS
                    continue
                self.tests[name] = len(tests)
                running[self._fork(name, tests)] = (name, time.monotonic(), _cpu_limit(tests))
            done = len(self.outcomes)
            self._reap(running)
            if len(self.outcomes) // 100 > done // 100:
                print(f"  {len(self.outcomes)}/{len(queue)} mutants", file=sys.stderr, flush=True)

    def _caught(self, tested: list[_Tested], name: str) -> str:
        """Runs one mutant's tests in a child and waits for it (used to check the set-up)."""
        running = {self._fork(name, tested): (name, time.monotonic(), _cpu_limit(tested))}
        while running:
            self._reap(running)
        return self.outcomes.pop(name)

    def _fork(self, name: str, tests: list[_Tested]) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        code = _BROKEN_EXIT
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            tests[0].item.config.pluginmanager.set_blocked("terminalreporter")  # its own copy of the terminal
            # Each test may use CPU_FACTOR times its CPU time unchanged: a loop is stopped in the test that loops.
            allowed = [CPU_FACTOR * t.cpu_s + CPU_GRACE_S for t in tests]
            hard = math.ceil(time.process_time() + sum(allowed)) + 1
            mutants.activate(name)
            self._failed = False
            code = 0
            for i, test in enumerate(tests):
                soft = min(math.ceil(time.process_time() + allowed[i]), hard - 1)
                resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
                nextitem = tests[i + 1].item if i + 1 < len(tests) else None
                test.item.ihook.pytest_runtest_protocol(item=test.item, nextitem=nextitem)
                if self._failed:
                    code = _FAILED_EXIT
                    break
        except BaseException:  # noqa: BLE001 - a mutant that breaks pytest itself makes the run fail: caught
            code = _FAILED_EXIT
        finally:
            os._exit(code)

    def _reap(self, running: dict[int, tuple[str, float, float]]) -> None:
        """Waits a little for a child to end; records its outcome, or stops it at its wall-clock limit."""
        pid, status = os.waitpid(-1, os.WNOHANG) if running else (0, 0)
        if pid == 0:
            now = time.monotonic()
            for late, (name, start, cpu_limit) in list(running.items()):
                if now > start + WALL_FACTOR * cpu_limit:
                    os.kill(late, signal.SIGKILL)
                    os.waitpid(late, 0)
                    del running[late]
                    self.outcomes[name] = WALL_TIMEOUT
            select.select([], [], [], 0.005)
            return
        name, start, _ = running.pop(pid)
        self.seconds[name] = time.monotonic() - start
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
            self.outcomes[name] = CPU_TIMEOUT  # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            self.outcomes[name] = SURVIVED
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == _BROKEN_EXIT:
            raise RuntimeError(f"the mutation check itself failed in the process of {name}")
        else:
            self.outcomes[name] = KILLED


@dataclass(frozen=True)
class Score:
    """One module's result."""

    module: Module
    killed: int
    total: int
    cpu_timeouts: int
    survivors: list[tuple[str, str]]  # mutant, outcome
    stopped: list[str]  # caught at the CPU limit

    @property
    def score(self) -> float:
        """Killed share of the non-equivalent mutants."""
        return self.killed / self.total if self.total else 1.0

    def line(self) -> str:
        """`path killed/total = score (floor)`, and how many were stopped for CPU time."""
        stopped = f", {self.cpu_timeouts} of them stopped at the CPU limit" if self.cpu_timeouts else ""
        under = "  UNDER THE FLOOR" if self.score < self.module.floor else ""
        return (f"{self.module.path} {self.killed}/{self.total} = {self.score:.1%} (floor {self.module.floor:.0%})"
                f"{stopped}{under}")


def score(module: Module, names: Sequence[str], outcomes: dict[str, str], skip: set[str]) -> Score:
    """The module's score over its mutants, leaving out those listed as equivalent."""
    counted = [n for n in names if n not in skip and n in outcomes]
    caught = [n for n in counted if outcomes[n] in CAUGHT]
    return Score(module, len(caught), len(counted), sum(outcomes[n] == CPU_TIMEOUT for n in counted),
                 [(n, outcomes[n]) for n in counted if outcomes[n] not in CAUGHT],
                 [n for n in counted if outcomes[n] == CPU_TIMEOUT])


def main(argv: list[str] | None = None) -> int:
    """Runs the check; non-zero when a module is under its floor or the tests fail unchanged."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", metavar="PATH", choices=[m.path for m in MODULES],
                        help="only this module (repeatable); by default those of `make test`")
    parser.add_argument("--mutant", action="append", metavar="NAME",
                        help="only this mutant (repeatable), e.g. to check the tests that kill a survivor")
    args = parser.parse_args(argv)
    started = time.monotonic()
    modules = [m for m in MODULES if (m.path in args.module if args.module else m.quick)]
    mutated = [mutants.mutate(ROOT, m.path) for m in modules]
    names = [name for m in mutated for name in m.mutants if not args.mutant or name in args.mutant]
    sys.meta_path.insert(0, MutatedSource(ROOT, mutated))
    mutants.activate(mutants.NONE)
    gate = _Gate(names, WORKERS)
    with tempfile.TemporaryDirectory(prefix="mutation-gate-") as basetemp:
        code = pytest.main([*TESTS, "-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}",
                            f"--rootdir={ROOT}"], plugins=[gate])
    if gate.clean_failures or code not in (0, pytest.ExitCode.TESTS_FAILED):
        print(f"the tests fail without any mutant: {gate.clean_failures or code}", file=sys.stderr)
        return 1
    skip = set(equivalents())
    scores = [score(module, m.mutants, gate.outcomes, skip) for module, m in zip(modules, mutated, strict=True)]
    for result in scores:
        print(result.line())
    for outcome in sorted(set(gate.outcomes.values())):
        ran = [n for n, o in gate.outcomes.items() if o == outcome and n in gate.seconds]
        if ran:
            print(f"  {outcome}: {len(ran)} mutants, {sum(gate.seconds[n] for n in ran) / len(ran):.2f} s and "
                  f"{sum(gate.tests[n] for n in ran) / len(ran):.0f} tests each on average")
    _write_report(scores, mutated)
    print(f"{len(names)} mutants, tests unchanged {gate.clean_s:.0f} s; surviving mutants: "
          f"{REPORT.relative_to(ROOT)}; {time.monotonic() - started:.0f} s")
    return 1 if any(s.score < s.module.floor for s in scores) else 0


def _write_report(scores: list[Score], mutated: list[mutants.MutatedModule]) -> None:
    report = [f"# Surviving mutants of `make test`'s mutation check ({time.strftime('%Y-%m-%d %H:%M')})", ""]
    for result, module in zip(scores, mutated, strict=True):
        report += [f"## {result.module.path}: {len(result.survivors)} surviving", ""]
        report += [f"### {name} ({outcome})\n\n```diff\n{mutants.diff(module, name)}\n```\n"
                   for name, outcome in result.survivors]
        report += [f"Stopped at the CPU limit (counted as killed): {', '.join(result.stopped) or 'none'}", ""]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(report) + "\n", "utf-8")


if __name__ == "__main__":
    sys.exit(main())
