"""``python -m course_grader.term feedback``: rewrite grades.csv and the feedback pages after manual grading.

A batch writes each submission's feedback right after autograding it, before anyone grades the
written answers. Once the instructor has entered manual scores and comments in the formgrader
(``make formgrader``, docs/instructors.md, "Grading written answers"), this command, running no
notebook:

1. applies the late policy again (a penalty is a fraction of the total, manual points included)
   and rewrites ``grades.csv`` (``auto_score``, ``manual_score``, ``raw_score`` the total);
2. regenerates the feedback page of every autograded submission (``--assignment`` / ``--student``
   select some) from the gradebook, so that each page shows the manual scores and comments.

Then ``python -m course_grader.term release --to DIR`` hands the pages out.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_grader.pipeline.course import Course, sqlite_with_busy_timeout
from course_grader.sandbox import safefs

GRADERS = Path(__file__).resolve().parents[2] / "graders"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("feedback", help="rewrite grades.csv and feedback pages with the manual grades",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", action="append", default=[], metavar="ID",
                        help="regenerate only this assignment's pages (repeatable; default: all)")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="regenerate only this student's pages (repeatable; default: all)")
    parser.add_argument("--course", type=Path, default=GRADERS, help="nbgrader course directory (default: graders/)")
    parser.add_argument("--wait", action="store_true", help="wait for a grading run of this course to finish")
    parser.set_defaults(func=run)


def autograded_submissions(course: Course, students: tuple[str, ...] = (),
                           assignments: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """``(student, assignment)`` of every autograded submission folder, sorted (links never followed)."""
    found = []
    for student in safefs.entries(course.autograded):
        if not student.is_dir or safefs.odd_name(student.name) or (students and student.name not in students):
            continue
        for assignment in safefs.entries(course.autograded / student.name):
            if assignment.is_dir and not safefs.odd_name(assignment.name) \
                    and (not assignments or assignment.name in assignments):
                found.append((student.name, assignment.name))
    return sorted(found)


def regenerate(course: Course, students: tuple[str, ...] = (), assignments: tuple[str, ...] = (),
               wait: bool = False) -> tuple[list[dict], dict[tuple[str, str], str]]:
    """Steps 1 and 2 of the module's docstring.

    Returns:
        The rows of the new grades.csv, and ``{(student, assignment): what went wrong}`` for the
        pages that could not be regenerated (empty when all were).
    """
    from course_grader.pipeline.batch import course_lock, recompute_penalties
    from course_grader.pipeline.submission import Settings, _capture_logger, generate_feedback

    rows = recompute_penalties(course, wait=wait)
    settings = Settings(sandbox=False, warm_pool=False)  # no notebook runs: nothing to sandbox
    db_url = sqlite_with_busy_timeout(course.db_url)
    failed = {}
    with course_lock(course, wait=wait):
        for student, assignment in autograded_submissions(course, students, assignments):
            logger, stream = _capture_logger(f"feedback.{student}.{assignment}")
            trouble = generate_feedback(course, student, assignment, settings, db_url, logger, stream)
            if trouble:
                failed[(student, assignment)] = trouble
    return rows, failed


def run(args: argparse.Namespace) -> int:
    """Exit status 0, 1 when a page could not be regenerated, 2 when there is nothing to regenerate."""
    course = Course.from_directory(args.course)
    todo = autograded_submissions(course, tuple(args.student), tuple(args.assignment))
    if not todo:
        print(f"error: no autograded submission under {course.autograded}", file=sys.stderr)
        return 2
    rows, failed = regenerate(course, tuple(args.student), tuple(args.assignment), wait=args.wait)
    to_grade = sum(1 for r in rows if r.get("manual_status") == "to_grade")
    print(f"grades.csv rewritten ({len(rows)} rows); feedback regenerated for {len(todo) - len(failed)} "
          f"submission(s)" + (f"; {to_grade} submission(s) still have written answers to grade" if to_grade else ""))
    for (student, assignment), trouble in sorted(failed.items()):
        print(f"  {student}/{assignment}: feedback not regenerated: {trouble}", file=sys.stderr)
    return 1 if failed else 0
