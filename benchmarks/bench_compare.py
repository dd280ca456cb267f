"""One coordxl command, as the administrator runs it, with this code and with an earlier commit's.

    python benchmarks/bench_compare.py --baseline /tmp/before [--repeat 3] [--copy] FOLDER -- check {root} --json

Runs the command line after ``--`` (``{root}`` stands for the folder) in a fresh process with this
checkout's coordxl and with the one in ``--baseline`` (``git worktree add /tmp/before <commit>``),
alternating, ``--repeat`` times each, its output to a pipe as under cron or the scheduler, and
prints both medians side by side with the bytes each printed. ``--copy``: each run on a fresh copy
of the folder (a first run of the daily job changes it). Wall time includes starting Python.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = "import sys; sys.path.insert(0, sys.argv.pop(1)); from coordxl.cli import main; main(prog_name='coordxl')"


def once(tree: Path, folder: Path, args: list[str], copy: bool, scratch: Path) -> tuple[float, int]:
    root = folder
    if copy:
        root = scratch / folder.name
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(folder, root, ignore=shutil.ignore_patterns(".coordxl"))
        os.sync()  # the copy is on the disk before the clock starts
    command = [sys.executable, "-c", RUN, str(tree)] + [a.replace("{root}", str(root)) for a in args]
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True)
    return time.perf_counter() - start, len(out.stdout) + len(out.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copy", action="store_true", help="each run on a fresh copy of the folder")
    ap.add_argument("--label", default="")
    ap.add_argument("folder", type=Path)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "coordxl-compare"
    scratch.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[tuple[float, int]]] = {"before": [], "after": []}
    for _ in range(args.repeat):
        for name, tree in (("before", args.baseline), ("after", REPO)):
            runs[name].append(once(tree, args.folder, command, args.copy, scratch))
    before, after = (statistics.median(t for t, _ in runs[k]) for k in ("before", "after"))
    printed = {k: runs[k][0][1] for k in runs}
    label = args.label or " ".join(command)
    print(f"{label:<44} before {before:6.2f} s ({printed['before']:,} bytes printed)   "
          f"after {after:6.2f} s ({printed['after']:,} bytes printed)   "
          f"runs before {[round(t, 2) for t, _ in runs['before']]} after {[round(t, 2) for t, _ in runs['after']]}")


if __name__ == "__main__":
    main()
