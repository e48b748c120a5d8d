"""``python -m course_grader.term report``: the class report (``make report``, docs/instructors.md).

Writes ``<course>/reports/index.html`` and one page per assignment
(:mod:`course_grader.review.report`): score histogram, submissions by status, late submissions,
per check the share of the class that passes and the failures grouped by the mistake they name,
and the course's checks ordered by how many students fail them. Pages hold no student id
unless ``--show-students`` is given.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_grader.pipeline.course import Course
from course_grader.review.report import write_report

GRADERS = Path(__file__).resolve().parents[2] / "graders"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("report", help="write the class report (offline HTML) under <course>/reports")
    parser.add_argument("--course", type=Path, default=GRADERS, help="the course directory (default: graders/)")
    parser.add_argument("--out", type=Path, default=None, help="folder to write (default: <course>/reports)")
    parser.add_argument("--show-students", action="store_true",
                        help="name the students (by id) behind each mistake and each late submission")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if not args.course.is_dir():
        print(f"error: --course must be a course directory, got {str(args.course)!r} (no such folder)",
              file=sys.stderr)
        return 2
    course = Course.from_directory(args.course)
    if course.db_url.startswith("sqlite:///") and not Path(course.db_url.removeprefix("sqlite:///")).is_file():
        print(f"error: no gradebook at {course.db_url}: grade the class first (make autograde)", file=sys.stderr)
        return 2
    index = write_report(course, args.out, show_students=args.show_students)
    print(f"class report: {index}")
    return 0
