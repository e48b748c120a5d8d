"""A synthetic graded class whose numbers are known: for the report's tests and benchmark.

``build_class(root, plan, assignments)`` writes a course as the pipeline leaves it after
grading, without running a notebook: a SQLite gradebook (nbgrader's own API: assignments with a
due date, one notebook, one graded test cell per check worth 1 point, students, submissions with
their time stamps and scores), ``grades.csv`` statuses, and autograded notebooks holding the
recorded check outcomes (:mod:`course_grader.pipeline.check_outcomes`).

Students are given a *kind* in the order of ``plan`` (``{"correct": 12, "wrong_first": 9, ...}``):

- ``correct``: passes every check;
- ``wrong_first``: fails the first check with :data:`HINTS` ``[0]`` (numbers in the headline vary);
- ``wrong_second``: fails the second check with :data:`HINTS` ``[1]``;
- ``blank``: the release left as it was: every check fails with ``NotImplementedError``;
- ``missing``: no submission.

Every ``late_every``-th submitting student (counted from 1) submits ``LATE_BY`` after the due date.
"""
from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta
from pathlib import Path

from nbgrader.api import Grade, SubmittedAssignment, SubmittedNotebook
from sqlalchemy.exc import SAWarning

from course_grader.pipeline import check_outcomes
from course_grader.pipeline.check_outcomes import Outcome
from course_grader.pipeline.course import Course
from course_grader.review.class_record import open_gradebook

KINDS = ("correct", "wrong_first", "wrong_second", "blank", "missing")
HINTS = ("divide by the bias-corrected second moment, not the raw one",
         "count steps from 1, per optimizer, not per parameter")
BLANK_MESSAGE = "NotImplementedError: replace this line with your implementation"
DUEDATE = datetime(2026, 10, 1, 12, 0, 0)
LATE_BY = timedelta(hours=2)
NOTEBOOK = "exercise"


def check_ids(assignment: str, checks: int) -> list[str]:
    return [f"{assignment}.check_{k + 1}" for k in range(checks)]


def outcomes(kind: str, checks: list[str], variant: int = 0) -> list[Outcome]:
    """The outcome of every check for a student of ``kind`` (``variant`` changes the numbers shown)."""
    found = []
    for k, check in enumerate(checks):
        if kind == "blank":
            found.append(check_outcomes.from_message(check, False, BLANK_MESSAGE))
        elif (kind, k) in (("wrong_first", 0), ("wrong_second", 1)):
            message = (f"{check} failed: parameter 0 differs from the expected values\n"
                       f"  at step {2 + variant % 5} of 10 (steps counted from 1)\n"
                       f"  expected: [{0.5 + variant:.3f}]\n  obtained: [{0.25 + variant:.3f}]\n"
                       f"Hint: {HINTS[k]}")
            found.append(check_outcomes.from_message(check, False, message))
        else:
            found.append(Outcome(check, True))
    return found


def _kinds(plan: dict[str, int]) -> list[str]:
    for kind in plan:
        if kind not in KINDS:
            raise ValueError(f"plan: unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    return [kind for kind, count in plan.items() for _ in range(count)]


def _autograded_notebook(found: list[Outcome]) -> dict:
    cells = []
    for index, outcome in enumerate(found):
        cell = {"cell_type": "code", "execution_count": None, "outputs": [], "source": "",
                "metadata": {"nbgrader": {"grade": True, "grade_id": f"test_{index + 1}", "points": 1}}}
        cell["metadata"][check_outcomes.METADATA_KEY] = {check_outcomes.CHECKS_KEY: [
            {"check": o.check, "passed": o.passed, "headline": o.headline, "hint": o.hint, "message": o.message}
            for o in [outcome]]}
        cells.append(cell)
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def build_class(root: Path, plan: dict[str, int], assignments: list[str], checks: int = 4,
                late_every: int = 0, db_url: str | None = None) -> Course:
    """Write the synthetic class into ``root`` (a new folder); the :class:`Course` to read it.

    ``db_url`` is the gradebook (an empty database); default ``<root>/gradebook.db`` (SQLite).
    """
    kinds = _kinds(plan)
    if checks < 2:
        raise ValueError(f"checks must be >= 2 (the wrong kinds fail the first and the second), got {checks}")
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    course = Course(root=root, source=root / "source", db_url=db_url or f"sqlite:///{root / 'gradebook.db'}")
    students = [f"s{i + 1:04d}" for i in range(len(kinds))]
    rows = ["assignment,student_id,score,max_score,status,reason"]
    with warnings.catch_warnings(), open_gradebook(course) as gb:
        warnings.simplefilter("ignore", SAWarning)
        people = {student: gb.add_student(student) for student in students}
        for assignment in assignments:
            ids = check_ids(assignment, checks)
            record = gb.add_assignment(assignment, duedate=DUEDATE)
            notebook = gb.add_notebook(NOTEBOOK, assignment)
            cells = [gb.add_grade_cell(f"test_{k + 1}", NOTEBOOK, assignment, max_score=1.0, cell_type="code")
                     for k in range(checks)]
            submitting = 0
            for index, (student, kind) in enumerate(zip(students, kinds)):
                if kind == "missing":
                    rows.append(f"{assignment},{student},0.0,{checks},not_submitted,")
                    continue
                submitting += 1
                late = bool(late_every) and submitting % late_every == 0
                found = outcomes(kind, ids, index)
                # what nbgrader's add_submission and autograde leave, in one transaction per assignment
                submission = SubmittedAssignment(assignment=record, student=people[student],
                                                 timestamp=DUEDATE + (LATE_BY if late else -timedelta(hours=1)))
                graded = SubmittedNotebook(notebook=notebook, assignment=submission)
                for cell, outcome in zip(cells, found):
                    Grade(cell=cell, notebook=graded, auto_score=1.0 if outcome.passed else 0.0)
                gb.db.add(submission)
                folder = root / "autograded" / student / assignment
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{NOTEBOOK}.ipynb").write_text(json.dumps(_autograded_notebook(found)))
                rows.append(f"{assignment},{student},{sum(o.passed for o in found)},{checks},graded,")
            gb.db.commit()
    (root / "grades.csv").write_text("\n".join(rows) + "\n")
    return course
