"""CPU instructions per request, counted by callgrind: a measure that does not depend on the machine's load.

    python bench/instructions.py                      # this tree
    python bench/instructions.py ../before .          # two trees side by side (a `git worktree add` of the old commit)

For each tree and scenario of bench/inprocess.py (untouched, read-only, modified, new session) on
wsgisession + MemoryStore, a child Python runs under ``valgrind --tool=callgrind`` twice, serving
``--small`` and then ``--large`` requests after the same warm-up; the difference of the two totals
divided by the difference of the counts is the cost of one request, start-up and warm-up cancelled
out. The same binary, inputs and environment give the same count whatever else the machine does,
so a change of one or two per cent is real here where wall-clock tables (bench/compare.py) need
the noise rows to judge it. Needs valgrind (Debian's package); slow: about a minute per tree.

The garbage collector is off while the requests run (as inprocess.py times them), and what they
left in reference cycles is collected when the child's interpreter exits: that collection is
counted, a share of each request, as a server pays it in its own collections.
``--without-collection`` leaves it out (the child exits first), which is what inprocess.py's
clock sees; the two counts differ by what a request leaves to the collector.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCENARIOS = ("untouched", "read-only", "modified", "new session")

# The child: build the benchmarked app of bench/apps.py, warm it up, serve N requests of one scenario.
CHILD = r"""
import gc
import sys
sys.path.insert(0, "bench")
import inprocess
from apps import wsgisession_app
from wsgisession import MemoryStore
scenario, n = sys.argv[1], int(sys.argv[2])
app = wsgisession_app(MemoryStore())
path, returning = inprocess.SCENARIOS[scenario]
env = inprocess.environ(path, inprocess.login(app) if returning else None)
sr = inprocess.start_response
def serve(count):
    for _ in range(count):
        result = app(env.copy(), sr)
        for _chunk in result:
            pass
        result.close() if hasattr(result, "close") else None
serve(200)
gc.collect()
gc.disable()  # as inprocess.py times: a full collection landing in one run and not the other is not the request's cost
serve(n)
if sys.argv[3] == "skip":  # --without-collection: leave before the interpreter collects what the requests left
    import os
    sys.stdout.flush()
    os._exit(0)
"""
TOTAL = re.compile(r"^summary:\s*(\d+)", re.M)


def instructions(tree: Path, scenario: str, n: int, collection: bool = True) -> int:
    """callgrind's total for one child run in ``tree`` serving ``n`` requests after the warm-up
    (``collection``: with the interpreter's final collection of the cyclic garbage they left)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", CHILD,
                        scenario, str(n), "keep" if collection else "skip"], cwd=tree, check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"})
        match = TOTAL.search(out.read_text())
        if match is None:
            raise RuntimeError(f"no summary line in callgrind's output for {tree} {scenario}")
        return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", type=Path, default=[Path(".")], help="one or two trees (default: .)")
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=1100)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated (default: all four)")
    parser.add_argument("--quick", action="store_true", help="tiny counts (the numbers are noise): keep it working")
    parser.add_argument("--without-collection", action="store_true",
                        help="leave out the collection of the cyclic garbage the requests left (inprocess.py's timings do)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("bench/instructions.py: needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    if args.quick:
        args.small, args.large = 2, 4
    trees = [tree.resolve() for tree in args.trees]
    per: dict[tuple[Path, str], float] = {}
    scenarios = args.scenarios.split(",")
    for scenario in scenarios:
        for tree in trees:
            small, large = (instructions(tree, scenario, n, not args.without_collection) for n in (args.small, args.large))
            per[tree, scenario] = (large - small) / (args.large - args.small)
            print(f"{tree.name or tree} {scenario}: {per[tree, scenario]:,.0f}", file=sys.stderr)
    names = " | ".join(str(tree) for tree in trees)
    print(f"| scenario | {names} |" + (" after / before |" if len(trees) == 2 else ""))
    print("|---" * (len(trees) + 1 + (len(trees) == 2)) + "|")
    for scenario in scenarios:
        cells = " | ".join(f"{per[tree, scenario]:,.0f}" for tree in trees)
        ratio = f" {per[trees[1], scenario] / per[trees[0], scenario]:.3f} |" if len(trees) == 2 else ""
        print(f"| {scenario} | {cells} |{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
