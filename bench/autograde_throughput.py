"""Autograding throughput: notebooks per minute of the whole pipeline on generated submissions.

    python bench/autograde_throughput.py [--n 40] [--jobs CPUS] [--timeout 60] [--no-sandbox]

Builds a scratch course (graders/.scratch/bench) with N submissions spread over the five
chapters (every chapter's student version with its solution cells filled; every other one
with its solution cells left blank), grades them with ``--jobs`` workers (autograde with the
isolated judge, feedback, grades.csv) and prints notebooks per minute, seconds per notebook and
whether the filled submissions got full marks and the blank ones 0.
Not part of ``make test``; ``make bench`` runs it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_lib.autograding import isolation, scratch  # noqa: E402
from course_lib.autograding.cli import GRADERS  # noqa: E402
from course_lib.autograding.pipeline import grade_course  # noqa: E402
from course_lib.autograding.worker import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="submissions to grade (default 40)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="worker processes (default: CPUs)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    parser.add_argument("--no-sandbox", action="store_true", help="grade without the sandbox")
    parser.add_argument("--root", type=Path, default=GRADERS / ".scratch" / "bench")
    args = parser.parse_args()
    if args.n < 1 or args.jobs < 1:
        parser.error(f"--n and --jobs must be >= 1, got {args.n} and {args.jobs}")
    chapters = [a for a in scratch.chapters() if any((scratch.NOTEBOOKS / a).glob("*.ipynb"))]
    if not chapters:
        print("no chapter has a student version in notebooks/: run `make student` first")
        return 2
    sandbox = isolation.sandbox_status()[0] and not args.no_sandbox

    scratch.reset(args.root)
    course = scratch.new_course(args.root)
    settings = Settings(timeout=args.timeout, sandbox=sandbox)
    grade_course(course, settings, jobs=1, log=lambda _: None)  # record the assignments (not timed)
    variants = {}
    for assignment in chapters:
        name, release = scratch.release_notebook(course, assignment)
        variants[assignment] = (name, scratch.filled(release, scratch.source_notebook(course, assignment, name)),
                                release)
    for i in range(args.n):
        assignment = chapters[i % len(chapters)]
        name, filled, blank = variants[assignment]
        scratch.submit(course, f"student{i:03d}", assignment, filled if (i // len(chapters)) % 2 == 0 else blank,
                       f"{name}.ipynb")
    start = time.perf_counter()
    report = grade_course(course, settings, jobs=args.jobs, log=lambda _: None)
    seconds = time.perf_counter() - start
    statuses = {}
    for result in report.results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    per_notebook = sorted(r.seconds for r in report.results)
    print(f"autograde throughput: {args.n} notebooks ({len(chapters)} chapters), jobs={args.jobs}, "
          f"sandbox={'on' if sandbox else 'off'}, cpus={os.cpu_count()}")
    print(f"  wall time           {seconds:8.1f} s")
    print(f"  notebooks / minute  {60 * args.n / seconds:8.1f}")
    print(f"  seconds / notebook  {seconds / args.n:8.2f} (wall)   median per worker: "
          f"{per_notebook[len(per_notebook) // 2]:.1f} s")
    print(f"  statuses            {statuses}")
    filled = {f"student{i:03d}" for i in range(args.n) if (i // len(chapters)) % 2 == 0}
    submitted = {(f"student{i:03d}", chapters[i % len(chapters)]) for i in range(args.n)}
    rows = [r for r in report.rows if (r["student_id"], r["assignment"]) in submitted]
    full = sum(1 for r in rows if r["student_id"] in filled and float(r["score"]) == float(r["max_score"]) > 0)
    zero = sum(1 for r in rows if r["student_id"] not in filled and float(r["score"]) == 0)
    print(f"  scores              filled with full marks {full}/{len(filled)}, "
          f"blank with 0 {zero}/{args.n - len(filled)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
