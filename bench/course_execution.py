"""Benchmark: how long the whole course takes to execute, notebook by notebook.

Runs every solutions notebook top to bottom in a fresh kernel (the same work as
nbval in `make test`) and prints wall-clock seconds per notebook, kernel start
included, the slowest and the total. Goal: each notebook under 60 s on a 2-core
CPU, also while the machine is busy with other work.

    .venv/bin/python bench/course_execution.py [--repeat N] [CHAPTER ...]

CHAPTER selects notebooks by folder prefix (``06`` or ``06_optimizer_zoo``).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per notebook (median reported)")
    parser.add_argument("chapters", nargs="*", help="folder prefixes of the chapters to run (default: all)")
    args = parser.parse_args()
    paths = [path for path in sorted(ROOT.glob("solutions/*/*.ipynb"))
             if not args.chapters or any(path.parent.name.startswith(c) for c in args.chapters)]
    if not paths:
        parser.error(f"chapters {args.chapters} match no folder of solutions/")
    times = {}
    print(f"{'notebook':<48} {'seconds':>8}", flush=True)
    for path in paths:
        times[path] = statistics.median(execute(path) for _ in range(args.repeat))
        print(f"{path.relative_to(ROOT)!s:<48} {times[path]:8.1f}", flush=True)
    slowest = max(times, key=times.get)
    print(f"{'slowest (goal < 60 s each on 2 cores)':<48} {times[slowest]:8.1f}  {slowest.parent.name}")
    print(f"{'total':<48} {sum(times.values()):8.1f}")


if __name__ == "__main__":
    main()
