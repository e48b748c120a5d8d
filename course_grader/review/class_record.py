"""What the course knows about a class: scores, statuses, lateness and every check's verdict.

Read from three places the pipeline writes:

- the gradebook (SQLite or PostgreSQL, through nbgrader's :class:`~nbgrader.api.Gradebook`): the
  students, the assignments with their due dates and maximum scores, and per submission its
  score and time stamp (``timestamp.txt``, when the submission had one);
- ``grades.csv`` (:mod:`course_grader.pipeline.grades`): the status of each submission
  (``graded``, ``timeout``, ``failed``, ...), including those the gradebook does not hold;
- the autograded notebooks (``<course>/autograded/<student>/<assignment>/*.ipynb``): the
  outcome of every check, recorded by :mod:`course_grader.pipeline.check_outcomes`.

A submission is *late* when its time stamp is after its due date (the assignment's, plus the
student's extension if the gradebook holds one); ``seconds_late`` is that difference (None when
either is unknown).
"""
from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nbgrader.api import (
    Assignment,
    Grade,
    Gradebook,
    Student,
    SubmittedAssignment,
    SubmittedNotebook,
)
from sqlalchemy import func

from course_grader.pipeline import check_outcomes
from course_grader.pipeline.check_outcomes import Outcome
from course_grader.pipeline.course import Course


@dataclass
class Submission:
    """One student's work on one assignment (status ``not_submitted`` when there is none)."""

    student: str
    score: float = 0.0
    status: str = "graded"
    seconds_late: float | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    #: autograded and hand-graded points, and ``to_grade`` / ``graded`` / ``none`` (grades.csv)
    auto_score: float | None = None
    manual_score: float | None = None
    manual_status: str = ""

    @property
    def late(self) -> bool:
        return self.seconds_late is not None and self.seconds_late > 0


@dataclass
class AssignmentRecord:
    """An assignment and every student's submission of it (one entry per student of the course)."""

    name: str
    max_score: float = 0.0
    duedate: datetime | None = None
    submissions: list[Submission] = field(default_factory=list)
    #: the points of the written answers, graded by hand (included in ``max_score``)
    manual_max: float = 0.0

    @property
    def submitted(self) -> list[Submission]:
        """The submissions that exist (every status but ``not_submitted``)."""
        return [s for s in self.submissions if s.status != "not_submitted"]


@dataclass
class ClassRecord:
    """Every assignment of the course, in the gradebook's order."""

    course_id: str
    assignments: list[AssignmentRecord]


