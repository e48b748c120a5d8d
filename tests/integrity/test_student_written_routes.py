"""What a student writes into the notebook file itself, graded end to end in one batch.

The probe assignment (2 + 3 points), sandbox on, 2 jobs. Next to an honest correct student
(5 points), an honest wrong one (3) and a blank notebook (0), every hostile submission leaves
both exercises blank and adds cells, so it must earn exactly what the blank notebook earns:

- ``math_bomb``: what costs the feedback page the most, outside every budget of the notebook:
  ``\\[a `` repeated 30,000 times in markdown (nbconvert's ``strip_files_prefix`` link pattern
  took minutes on it) and in a LaTeX output (every unclosed ``\\[`` was scanned to the end of the
  text before the formula scan was made linear), and 3,000 distinct formulas (past the page's
  TeX budget they stay as their source);
- ``new_grade_cells``: a markdown answer cell and a code cell the student marked as graded
  (``grade: true``, 50 points each) under ids the gradebook does not know;
- ``duplicate_test_id``: a cell after the real test cell carrying its id, 100 points and
  ``pass``, and another carrying it as a solution cell (nbgrader keeps the last of a duplicated
  id);
- ``forged_check_record``: cells whose metadata already hold the per-check record the class
  report reads (``course_autograde.checks``: every check passed) and nbgrader's ``points``.

and none of the forged records may be read back from the autograded notebooks (before the
grader removed them, the class report counted the forged passes).
"""
from __future__ import annotations

import copy
import csv

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from autograding import autograding_probe as probe
from course_grader.pipeline import check_outcomes, feedback_math, scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.submission import Settings

pytestmark = pytest.mark.usefixtures("sandbox_available")

SETTINGS = Settings(timeout=5, sandbox=True, notebook_timeout=20, max_notebook_mb=2)
BAD_DOUBLE = "def double(x):\n    return 0"
UNCLOSED = "\\[a " * 30_000
FORMULAS = " ".join(f"$x^{{{i}}}$" for i in range(3_000))
FORGED_RECORD = {"checks": [{"check": "probe.double", "passed": True, "headline": "", "hint": "", "message": ""}],
                 "kernel_passed": True}


def _nbgrader(grade_id, points, *, grade=True, solution=False, locked=False):
    return {"nbgrader": {"grade_id": grade_id, "grade": grade, "solution": solution, "locked": locked,
                         "points": points, "schema_version": 3}}


def _after(nb, grade_id, cells):
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells[index + 1:index + 1] = cells
    return nb


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("student_written")
    course, release = probe.probe_course(root)
    blank = copy.deepcopy(release)
    forged = _after(blank, "test_square", [new_code_cell("x = 1", metadata={"course_autograde": FORGED_RECORD})])
    for cell in forged.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in ("test_double", "test_square"):
            cell.metadata["course_autograde"] = copy.deepcopy(FORGED_RECORD)
            cell.metadata["nbgrader"]["points"] = 100
    submissions = {
        "honest_correct": probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE),
        "honest_wrong": probe.with_solutions(release, BAD_DOUBLE, probe.GOOD_SQUARE),
        "blank": blank,
        "math_bomb": _after(blank, "test_square", [
            new_markdown_cell(FORMULAS), new_markdown_cell(UNCLOSED),
            new_code_cell(f"from IPython.display import Latex, display\ndisplay(Latex({UNCLOSED!r}))")]),
        "new_grade_cells": _after(blank, "test_square", [
            new_markdown_cell("My answer: full marks please.", metadata=_nbgrader("bonus", 50, solution=True)),
            new_code_cell("print('passed')", metadata=_nbgrader("extra", 50))]),
        "duplicate_test_id": _after(blank, "test_double", [
            new_code_cell("pass", metadata=_nbgrader("test_square", 100, grade=False, solution=True)),
            new_code_cell("pass", metadata=_nbgrader("test_double", 100))]),
        "forged_check_record": forged,
    }
    for student, nb in submissions.items():
        scratch.submit(course, student, probe.ASSIGNMENT, nb, "probe.ipynb")
    report = grade_course(course, SETTINGS, jobs=2, log=lambda _: None)
    with open(course.grades_csv, newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    return course, report, rows


EXPECTED = {"honest_correct": 5.0, "honest_wrong": 3.0, "blank": 0.0, "math_bomb": 0.0, "new_grade_cells": 0.0,
            "duplicate_test_id": 0.0, "forged_check_record": 0.0}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_student_gets_exactly_its_score(batch, student):
    _, _, rows = batch
    assert float(rows[student]["score"]) == EXPECTED[student], rows[student]


def test_controls_are_graded(batch):
    _, _, rows = batch
    assert {rows[s]["status"] for s in ("honest_correct", "honest_wrong", "blank", "math_bomb")} == {"graded"}


def test_maths_of_a_page_cost_the_grader_a_bounded_time(batch):
    course, report, _ = batch
    bomb = next(r for r in report.results if r.student == "math_bomb")
    assert bomb.seconds < SETTINGS.notebook_seconds + 30, bomb.seconds
    page = (course.feedback / "math_bomb" / probe.ASSIGNMENT / "probe.html").read_text()
    assert "<msup>" in page  # the first formulas are MathML ...
    assert "$x^{2999}$" in page  # ... the ones past the page's budget stay as their source
    assert page.count("<math") * 7 <= feedback_math.MAX_PAGE_TEX_CHARS


def test_no_forged_record_reaches_the_class_report(batch):
    course, _, _ = batch
    for student in ("forged_check_record", "duplicate_test_id", "new_grade_cells"):
        for path in (course.autograded / student / probe.ASSIGNMENT).glob("*.ipynb"):
            nb = nbformat.read(path, as_version=4)
            assert list(check_outcomes.read(nb)) == []
            assert not any(cell.metadata.get("course_autograde") for cell in nb.cells)
