"""``python -m course_grader.term export --format canvas|moodle|checks``: grades for the LMS.

- ``canvas``: Canvas's gradebook import CSV (:mod:`course_grader.term.canvas`), one row per
  roster student with an ``lms_id`` (Canvas's user id), one column per assignment of
  ``grades.csv``, and the ``Points Possible`` row;
- ``moodle``: Moodle's grade import CSV (:mod:`course_grader.term.moodle`), one row per roster
  student with an e-mail address, one column per assignment;
- ``checks``: for the instructor, one row per student, assignment and graded cell of the
  gradebook: ``student_id, assignment, notebook, cell, checks, points, max_points, status,
  submission_status``: ``cell`` is the grade cell's id, ``checks`` the ids of the
  ``check("<id>", ...)`` calls in its source (space-separated; empty for a plain assert);
  ``status`` is ``passed`` (full points), ``partial``, ``failed`` (0 of more than 0),
  ``no_points`` (a cell worth 0) or ``not_graded`` (no score); ``submission_status`` the
  submission's status in ``grades.csv``; ``graded_by`` is ``checks`` (an autograded cell) or
  ``instructor`` (a written answer, graded in the formgrader: :mod:`course_grader.pipeline.manual_grades`).

An LMS column holds the total, autograded and manual points together (``grades.csv``'s
``score``: ``auto_score + manual_score`` less any late penalty).

Scores come from ``<course>/grades.csv`` (:mod:`course_grader.pipeline.grades`) through
:func:`final_score`, the one place that decides what a row is worth; a row whose status says
it is not a grade (not submitted, or refused: ``missing_notebook``, ``failed``, ...) exports an
empty cell, which neither LMS imports as 0, and is listed on stderr. Students of ``grades.csv``
missing from the roster, and roster students the LMS cannot match (no ``lms_id`` for Canvas,
no e-mail for Moodle), are listed too, never dropped silently. Every cell is written through
:mod:`course_grader.pipeline.spreadsheet_safe`.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from course_grader.pipeline.course import Course
from course_grader.pipeline.manual_grades import manual_cells
from course_grader.pipeline.spreadsheet_safe import safe_cell
from course_grader.pipeline.submission import UNGRADED
from course_grader.term import canvas, moodle
from course_grader.term.roster import Roster, read_roster, roster_path

FORMATS = ("canvas", "moodle", "checks")
#: grades.csv statuses whose score is not a grade (see course_grader.pipeline.grades)
NOT_A_GRADE = frozenset(UNGRADED) | {"unknown_assignment", "not_submitted"}
CHECK_COLUMNS = ["student_id", "assignment", "notebook", "cell", "checks", "points", "max_points", "status",
                 "submission_status", "graded_by"]


def final_score(row: dict) -> float | None:
    """The score a ``grades.csv`` row sends to the LMS, or None where it is not a grade.

    This is nbgrader's ``score`` column, the total of autograded and manual points: ``raw_score``
    less ``late_submission_penalty`` (the gradebook's late penalty, 0 without one). Any later penalty or override belongs here.
    """
    if row.get("status") in NOT_A_GRADE or not row.get("score"):
        return None
    return float(row["score"])


def read_grades(path: Path) -> list[dict]:
    """The rows of a ``grades.csv``; ValueError naming the file if it has no ``score`` column."""
    if not path.is_file():
        raise ValueError(f"grades={str(path)!r} does not exist: grade the course first (make autograde)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        needed = {"student_id", "assignment", "score", "max_score", "status"}
        if not needed <= set(reader.fieldnames or []):
            raise ValueError(f"grades={str(path)!r} lacks the columns {sorted(needed - set(reader.fieldnames or []))}: "
                             "is it a grades.csv written by `python -m course_grader`?")
        return list(reader)


def score_table(rows: list[dict]) -> tuple[list[tuple[str, float]], dict[str, dict[str, float | None]], list[str]]:
    """``[(assignment, max points)]`` sorted, ``{student: {assignment: score or None}}``, and
    one line for each row that is not a grade (to report)."""
    maxima: dict[str, float] = {}
    scores: dict[str, dict[str, float | None]] = {}
    notes = []
    for row in rows:
        assignment = row["assignment"]
        if row["status"] != "unknown_assignment":
            maxima[assignment] = max(maxima.get(assignment, 0.0), float(row["max_score"] or 0))
        score = final_score(row)
        scores.setdefault(row["student_id"], {})[assignment] = score
        if score is None and row["status"] != "not_submitted":
            notes.append(f"{row['student_id']}/{assignment}: {row['status']}: exported empty ({row.get('reason', '')})")
    return sorted(maxima.items()), scores, notes


def lms_rows(fmt: str, roster: Roster, grades: list[dict], columns: dict[str, str]
             ) -> tuple[list[list], list[str]]:
    """The rows of the ``canvas`` or ``moodle`` file, and the report lines."""
    assignments, scores, notes = score_table(grades)
    headers = [(columns.get(a, a), points) for a, points in assignments]
    students = []
    for student in roster.students:
        by_header = {columns.get(a, a): s for a, s in scores.get(student.student_id, {}).items()}
        key = student.lms_id if fmt == "canvas" else student.email
        if not key:
            notes.append(f"{student.student_id}: no {'lms_id' if fmt == 'canvas' else 'email'} in the roster: "
                         f"not exported ({fmt} could not match the row)")
            continue
        if student.student_id not in scores:
            notes.append(f"{student.student_id}: not in grades.csv: exported with empty cells")
        students.append({"name": student.name, "lms_id": student.lms_id, "section": student.section,
                         "email": student.email, "student_id": student.student_id, "scores": by_header})
    unknown = sorted(set(scores) - {s.student_id for s in roster.students})
    notes += [f"{sid}: in grades.csv but not in the roster: not exported" for sid in unknown]
    if fmt == "canvas":
        return canvas.gradebook_rows(students, headers), notes
    return moodle.grade_rows(students, [h for h, _ in headers]), notes


def check_rows(course: Course, grades: list[dict]) -> list[list]:
    """The ``checks`` file: every graded cell of every submission in the gradebook."""
    from nbgrader.api import Gradebook

    if course.db_url.startswith("sqlite:///") and not Path(course.db_url.removeprefix("sqlite:///")).is_file():
        raise ValueError(f"the gradebook {course.db_url} does not exist: grade the course first")
    status = {(r["student_id"], r["assignment"]): r["status"] for r in grades}
    rows = [CHECK_COLUMNS]
    with Gradebook(course.db_url, course.course_id) as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            checks = {(nb.name, cell.name): cell_checks(gb, cell.name, nb.name, assignment.name)
                      for nb in assignment.notebooks for cell in nb.grade_cells}
            manual = {(nb.name, name) for nb in assignment.notebooks for name in manual_cells(nb)}
            for submission in sorted(assignment.submissions, key=lambda s: s.student.id):
                for notebook in sorted(submission.notebooks, key=lambda n: n.name):
                    for grade in sorted(notebook.grades, key=lambda g: g.name):
                        rows.append([submission.student.id, assignment.name, notebook.name, grade.name,
                                     checks.get((notebook.name, grade.name), ""),
                                     _number(grade.score), _number(grade.max_score),
                                     check_status(grade.score, grade.max_score),
                                     status.get((submission.student.id, assignment.name), ""),
                                     "instructor" if (notebook.name, grade.name) in manual else "checks"])
    return rows


def cell_checks(gb, cell: str, notebook: str, assignment: str) -> str:
    """The check ids a grade cell's source (as the gradebook keeps it) calls, space-separated."""
    from nbgrader.api import MissingEntry

    from course_grader.judge.trusted import find_checks

    try:
        source = gb.find_source_cell(cell, notebook, assignment).source
    except MissingEntry:
        return ""
    return " ".join(check_id for check_id, _ in find_checks(source or ""))


def check_status(points: float | None, max_points: float) -> str:
    """``not_graded`` (no score) | ``no_points`` (worth 0) | ``passed`` | ``failed`` | ``partial``."""
    if points is None:
        return "not_graded"
    if not max_points:
        return "no_points"
    if points >= max_points:
        return "passed"
    return "failed" if points <= 0 else "partial"


def _number(value: float | None) -> float | str:
    return "" if value is None else float(value)


def write_csv(rows: list[list], path: Path) -> None:
    """Write ``rows``, every cell through :func:`safe_cell`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([safe_cell(c) for c in row] for row in rows)


def parse_columns(pairs: list[str]) -> dict[str, str]:
    """``ASSIGNMENT=HEADER`` pairs (``--column``) as a dict; ValueError on a pair without ``=``."""
    columns = {}
    for pair in pairs:
        assignment, sep, header = pair.partition("=")
        if not sep or not assignment or not header:
            raise ValueError(f"--column={pair!r} is not allowed: write ASSIGNMENT=HEADER, e.g. "
                             "'02_adam=Adam (4321)'")
        columns[assignment] = header
    return columns


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="grades as the LMS imports them, or per check",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", required=True, choices=FORMATS, help="canvas, moodle or checks")
    parser.add_argument("--course", default="graders", help="the nbgrader course folder (default: graders)")
    parser.add_argument("--roster", default=None, help="the roster CSV (default: <course>/roster.csv)")
    parser.add_argument("--output", "-o", default=None,
                        help="the file to write (default: <course>/export/<format>.csv)")
    parser.add_argument("--column", action="append", default=[], metavar="ASSIGNMENT=HEADER",
                        help="the LMS column of an assignment, e.g. '02_adam=Adam (4321)' for Canvas "
                             "assignment 4321 (default: the assignment id); repeat per assignment")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        course = Course.from_directory(args.course)
        grades = read_grades(course.grades_csv)
        output = Path(args.output) if args.output else course.root / "export" / f"{args.format}.csv"
        if args.format == "checks":
            rows, notes = check_rows(course, grades), []
        else:
            roster = read_roster(args.roster or roster_path(course.root))
            rows, notes = lms_rows(args.format, roster, grades, parse_columns(args.column))
    except (ValueError, FileNotFoundError) as error:
        print(f"export: {error}", file=sys.stderr)
        return 2
    write_csv(rows, output)
    for note in notes:
        print(f"  {note}", file=sys.stderr)
    print(f"wrote {output} ({len(rows) - 1} rows)")
    return 0
