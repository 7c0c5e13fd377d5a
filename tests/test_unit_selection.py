"""`--unit` leaves out, unimported, only paths whose every test `-m` would leave out anyway.

tests/conftest.py marks tests by path (`_MARKED_PATHS`) and `--unit` skips those paths at collection instead of
deselecting their tests one by one after importing them. That is the same selection only while the unit
expression excludes every marker given by path: a new marked path whose marker the expression keeps would be
skipped by `--unit` and run by `-m`.
"""

from __future__ import annotations

from tests.conftest import _MARKED_PATHS, UNIT_TESTS


def test_the_unit_expression_excludes_every_marker_given_by_path():
    terms = UNIT_TESTS.split(" and ")
    assert all(term.startswith("not ") for term in terms), "a test is left out if it has any of the markers"
    assert set(_MARKED_PATHS) <= {term.removeprefix("not ") for term in terms}
