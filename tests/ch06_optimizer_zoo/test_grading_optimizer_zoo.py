"""Grading chapter 6 in the judge: five classes in five solution cells, an ungraded exercise beside them."""
from __future__ import annotations

import nbformat

from course_grader.pipeline import scratch
from course_grader.judge.trusted import judge_notebook
from chapter_notebook import ROOT

SOURCE = ROOT / "solutions" / "06_optimizer_zoo" / "optimizer_zoo.ipynb"
STUDENT = ROOT / "notebooks" / "06_optimizer_zoo" / "optimizer_zoo.ipynb"


def _grade_id(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def test_an_unfinished_exercise_costs_no_points_and_one_wrong_class_costs_only_its_own():
    source = nbformat.read(SOURCE, as_version=4)
    student = nbformat.read(STUDENT, as_version=4)
    trusted = [c.source for c in source.cells if "BEGIN HIDDEN TESTS" in c.source]
    submitted = scratch.filled(student, source)
    for cell, starter in zip(submitted.cells, student.cells):
        if _grade_id(cell) == "exercise_solution":
            cell.source = starter.source  # left as given: raises NotImplementedError
    lion = next(c for c in submitted.cells if _grade_id(c) == "lion_solution")
    lion.source = lion.source.replace("torch.sign(c)", "torch.sign(g)")
    verdicts = judge_notebook(submitted, trusted, timeout=120)
    assert len(verdicts) == 10
    failed = sorted(check_id for check_id, verdict in verdicts.items() if not verdict.passed)
    assert failed == ["lion.matches_paper", "lion.no_grad_many_steps"], {k: v.message for k, v in verdicts.items()}
