"""Autograded and manually graded points of each submission, read from the gradebook.

A grade cell is *manually graded* when it is also a solution cell (``solution: true, grade:
true``: a chapter's written answer). nbgrader gives it no automatic score (0 when the student
left "YOUR ANSWER HERE" untouched) and the instructor sets its ``manual_score`` in the
formgrader. Every other grade cell is *autograded* (a hidden check). Per submission::

    auto   = sum of Grade.score over autograded cells
    manual = sum of Grade.score over manually graded cells   (manual_score, else auto_score, else 0)
    auto + manual = nbgrader's raw score (the total before any late penalty)

``manual_status`` is ``none`` (the assignment has no manually graded points), ``to_grade``
(an answer still waits for the instructor's score) or ``graded``.

nbgrader keeps a manual score and comment while the answer cell's source is unchanged, so a
regrade of the autograded part (``python -m course_grader --force``) keeps them; a regrade
that fails (status ``failed``: the grader, not the submission) keeps the earlier grade with
them (:func:`held`) instead of dropping the submission from the gradebook.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    """One submission's points, autograded and manual, with their maxima."""

    auto: float = 0.0
    auto_max: float = 0.0
    manual: float = 0.0
    manual_max: float = 0.0
    to_grade: int = 0  # manually graded answers still without the instructor's score

    @property
    def status(self) -> str:
        if self.manual_max == 0:
            return "none"
        return "to_grade" if self.to_grade else "graded"


def manual_cells(notebook) -> set[str]:
    """Names of the notebook's grade cells that are also solution cells (graded by hand)."""
    return {c.name for c in notebook.grade_cells} & {c.name for c in notebook.solution_cells}


def split_scores(db_url: str, course_id: str) -> dict[tuple[str, str], Split]:
    """``{(student, assignment): Split}`` for every submission in the gradebook (four queries, whatever the class size)."""
    from nbgrader.api import (
        Assignment,
        Grade,
        Gradebook,
        GradeCell,
        Notebook,
        SolutionCell,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )  # the gradebook's ORM is heavy; only here

    found: dict[tuple[str, str], dict] = {}
    with Gradebook(db_url, course_id) as gb:
        in_course = Assignment.course_id == course_id
        solutions = set(gb.db.query(SolutionCell.notebook_id, SolutionCell.name)
                        .join(Notebook, SolutionCell.notebook_id == Notebook.id)
                        .join(Assignment, Notebook.assignment_id == Assignment.id).filter(in_course))
        manual = {cell_id for cell_id, notebook, name in gb.db.query(GradeCell.id, GradeCell.notebook_id, GradeCell.name)
                  .join(Notebook, GradeCell.notebook_id == Notebook.id)
                  .join(Assignment, Notebook.assignment_id == Assignment.id).filter(in_course)
                  if (notebook, name) in solutions}
        rows = (gb.db.query(Student.id, Assignment.name, Grade.cell_id, Grade.score, Grade.max_score,
                            Grade.auto_score, Grade.manual_score)
                .select_from(Grade)
                .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                .join(Student, SubmittedAssignment.student_id == Student.id)
                .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                .filter(in_course))
        for student, assignment, cell_id, score, max_score, auto_score, manual_score in rows:
            totals = found.setdefault((student, assignment), {"auto": 0.0, "auto_max": 0.0, "manual": 0.0,
                                                              "manual_max": 0.0, "to_grade": 0})
            kind = "manual" if cell_id in manual else "auto"
            totals[kind] += float(score or 0.0)
            totals[f"{kind}_max"] += float(max_score or 0.0)
            if kind == "manual" and manual_score is None and auto_score is None:
                totals["to_grade"] += 1  # answered, not graded yet (nbgrader's needs_manual_grade also
                # flags graded answers again after each autograde, for review)
        # submissions without any grade cell still have a row
        for student, assignment in (gb.db.query(Student.id, Assignment.name).select_from(SubmittedAssignment)
                                    .join(Student, SubmittedAssignment.student_id == Student.id)
                                    .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                                    .filter(in_course)):
            found.setdefault((student, assignment), {"auto": 0.0, "auto_max": 0.0, "manual": 0.0,
                                                     "manual_max": 0.0, "to_grade": 0})
    return {key: Split(**totals) for key, totals in found.items()}


def held(db_url: str, course_id: str, student: str, assignment: str) -> bool:
    """Whether the instructor gave this submission a manual score or comment (which a dropped
    submission would lose)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return False
        return any(grade.manual_score is not None for nb in submission.notebooks for grade in nb.grades) or any(
            comment.manual_comment for nb in submission.notebooks for comment in nb.comments)


def columns(split: Split | None) -> dict[str, str]:
    """The grades.csv columns of a split (empty strings where there is no submission)."""
    if split is None:
        return {"auto_score": "", "auto_max_score": "", "manual_score": "", "manual_max_score": "",
                "manual_status": ""}
    return {"auto_score": _number(split.auto), "auto_max_score": _number(split.auto_max),
            "manual_score": _number(split.manual), "manual_max_score": _number(split.manual_max),
            "manual_status": split.status}


def _number(value: float) -> str:
    return str(round(float(value), 6))  # as nbgrader's export writes scores: 10.0, 1.5
