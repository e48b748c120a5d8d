"""Extracting solution cells and check calls from a notebook, and judging it."""

from __future__ import annotations

import nbformat

from course_grader.judge.trusted import find_checks, judge_notebook
from grading.grading_helpers import FIXTURES


def test_find_checks_reads_calls_in_order() -> None:
    source = '''from course_lib.checks import check
import course_lib.checks as grading
### BEGIN HIDDEN TESTS
check("adam.first_step", AdamOptimizer)
grading.check("adam.large_eps", AdamOptimizer)
### END HIDDEN TESTS
check(name, AdamOptimizer)
print("check('adam.many_steps', AdamOptimizer)")
'''
    assert find_checks(source) == [("adam.first_step", "AdamOptimizer"), ("adam.large_eps", "AdamOptimizer")]
    assert find_checks("def broken(:\n") == []


def _notebook(solution: str) -> nbformat.NotebookNode:
    def cell(source: str, **nbgrader) -> nbformat.NotebookNode:
        made = nbformat.v4.new_code_cell(source)
        made.metadata["nbgrader"] = dict(nbgrader, schema_version=3)
        return made

    return nbformat.v4.new_notebook(cells=[
        cell("import torch\nraise SystemExit('given cells are not run by the judge')", solution=False, grade=False),
        cell(solution, solution=True, grade=False, grade_id="solution"),
        cell('check("clipping.grad_norm", ClippingOptimizer)', solution=False, grade=True, points=1),
    ])


def test_judge_notebook_uses_solution_cells_and_trusted_tests() -> None:
    wrong = (FIXTURES / "05_gradient_clipping" / "wrong_norm_squared.py").read_text()
    trusted = ['from course_lib.checks import check\ncheck("clipping.grad_norm", ClippingOptimizer)',
               'check("clipping.clip_by_value", ClippingOptimizer)']
    bad = judge_notebook(_notebook(wrong), trusted, timeout=30)
    assert sorted(bad) == ["clipping.clip_by_value", "clipping.grad_norm"]
    assert not bad["clipping.grad_norm"].passed and bad["clipping.clip_by_value"].passed
