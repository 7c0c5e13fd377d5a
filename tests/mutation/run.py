"""`make mutation`: how many deliberately planted bugs the tests catch in the code that guards residents' data.

mutmut (configured in pyproject.toml) copies the tree to ./mutants and plants one bug at a time in the modules
below; each mutant runs only against the selected tests that call the function it changed. This prints one line
per module, `path killed/total = score`, writes every surviving mutant with its diff to var/mutation/survivors.md
and exits non-zero when a module is under its floor. A mutant listed in mutation-equivalents.toml (it cannot
change behaviour) counts neither as killed nor in the total.

    .venv/bin/python -m tests.mutation.run              # every module
    .venv/bin/python -m tests.mutation.run --module bot/validators.py   # one module (may be repeated)

`make test` checks the modules marked `quick` in a few minutes instead (tests/mutation/gate.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "var" / "mutation" / "survivors.md"
EQUIVALENTS = ROOT / "mutation-equivalents.toml"
MUTMUT = [sys.executable, "-m", "mutmut"]
# Two workers: the machines that run this have few cores, and more workers only wait for each other.
WORKERS = os.environ.get("MUTATION_WORKERS", "2")


@dataclass(frozen=True)
class Module:
    path: str
    floor: float  # share of non-equivalent mutants the tests must kill; 0 only reports
    quick: bool  # also checked by `make test` (tests/mutation/gate.py)

    @property
    def dotted(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")


MODULES = [
    Module("bot/privacy.py", 0.90, quick=True),
    Module("bot/services/redaction.py", 0.90, quick=True),
    Module("bot/services/vault.py", 0.90, quick=True),
    Module("bot/services/conversations.py", 0.90, quick=False),  # conversation tokens
    Module("bot/services/identity.py", 0.90, quick=False),  # proofs of identity
    Module("bot/services/guessing.py", 0.90, quick=False),  # limits on guessing a code
    Module("bot/validators.py", 0.85, quick=False),
    Module("bot/understanding/normalise.py", 0.85, quick=False),
    Module("bot/ratelimit.py", 0.0, quick=False),
]
# A mutant is named after its module and function: bot.privacy.x_mask_phone__mutmut_3, bot.x.xǁClassǁmethod__mutmut_1.
_MUTANT_MODULE = re.compile(r"^(?P<module>.+?)\.x[_ǁ]")
_KILLED = {"killed", "timeout", "caught by type check"}


def equivalents() -> dict[str, str]:
    """Mutant name → why it cannot change behaviour."""
    if not EQUIVALENTS.exists():
        return {}
    data = tomllib.loads(EQUIVALENTS.read_text("utf-8"))
    return {entry["mutant"]: entry["reason"] for entry in data.get("equivalent", [])}


def _statuses() -> dict[str, str]:
    """Every mutant mutmut knows of, with its outcome."""
    out = subprocess.run([*MUTMUT, "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True)
    statuses = {}
    for line in out.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            statuses[name] = status
    return statuses


def _diff(name: str) -> str:
    out = subprocess.run([*MUTMUT, "show", name], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    """Runs the mutants, prints the score per module and fails when one is under its floor."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", metavar="PATH", choices=[m.path for m in MODULES],
                        help="only this module (repeatable), e.g. bot/services/guessing.py")
    parser.add_argument("--report-only", action="store_true", help="score the last run without running mutants")
    args = parser.parse_args(argv)
    modules = [m for m in MODULES if not args.module or m.path in args.module]
    started = time.monotonic()
    if not args.report_only:
        returncode = _run(modules)
        if returncode:
            return returncode
    return _report(modules, started)


def _run(modules: list[Module]) -> int:
    # mutmut's progress line goes to the terminal; its errors (a test failing before any mutant) to stderr.
    run = subprocess.run([*MUTMUT, "run", "--max-children", WORKERS, *(f"{m.dotted}.*" for m in modules)], cwd=ROOT)
    if run.returncode != 0:
        print(f"mutmut run failed with exit code {run.returncode}", file=sys.stderr)
    return run.returncode


def _report(modules: list[Module], started: float) -> int:
    statuses, equivalent = _statuses(), equivalents()
    failed = False
    report = [f"# Surviving mutants ({time.strftime('%Y-%m-%d %H:%M')})", ""]
    for module in modules:
        mine = {n: s for n, s in statuses.items()
                if (m := _MUTANT_MODULE.match(n)) and m.group("module") == module.dotted and n not in equivalent}
        # Mutants not run yet (an interrupted run) count in no score; the line says how many there are.
        unchecked = sum(s == "not checked" for s in mine.values())
        mine = {n: s for n, s in mine.items() if s != "not checked"}
        killed = sum(s in _KILLED for s in mine.values())
        total = len(mine)
        score = killed / total if total else 1.0
        under = score < module.floor or unchecked > 0
        failed |= under
        floor = f" (floor {module.floor:.0%})" if module.floor else ""
        not_run = f", {unchecked} not run" if unchecked else ""
        print(f"{module.path} {killed}/{total} = {score:.1%}{floor}{not_run}{'  UNDER THE FLOOR OR INCOMPLETE' if under else ''}")
        survivors = sorted(n for n, s in mine.items() if s not in _KILLED)
        report += [f"## {module.path}: {len(survivors)} surviving", ""]
        report += [f"### {name} ({mine[name]})\n\n```diff\n{_diff(name)}\n```\n" for name in survivors]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(report) + "\n", "utf-8")
    print(f"surviving mutants: {REPORT.relative_to(ROOT)}; {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
