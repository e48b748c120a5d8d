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
    """``{(student, assignment): Split}`` for every submission in the gradebook."""
    from nbgrader.api import Gradebook  # the gradebook's ORM is heavy; only here

    found: dict[tuple[str, str], Split] = {}
    with Gradebook(db_url, course_id) as gb:
        for assignment in gb.assignments:
            manual_by_notebook = {nb.name: manual_cells(nb) for nb in assignment.notebooks}
            for submission in assignment.submissions:
                totals = {"auto": 0.0, "auto_max": 0.0, "manual": 0.0, "manual_max": 0.0, "to_grade": 0}
                for notebook in submission.notebooks:
                    manual = manual_by_notebook.get(notebook.name, set())
                    for grade in notebook.grades:
                        kind = "manual" if grade.name in manual else "auto"
                        totals[kind] += float(grade.score or 0.0)
                        totals[f"{kind}_max"] += float(grade.max_score or 0.0)
                        if kind == "manual" and grade.manual_score is None and grade.auto_score is None:
                            totals["to_grade"] += 1  # answered, not graded yet (nbgrader's needs_manual_grade
                            # also flags graded answers again after each autograde, for review)
                found[(submission.student.id, assignment.name)] = Split(**totals)
    return found


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
