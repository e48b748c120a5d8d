"""grades.csv opens in a spreadsheet as text: no cell starts a formula, and scores stay numbers."""
from __future__ import annotations

import csv

import pytest
from nbgrader.api import Gradebook

from course_grader.pipeline.batch import prepare_gradebook
from course_grader.pipeline.course import Course
from course_grader.pipeline.grades import write_grades_csv
from course_grader.pipeline.spreadsheet_safe import FORMULA_STARTS, is_plain_number, safe_cell
from course_grader.pipeline.submission import Result

HOSTILE_IDS = ["=1+2*3", "@SUM(1+1)*cmd|' -c calc'!A0", "+1", "-cmd", "=HYPERLINK(\"x\",\"y\")"]


@pytest.mark.parametrize(("cell", "written"), [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("-1.5", "-1.5"), ("0.0", "0.0"), ("-2e-3", "-2e-3"), ("10", "10"), ("alice", "alice"),
    ("", ""), ("a=b", "a=b"), ("- 1", "'- 1"), ("-1.5+cmd", "'-1.5+cmd"), (-1.5, -1.5), (0.0, 0.0), (None, None),
])
def test_safe_cell_quotes_formulas_and_keeps_numbers(cell, written):
    assert safe_cell(cell) == written


def _assert_no_formula(path):
    """Every cell of the CSV at ``path`` is a plain number or starts with no formula character."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows:
        for cell in row:
            assert is_plain_number(cell) or not cell.startswith(FORMULA_STARTS), (cell, row)
    return rows


def _course(tmp_path) -> Course:
    root = tmp_path / "course"
    (root / "source" / "probe").mkdir(parents=True)
    return Course.from_directory(root)


def test_hostile_student_folders_are_refused(tmp_path):
    course = _course(tmp_path)
    for student in HOSTILE_IDS + ["alice", "bob.smith@uni.example"]:
        (course.submitted / student / "probe").mkdir(parents=True)
    (course.submitted / "carol" / "=probe").mkdir(parents=True)
    found = {(s, a): problem for s, a, problem in course.submission_folders()}
    assert {key for key, problem in found.items() if problem is None} == {
        ("alice", "probe"), ("bob.smith@uni.example", "probe")}
    for student in HOSTILE_IDS:
        assert "spreadsheets read as a formula" in found[(student, "?")]
    assert "spreadsheets read as a formula" in found[("carol", "=probe")]


def test_grades_csv_quotes_every_formula_cell(tmp_path):
    course = _course(tmp_path)
    prepare_gradebook(course.db_url, course)
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.add_assignment("probe")
        gb.add_student("mallory", last_name="=cmd|' /C calc'!A0", first_name="@SUM(1+1)", email="-x@example.org")
    results = [Result(student, "probe", "invalid_name", f"-{student}: not graded") for student in HOSTILE_IDS]
    results.append(Result("alice", "=unknown", "unknown_assignment", "+ no source"))
    returned = write_grades_csv(course, course.db_url, results)
    rows = _assert_no_formula(course.grades_csv)
    header, body = rows[0], [dict(zip(rows[0], row)) for row in rows[1:]]
    assert header[:4] == ["assignment", "duedate", "timestamp", "student_id"]
    assert {row["student_id"] for row in body} == {"mallory", "alice"} | {"'" + s for s in HOSTILE_IDS}
    mallory = next(row for row in body if row["student_id"] == "mallory")
    assert (mallory["last_name"], mallory["first_name"], mallory["email"]) == (
        "'=cmd|' /C calc'!A0", "'@SUM(1+1)", "'-x@example.org")
    assert all(float(row["score"]) == 0.0 and is_plain_number(row["score"]) for row in body)
    assert {row["student_id"] for row in returned} >= set(HOSTILE_IDS)  # the summary keeps the real ids
