"""``python -m course_grader.term deadlines``: apply the late-work policy again, running nothing.

Reads ``<course>/policy.toml`` (:mod:`course_grader.pipeline.late_policy`), writes each
submission's late penalty into the gradebook and rewrites ``grades.csv`` from it. No notebook
is run and no grade but the penalties changes: use it after changing a due date, a penalty or
an extension (every ``python -m course_grader`` run applies the policy too).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_grader.pipeline.batch import ConfigurationError, CourseBusy, recompute_penalties
from course_grader.pipeline.course import Course
from course_grader.pipeline.grades import grade_table

GRADERS = Path(__file__).resolve().parents[2] / "graders"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("deadlines", help="recompute late penalties from policy.toml (no regrading)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=Path, default=GRADERS, help="nbgrader course directory (default: graders/)")
    parser.add_argument("--wait", action="store_true", help="wait for a grading run of the course to finish")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit status 0, or 2 on a bad policy file or course, 3 when a run holds the course."""
    course = Course.from_directory(args.course)
    try:
        rows = recompute_penalties(course, wait=args.wait)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3 if isinstance(error, CourseBusy) else 2
    print(grade_table(rows))
    late = sum(1 for row in rows if float(row.get("late_submission_penalty") or 0))
    print(f"\npolicy: {course.policy_file}; {late} submission(s) with a late penalty; grades: {course.grades_csv}")
    return 0
