"""Stacks take their ports from PORT_OFFSETS, inside their test run's block of ten offsets.

A stack listens on 20000 + 100 * (offset + TEST_PORT_OFFSET) and up (tests/stack/conftest.py), and test runs
that share a machine are given TEST_PORT_OFFSETs ten apart: an offset written as a number at the call, or one of
ten or more, lands on another run's ports unseen. Read from the source: every stack names its offset there.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.stack.conftest import PORT_OFFSETS, RUN_OFFSETS

TESTS = Path(__file__).resolve().parent


def offsets_given() -> dict[str, str]:
    """Each start_stack call (file:line) and the source of the port offset it passes."""
    found = {}
    for path in sorted(TESTS.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "start_stack":
                given = [k.value for k in node.keywords if k.arg == "port_offset"] or node.args[1:2]
                found[f"{path.relative_to(TESTS)}:{node.lineno}"] = ast.unparse(given[0]) if given else ""
    return found


def test_every_stack_takes_its_offset_from_port_offsets():
    calls = offsets_given()
    assert len(calls) >= 8, calls
    unnamed = {call: source for call, source in calls.items() if not source.startswith("PORT_OFFSETS[")}
    assert not unnamed, f"name the offset in PORT_OFFSETS: {unnamed}"
    unknown = {call: source for call, source in calls.items() if ast.literal_eval(source[13:-1]) not in PORT_OFFSETS}
    assert not unknown, unknown


def test_the_offsets_stay_inside_a_test_runs_block():
    outside = {name: offset for name, offset in PORT_OFFSETS.items() if not 0 <= offset < RUN_OFFSETS}
    assert not outside, f"another test run's ports: {outside}"
