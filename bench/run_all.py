"""Run every benchmark in bench/ (each ``bench/*.py`` but this file), one after the other.

    python bench/run_all.py [--only NAME ...]

Each benchmark runs in its own Python process with default arguments and prints its own
figures; a failing one is reported and the others still run. Exit status: the number of
benchmarks that failed (0 when all ran).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="benchmark file stems to run")
    args = parser.parse_args(argv)
    failed = []
    for path in benchmarks():
        if args.only and path.stem not in args.only:
            continue
        print(f"=== {path.name} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(path)], cwd=HERE.parent)
        print(f"=== {path.name}: exit {code}, {time.perf_counter() - start:.0f} s ===\n", flush=True)
        if code != 0:
            failed.append(path.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return len(failed)


if __name__ == "__main__":
    raise SystemExit(main())
