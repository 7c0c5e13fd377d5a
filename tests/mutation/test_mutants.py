"""What the mutation check of `make test` takes from mutmut's internals (tests/mutation/mutants.py) still holds."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from tests.mutation import mutants
from tests.mutation.gate import MutatedSource

PROBE = "mutation_probe_prices"


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A tiny module, mutated and imported through the check's finder; the active mutant is reset afterwards."""
    (tmp_path / f"{PROBE}.py").write_text("def total(price, count):\n    return price * count\n", "utf-8")
    mutated = mutants.mutate(tmp_path, f"{PROBE}.py")
    monkeypatch.setattr(sys, "meta_path", [MutatedSource(tmp_path, [mutated]), *sys.meta_path])
    monkeypatch.setenv("MUTANT_UNDER_TEST", mutants.NONE)  # restored, with mutmut's copy, after the test
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    yield mutated, importlib.import_module(PROBE)
    mutants.activate(None)
    sys.modules.pop(PROBE, None)


def test_each_mutant_has_the_name_make_mutation_gives_it_and_names_its_function(probe):
    mutated, _ = probe
    assert mutated.mutants == (f"{PROBE}.x_total__mutmut_1",)
    assert mutants.function_of(mutated.mutants[0]) == f"{PROBE}.x_total"


def test_the_active_mutant_decides_what_the_module_does(probe):
    mutated, module = probe
    mutants.activate(mutants.NONE)
    assert module.total(3, 4) == 12
    mutants.activate(mutated.mutants[0])
    assert module.total(3, 4) == 3 / 4
    mutants.activate(mutants.FAIL)
    with pytest.raises(Exception, match="Verifying setup"):
        module.total(3, 4)


def test_recording_tells_which_functions_ran_once(probe):
    _, module = probe
    mutants.activate(mutants.RECORD)
    mutants.functions_run()
    module.total(3, 4)
    assert mutants.functions_run() == {f"{PROBE}.x_total"}
    assert mutants.functions_run() == set()


def test_the_mutated_module_keeps_its_real_file(probe, tmp_path: Path):
    _, module = probe
    assert Path(module.__file__) == tmp_path / f"{PROBE}.py"


def test_a_mutant_is_shown_as_the_diff_of_its_function(probe):
    mutated, _ = probe
    lines = mutants.diff(mutated, mutated.mutants[0]).splitlines()
    assert "-    return price * count" in lines and "+    return price / count" in lines
