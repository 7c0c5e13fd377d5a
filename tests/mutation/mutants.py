"""The parts of mutmut's internals the mutation check of `make test` (tests/mutation/gate.py) relies on, in one place.

mutmut has no public API for these: it plants every mutant of a module in one copy of its source, behind a
trampoline per function that calls the mutant named by `MUTANT_UNDER_TEST` (or the original), and in its
"stats" mode records which functions ran. tests/mutation/test_mutants.py pins what is used here, so an
upgrade of mutmut fails there, in one place, rather than as a wrong score.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from difflib import unified_diff
from pathlib import Path

import libcst
from mutmut.mutation.diff_apply import read_mutant_function, read_original_function
from mutmut.mutation.file_mutation import mutate_file_contents
from mutmut.mutation.trampoline import set_mutant_under_test
from mutmut.state import state
from mutmut.utils.format_utils import get_mutant_name, mangled_name_from_mutant_name

# `activate(RECORD)`: every function runs unchanged and says that it ran (mutmut's stats mode).
RECORD = "stats"
# `activate(FAIL)`: every trampolined function raises, to prove the tests really run the mutated source.
FAIL = "fail"
# `activate(NONE)`: every function runs unchanged. Not empty: tests read a non-empty MUTANT_UNDER_TEST as
# "under mutation" (fewer, fixed hypothesis examples), as under `make mutation`.
NONE = "none"


@dataclass(frozen=True)
class MutatedModule:
    """A module's source with every mutant planted, and the mutants' names (the names `make mutation` uses)."""

    path: Path  # relative to the repository, e.g. bot/privacy.py
    dotted: str
    code: str
    mutants: tuple[str, ...]


def mutate(root: Path, path: str) -> MutatedModule:
    """Every mutant mutmut makes of the module at `path` (relative to `root`)."""
    relative = Path(path)
    mutated = mutate_file_contents(path, (root / relative).read_text("utf-8"))
    names = tuple(get_mutant_name(relative, name) for name in mutated.mutant_names)
    return MutatedModule(relative, path.removesuffix(".py").replace("/", "."), mutated.code, names)


def activate(name: str | None) -> None:
    """Makes the trampolines of this process call the mutant `name` (or RECORD, FAIL, NONE); None forgets it.

    mutmut also writes the name to the environment (MUTANT_UNDER_TEST), which the trampolines read first.
    """
    set_mutant_under_test(name)


def functions_run() -> set[str]:
    """The functions (as `function_of` names them) that ran since the last call, under RECORD; then forgets them."""
    hits = set(state()._stats)  # mutmut keeps the stats mode's hits only here
    state()._stats.clear()
    return hits


def function_of(mutant: str) -> str:
    """The function a mutant changes, e.g. bot.privacy.x_mask_phone for bot.privacy.x_mask_phone__mutmut_3."""
    return mangled_name_from_mutant_name(mutant)


def diff(module: MutatedModule, mutant: str) -> str:
    """The mutant as a unified diff of its function (as `mutmut show` prints it)."""
    parsed = _parsed(module.code)
    before, after = (libcst.Module([function]).code.strip().split("\n")
                     for function in (read_original_function(parsed, mutant), read_mutant_function(parsed, mutant)))
    return "\n".join(unified_diff(before, after, fromfile=str(module.path), tofile=str(module.path), lineterm=""))


@functools.cache
def _parsed(code: str) -> libcst.Module:
    # mutmut's own diff parses the whole mutated module for each mutant: seconds each.
    return libcst.parse_module(code)
