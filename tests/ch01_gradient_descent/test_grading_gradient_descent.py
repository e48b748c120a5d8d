"""Grading chapter 1 in the judge: the ungraded mini-batch exercise sits beside the graded class."""
from __future__ import annotations

import nbformat
from chapter_notebook import ROOT

from course_grader.judge.trusted import judge_notebook
from course_grader.pipeline import scratch

SOURCE = ROOT / "solutions" / "01_gradient_descent" / "gradient_descent.ipynb"
STUDENT = ROOT / "notebooks" / "01_gradient_descent" / "gradient_descent.ipynb"


def test_the_mini_batch_exercise_finished_or_not_costs_no_points():
    source = nbformat.read(SOURCE, as_version=4)
    student = nbformat.read(STUDENT, as_version=4)
    trusted = [c.source for c in source.cells if "BEGIN HIDDEN TESTS" in c.source]
    finished = scratch.filled(student, source)
    unfinished = scratch.filled(student, source)
    for cell, starter in zip(unfinished.cells, student.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "minibatch_solution":
            cell.source = starter.source  # left as given: raises NotImplementedError when called
    for submitted in (finished, unfinished):
        verdicts = judge_notebook(submitted, trusted, timeout=120)
        assert len(verdicts) == 4
        assert all(v.passed for v in verdicts.values()), {k: v.message for k, v in verdicts.items()}
