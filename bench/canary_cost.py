"""What the canary costs a grading run: the first run of a setup, and every later one (cached).

    .venv/bin/python bench/canary_cost.py [--chapters 01_gradient_descent,02_adam] [--jobs 2] [--rounds 2]

A scratch course gets one honest submission per chapter; the same batch is graded with
``--force``: once with the canary on a fresh setup (it grades each chapter's reference and
blank release first), then ``--rounds`` times alternating without the canary and with it
again (its pass is cached), so that both see the same load. Prints wall seconds (the fresh
run, the best round of the others) and the canary's extra cost per chapter; compare the
figures within one run (the machine is noisy).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_grader.pipeline import isolation, scratch  # noqa: E402
from course_grader.pipeline.batch import grade_course  # noqa: E402
from course_grader.pipeline.submission import Settings  # noqa: E402


def _course(root: Path, chapters: list[str]):
    course = scratch.new_course(root)
    for chapter in chapters:
        name, release = scratch.release_notebook(course, chapter)
        filled = scratch.filled(release, scratch.source_notebook(course, chapter, name))
        scratch.submit(course, "honest", chapter, filled, f"{name}.ipynb")
    return course


def _timed(course, settings: Settings, jobs: int, canary: bool) -> float:
    start = time.perf_counter()
    grade_course(course, settings, jobs=jobs, force=True, log=lambda _: None, canary=canary)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", default="01_gradient_descent,02_adam")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {args.rounds}")
    chapters = args.chapters.split(",")
    sandbox = isolation.sandbox_status()[0]
    settings = Settings(sandbox=sandbox)
    with tempfile.TemporaryDirectory(prefix="canary-bench-", dir="/var/tmp") as tmp:
        course = _course(Path(tmp) / "course", chapters)
        grade_course(course, settings, jobs=args.jobs, log=lambda _: None)  # record the assignments once
        first = _timed(course, settings, args.jobs, canary=True)
        rounds = [(_timed(course, settings, args.jobs, canary=False), _timed(course, settings, args.jobs, canary=True))
                  for _ in range(args.rounds)]
    without, cached = min(r[0] for r in rounds), min(r[1] for r in rounds)
    print(f"canary cost, {len(chapters)} chapter(s), {args.jobs} jobs, sandbox {'on' if sandbox else 'off'}, "
          f"best of {args.rounds} round(s):")
    print(f"  batch without the canary        {without:6.1f} s")
    print(f"  batch with it, fresh setup      {first:6.1f} s  (+{(first - without) / len(chapters):.1f} s per chapter)")
    print(f"  batch with it, pass cached      {cached:6.1f} s  (+{cached - without:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
