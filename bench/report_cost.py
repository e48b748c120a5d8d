"""What the class report costs on a large class: 300 students x 10 assignments by default.

    .venv/bin/python bench/report_cost.py [--students 300] [--assignments 10] [--checks 6] [--rounds 2]

Builds a synthetic graded class (course_grader/review/synthetic_class.py: an SQLite gradebook,
grades.csv and one autograded notebook per submission with its check outcomes, in the
proportions 50 % correct, 20 % and 15 % with one mistake each, 10 % blank, 5 % missing), then
times ``write_report`` (reading the gradebook and every autograded notebook, the statistics, the
figures and the pages). Prints the build time, each round's report time (wall and CPU of this
process) and the pages' total size.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_grader.review.report import write_report  # noqa: E402
from course_grader.review.synthetic_class import build_class  # noqa: E402


def plan(students: int) -> dict[str, int]:
    """The proportions of the class, rounded; the correct ones take the remainder."""
    shares = {"wrong_first": 0.20, "wrong_second": 0.15, "blank": 0.10, "missing": 0.05}
    counts = {kind: round(share * students) for kind, share in shares.items()}
    return {"correct": students - sum(counts.values()), **counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--assignments", type=int, default=10)
    parser.add_argument("--checks", type=int, default=6, help="checks (and 1-point test cells) per assignment")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    for name in ("students", "assignments", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.checks < 2:
        parser.error(f"--checks must be >= 2, got {args.checks}")
    with tempfile.TemporaryDirectory(prefix="report-cost-") as tmp:
        start = time.perf_counter()
        course = build_class(Path(tmp) / "course", plan(args.students),
                             [f"{k + 1:02d}_assignment" for k in range(args.assignments)], checks=args.checks,
                             late_every=10)
        print(f"built {args.students} students x {args.assignments} assignments x {args.checks} checks "
              f"in {time.perf_counter() - start:.1f} s")
        for round_ in range(args.rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            index = write_report(course, Path(tmp) / f"reports{round_}")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            size = sum(p.stat().st_size for p in index.parent.glob("*.html"))
            print(f"round {round_ + 1}: report in {wall:.1f} s wall, {cpu:.1f} s CPU; "
                  f"{args.assignments + 1} pages, {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
