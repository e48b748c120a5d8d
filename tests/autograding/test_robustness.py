"""Broken submissions are graded or reported with a reason, never credited, never stop the batch."""
from __future__ import annotations

import html
import re

import nbformat
import pytest

import autograding_probe as probe
from nbgrader.api import Gradebook

EXPECTED = {  # student -> (score, status, words the reason must contain)
    "good": (5, "graded", ""),
    "untouched": (0, "graded", ""),
    "loop": (3, "timeout", "test_double"),
    "syntax": (3, "graded", ""),
    "exits": (0, "kernel_died", "double"),
    "memory": (3, "graded", ""),
    "printer": (5, "graded", "truncated"),
    "notjson": (0, "invalid_notebook", "not valid JSON"),
    "renamed": (5, "graded", "renamed"),
    "nonotebook": (0, "missing_notebook", "probe.ipynb"),
    "twonotebooks": (0, "missing_notebook", "a.ipynb"),
    "stderr": (5, "graded", ""),
    "visibleonly": (3, "graded", ""),
    "edited": (3, "graded", ""),
    "deleted": (3, "graded", "re-inserted"),
    "stripped": (5, "graded", "restored"),
    "strippedbad": (3, "graded", "restored"),
    "retyped": (5, "graded", "restored"),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_case_is_graded_or_reported(robust_batch, student):
    _, _, rows, _ = robust_batch
    score, status, words = EXPECTED[student]
    row = rows[student]
    assert (float(row["score"]), row["status"]) == (score, status), row
    assert words in row["reason"]
    if status != "graded":
        assert row["reason"], "a status other than graded always carries a reason"


def test_no_hidden_test_line_in_any_feedback(robust_batch):
    course, _, _, _ = robust_batch
    pages = sorted(course.feedback.glob("*/probe/*.html"))
    assert len(pages) >= 12
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        for line in probe.HIDDEN_LINES:
            assert line not in text, f"{page}: hidden test shown"
            assert line.split(",")[0] not in text, f"{page}: hidden assert shown"
        assert "# hidden test" in text


def test_hidden_failure_message_reaches_the_student(robust_batch):
    course, _, _, _ = robust_batch
    text = html.unescape(re.sub(r"<[^>]+>", "", (course.feedback / "visibleonly/probe/probe.html").read_text()))
    assert "should be -6 (hidden)" in text


def test_huge_output_is_cut_everywhere(robust_batch):
    course, _, _, _ = robust_batch
    assert (course.autograded / "printer/probe/probe.ipynb").stat().st_size < 500_000
    assert (course.feedback / "printer/probe/probe.html").stat().st_size < 1_000_000


def test_submissions_are_left_untouched(robust_batch):
    course, _, _, release = robust_batch
    nb = nbformat.read(course.submitted / "stripped/probe/probe.ipynb", as_version=4)
    assert all("nbgrader" not in c.metadata for c in nb.cells)


def test_broken_submissions_leave_no_grade_in_the_gradebook(robust_batch):
    course, _, _, _ = robust_batch
    with Gradebook(course.db_url, course.course_id) as gb:
        graded = {s.student.id for s in gb.find_assignment(probe.ASSIGNMENT).submissions}
    assert {"notjson", "nonotebook", "twonotebooks"}.isdisjoint(graded)
    assert {"good", "exits", "loop"} <= graded
