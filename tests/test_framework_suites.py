"""Django's and Flask's own session tests, unmodified, against our adapters (tests/framework_suites).

Each framework's suite runs in a subprocess on each store; its counts are printed with the
"measured, not asserted" lines. What is asserted: at least the recorded number pass, and every
test that fails is one the README's table "Django's and Flask's own tests" lists with its reason,
and every test it lists fails: a new difference fails here until it is fixed or documented, and a
fixed one until it leaves the table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_SECTION = "## Django's and Flask's own tests"
# How many pass (of Django's 90 and Flask's 21 per store) when this was last measured: never fewer.
FLOORS = {"django": 67, "flask": 11}


def documented_differences() -> dict[str, set[str]]:
    """{framework: the test ids the README's table lists} (its rows: | Django | `Class.test`, ... | why |)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(README_SECTION)
    end = text.find("\n## ", start + len(README_SECTION))
    listed: dict[str, set[str]] = {"django": set(), "flask": set()}
    for line in text[start:end if end != -1 else None].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and cells[0].lower() in listed:
            listed[cells[0].lower()].update(re.findall(r"`([\w.]+)`", cells[1]))
    return listed


def run_suite(framework: str, store: str) -> tuple[list[str], dict[str, str]]:
    """(the ids that passed, {failing id: its error}) of one suite on one store."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", f"tests.framework_suites.{framework}_suite", store], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("SUITE-RESULT ")]
    assert lines, f"the {framework} suite printed no result:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    outcome = json.loads(lines[-1].partition(" ")[2])
    return outcome["passed"], outcome["failed"]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@pytest.mark.parametrize("framework", ["django", "flask"])
def test_the_frameworks_own_session_tests(framework, store, record_property):
    passed, failed = run_suite(framework, store)
    record_property("measured", f"{framework}'s own session tests on {store}: {len(passed)} of "
                                f"{len(passed) + len(failed)} pass, {len(failed)} documented differences")
    documented = documented_differences()[framework]
    undocumented = {test: error for test, error in failed.items() if test not in documented}
    assert not undocumented, ("fix these, or list them with their reason in the README's table "
                              f"{README_SECTION!r}: {json.dumps(undocumented, indent=1)}")
    assert not documented - set(failed), "these pass now (or do not exist): take them out of the README's table"
    assert len(passed) >= FLOORS[framework], f"only {len(passed)} pass: {sorted(failed)}"

