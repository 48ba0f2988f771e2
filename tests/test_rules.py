"""express-session's rules (rules.py): the table in its docstring, executed row by row."""

from __future__ import annotations

import itertools

import pytest

from wsgisession import rules
from wsgisession.rules import Facts, should_save, should_set_cookie, should_touch

FACT_COLUMNS = ["new", "modified", "saved", "ever saved", "save_uninitialized", "rolling", "expiring"]
RULE_COLUMNS = ["save", "touch", "set cookie"]
WORDS = {"yes": True, "no": False}


def table_rows():
    """The rows of the table in rules.py's docstring, as (facts, expected answers)."""
    lines = [line.strip() for line in (rules.__doc__ or "").splitlines() if line.strip().startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == FACT_COLUMNS + RULE_COLUMNS, header
    rows = []
    for line in lines[2:]:  # after the header and its rule
        cells = [WORDS[cell.strip()] for cell in line.strip("|").split("|")]
        facts = Facts(*cells[: len(FACT_COLUMNS)])
        rows.append(pytest.param(facts, tuple(cells[len(FACT_COLUMNS):]), id=line))
    return rows


@pytest.mark.parametrize(("facts", "expected"), table_rows())
def test_the_docstring_table(facts, expected):
    assert (should_save(facts), should_touch(facts), should_set_cookie(facts)) == expected


def test_the_table_is_not_empty():
    assert len(table_rows()) >= 10


@pytest.mark.parametrize("cells", list(itertools.product([False, True], repeat=len(FACT_COLUMNS))))
def test_touch_and_save_never_both(cells):
    facts = Facts(*cells)
    assert not (should_save(facts) and should_touch(facts))
    if facts.new:
        assert not should_touch(facts)  # a session with no record for its id has nothing to touch


@pytest.mark.parametrize("cells", list(itertools.product([False, True], repeat=len(FACT_COLUMNS))))
def test_a_modified_session_is_always_saved(cells):
    facts = Facts(*cells)._replace(modified=True, saved=False)
    assert should_save(facts)
