"""Two releases side by side: bench/inprocess.py run alternately on two trees, in one run.

    python bench/compare.py BEFORE_TREE AFTER_TREE            # e.g. a `git worktree add` of the old commit
    python bench/compare.py ../before . --runs 6 -n 20000

Each run times every system of bench/inprocess.py in both trees, the trees' order alternating, so
a machine that slows down or speeds up mid-run weighs on both alike. The table gives, per
scenario and system, the median over runs of each run's median, and the ratio after/before. The
rows of systems whose code is the same in both trees (bare, Beaker) show the noise; a
difference smaller than theirs is not one. "Nothing gets slower" is judged on this table.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

# a row of inprocess.py's first table: | scenario | system | min µs | median µs | ...
ROW = re.compile(r"^\|\s*(untouched|read-only|modified|new session)\s*\|\s*([^|]+?)\s*\|\s*[\d.]+\s*\|\s*([\d.]+)\s*\|",
                 re.M)


def medians(tree: Path, n: int, out: Path) -> dict[tuple[str, str], float]:
    """One bench/inprocess.py run of ``tree`` (3 repetitions): the median µs of each (scenario, system)."""
    result = subprocess.run([sys.executable, "bench/inprocess.py", "-n", str(n), "--repeat", "3", "--out", str(out)],
                            cwd=tree, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)},
                            check=True)
    return {(m[1], m[2]): float(m[3]) for m in ROW.finditer(result.stdout)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--runs", type=int, default=4, help="runs of each tree, alternating (default 4)")
    parser.add_argument("-n", type=int, default=20000, help="requests per timing (default 20000)")
    args = parser.parse_args(argv)
    trees = (args.before.resolve(), args.after.resolve())
    runs: dict[Path, list[dict[tuple[str, str], float]]] = {tree: [] for tree in trees}
    for i in range(args.runs):
        for tree in trees if i % 2 == 0 else trees[::-1]:
            runs[tree].append(medians(tree, args.n, Path(f"/tmp/bench-compare-{i}-{tree.name}")))
            print(f"run {i + 1}/{args.runs}: {tree}", file=sys.stderr)
    print(f"| scenario | system | before µs | after µs | after / before |\n|---|---|---|---|---|")
    for key in sorted(runs[trees[0]][0]):
        before, after = (statistics.median(run[key] for run in runs[tree]) for tree in trees)
        print(f"| {key[0]} | {key[1]} | {before:.2f} | {after:.2f} | {after / before:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
