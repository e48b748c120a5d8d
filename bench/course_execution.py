"""Benchmark: how long the whole course takes to execute, notebook by notebook.

Runs every solutions notebook top to bottom in a fresh kernel (the same work as
nbval in `make test`) and prints wall-clock seconds per notebook, kernel start
included, and the total. Goal: all of them under 60 s together on a 2-core CPU.

    .venv/bin/python bench/course_execution.py [--repeat N]
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
    args = parser.parse_args()
    total = 0.0
    print(f"{'notebook':<48} {'seconds':>8}")
    for path in sorted(ROOT.glob("solutions/*/*.ipynb")):
        seconds = statistics.median(execute(path) for _ in range(args.repeat))
        total += seconds
        print(f"{str(path.relative_to(ROOT)):<48} {seconds:8.1f}")
    print(f"{'total (goal < 60 s on 2 cores)':<48} {total:8.1f}")


if __name__ == "__main__":
    main()
