"""What a suite run prints: one JSON line of the ids that passed and the failing ids with their error."""

from __future__ import annotations

import json
import sys

__all__ = ["first_line", "report"]


def first_line(text: str) -> str:
    """The error of a traceback, shortened: pytest's first ``E`` line, else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    marked = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (marked[0] if marked else lines[-1] if lines else "")[:300]


def report(passed: list[str], failed: dict[str, str]) -> None:
    sys.stdout.write("SUITE-RESULT " + json.dumps({"passed": sorted(passed), "failed": failed}) + "\n")
    sys.stdout.flush()