def _statuses(grades_csv: Path) -> dict[tuple[str, str], tuple[str, float]]:
    """``{(student, assignment): (status, score)}`` from ``grades.csv`` (empty if there is none)."""
    if not grades_csv.is_file():
        return {}
    found = {}
    with open(grades_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            student, assignment = row.get("student_id", ""), row.get("assignment", "")
            student, assignment = student.removeprefix("'"), assignment.removeprefix("'")  # spreadsheet_safe
            try:
                score = float(row.get("score") or 0.0)
            except ValueError:
                score = 0.0
            found[(student, assignment)] = (row.get("status") or "graded", score)
    return found


def _splits(grades_csv: Path) -> dict[tuple[str, str], dict]:
    """``{(student, assignment): {"auto_score", "manual_score", "manual_max", "manual_status"}}``
    from ``grades.csv``'s split columns (:mod:`course_grader.pipeline.manual_grades`), where present."""
    if not grades_csv.is_file():
        return {}
    found = {}
    with open(grades_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            if not row.get("auto_score"):
                continue
            key = (row.get("student_id", "").removeprefix("'"), row.get("assignment", "").removeprefix("'"))
            try:
                found[key] = {"auto_score": float(row["auto_score"]), "manual_score": float(row["manual_score"]),
                              "manual_max": float(row.get("manual_max_score") or 0.0),
                              "manual_status": row.get("manual_status", "")}
            except ValueError:
                continue
    return found


def _outcomes(folder: Path) -> list[Outcome]:
    """Every recorded check outcome of the autograded notebooks in ``folder``."""
    outcomes = []
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        outcomes += [outcome for _, outcome in check_outcomes.read(nb)]
    return outcomes


def _seconds_late(timestamp: datetime | None, duedate: datetime | None) -> float | None:
    if timestamp is None or duedate is None:
        return None
    return (timestamp - duedate).total_seconds()


def open_gradebook(course: Course) -> Gradebook:
    """nbgrader's :class:`Gradebook` of ``course`` (nbgrader runs ``alembic``: this Python's one is found)."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return Gradebook(course.db_url, course.course_id)


def _submissions(gb: Gradebook) -> dict[str, dict[str, dict]]:
    """``{assignment: {student: {"score", "timestamp", "extension"}}}`` of every submission, in two queries.

    The score is nbgrader's (the sum of ``Grade.score``: manual score if any, else the automatic
    one, plus extra credit) less the late penalty stored on each submitted notebook, as
    ``nbgrader export`` and ``grades.csv`` have it. (nbgrader's own ``submission_dicts`` runs one
    query per assignment whose time grows with the gradebook.)
    """
    rows = (gb.db.query(SubmittedAssignment.id, Assignment.name, Student.id, SubmittedAssignment.timestamp,
                        SubmittedAssignment.extension, func.coalesce(func.sum(Grade.score), 0.0))
            .select_from(SubmittedAssignment)
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
            .join(Student, Student.id == SubmittedAssignment.student_id)
            .outerjoin(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .outerjoin(Grade, Grade.notebook_id == SubmittedNotebook.id)
            .group_by(SubmittedAssignment.id, Assignment.name, Student.id, SubmittedAssignment.timestamp,
                      SubmittedAssignment.extension)
            .all())
    penalties = dict(gb.db.query(SubmittedNotebook.assignment_id,
                                 func.coalesce(func.sum(SubmittedNotebook.late_submission_penalty), 0.0))
                     .group_by(SubmittedNotebook.assignment_id).all())
    found: dict[str, dict[str, dict]] = {}
    for key, assignment, student, timestamp, extension, score in rows:
        found.setdefault(assignment, {})[student] = {
            "score": max(0.0, float(score) - float(penalties.get(key) or 0.0)), "timestamp": timestamp,
            "extension": extension}
    return found


def load(course: Course) -> ClassRecord:
    """The class as the gradebook, ``grades.csv`` and the autograded notebooks of ``course`` record it."""
    statuses = _statuses(course.grades_csv)
    splits = _splits(course.grades_csv)
    records = []
    with open_gradebook(course) as gb:
        students = sorted(s.id for s in gb.students)
        submitted = _submissions(gb)
        for assignment in gb.assignments:
            record = AssignmentRecord(assignment.name, float(assignment.max_score or 0.0), assignment.duedate)
            graded = submitted.get(assignment.name, {})
            for student in students:
                entry = graded.get(student)
                status, csv_score = statuses.get((student, assignment.name), ("not_submitted", 0.0))
                if entry is None:
                    record.submissions.append(Submission(student, csv_score, status))
                    continue
                status = "graded" if status == "not_submitted" else status
                due = assignment.duedate + entry["extension"] if assignment.duedate and entry["extension"] else \
                    assignment.duedate
                split = splits.get((student, assignment.name), {})
                record.manual_max = max(record.manual_max, split.get("manual_max", 0.0))
                record.submissions.append(Submission(
                    student, entry["score"], status, _seconds_late(entry["timestamp"], due),
                    _outcomes(course.autograded / student / assignment.name), split.get("auto_score"),
                    split.get("manual_score"), split.get("manual_status", "")))
            records.append(record)
    known = {(s.student, r.name) for r in records for s in r.submissions}
    by_name = {r.name: r for r in records}
    for (student, assignment), (status, score) in sorted(statuses.items()):
        if (student, assignment) not in known and assignment in by_name:
            by_name[assignment].submissions.append(Submission(student, score, status))
    return ClassRecord(course.course_id, records)
