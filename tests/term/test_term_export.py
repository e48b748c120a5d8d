"""``python -m course_grader.term export``: Canvas's and Moodle's import files, cell by cell
against files checked in beside this test, and the per-check breakdown, from a small gradebook
and the ``grades.csv`` the pipeline writes for it (no notebook is run)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from term.term_course import make_course

from course_grader.pipeline.batch import prepare_gradebook
from course_grader.pipeline.course import Course
from course_grader.pipeline.grades import write_grades_csv
from course_grader.pipeline.submission import Result
from course_grader.term.__main__ import main
from course_grader.term.export import check_status, final_score, parse_columns

EXPECTED = Path(__file__).resolve().parent / "expected"
ROSTER = [
    {"student_id": "ada", "name": "Ada Adams", "email": "ada@example.org", "lms_id": "1001", "section": "A"},
    {"student_id": "george", "name": "=HYPERLINK(\"http://x\")", "email": "george@example.org",
     "lms_id": "1002", "section": "@A"},
    {"student_id": "marie", "name": "Marie Curie", "email": "marie@example.org", "lms_id": "1003", "section": "B"},
    {"student_id": "grace", "name": "Grace Hopper", "email": "", "lms_id": "", "section": "B"},
    {"student_id": "alan", "name": "Alan Turing", "email": "alan@example.org", "lms_id": "1005", "section": "B"},
]
# assignment -> notebook, {grade cell: max points}
CELLS = {"01_gradient_descent": ("gradient_descent", {"hidden_a": 2.0, "hidden_b": 2.0, "visible": 0.0}),
         "02_adam": ("adam", {"hidden_first_step": 2.0, "hidden_matches_torch": 3.0})}
# (student, assignment) -> points per grade cell
SCORES = {("ada", "01_gradient_descent"): {"hidden_a": 2.0, "hidden_b": 2.0, "visible": 0.0},
          ("ada", "02_adam"): {"hidden_first_step": 2.0, "hidden_matches_torch": 1.5},
          ("george", "02_adam"): {"hidden_first_step": 0.0, "hidden_matches_torch": 3.0},
          ("grace", "01_gradient_descent"): {"hidden_a": 2.0, "hidden_b": 0.0, "visible": 0.0},
          ("zed", "02_adam"): {"hidden_first_step": 2.0, "hidden_matches_torch": 3.0}}
RESULTS = [Result("ada", "01_gradient_descent", "graded"), Result("ada", "02_adam", "timeout", "cell 3 interrupted"),
           Result("george", "02_adam", "graded"), Result("grace", "01_gradient_descent", "graded"),
           Result("zed", "02_adam", "graded"),
           Result("marie", "02_adam", "missing_notebook", "no notebook in the folder")]
# the commands of docs/instructors.md, "Export to the LMS" (tests/term/test_term_docs.py)
COMMANDS = {"canvas": ["export", "--format", "canvas", "--column", "02_adam=Adam (4321)"],
            "moodle": ["export", "--format", "moodle"],
            "checks": ["export", "--format", "checks"]}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """``<tmp>/graders`` with its gradebook and grades.csv; the tmp folder is returned."""
    tmp = tmp_path_factory.mktemp("export")
    graders = make_course(tmp, ROSTER)
    course = Course.from_directory(graders)
    prepare_gradebook(course.db_url, course)
    with Gradebook(course.db_url, course.course_id) as gb:
        for assignment, (notebook, cells) in CELLS.items():
            gb.add_assignment(assignment)
            gb.add_notebook(notebook, assignment)
            for cell, points in cells.items():
                gb.add_grade_cell(cell, notebook, assignment, max_score=points, cell_type="code")
                if cell.startswith("hidden_"):  # the source as the gradebook keeps it, hidden test included
                    gb.add_source_cell(cell, notebook, assignment, cell_type="code", locked=True,
                                       source=f'# {cell}\ncheck("{assignment}.{cell[7:]}", Optimizer)')
        for student in ("ada", "george", "marie", "grace", "alan", "zed"):
            gb.add_student(student)
        with gb.db.no_autoflush:  # nbgrader adds a submission's parts before the submission
            for student, assignment in SCORES:
                gb.add_submission(assignment, student)
    with Gradebook(course.db_url, course.course_id) as gb:
        for (student, assignment), points in SCORES.items():
            for cell, score in points.items():
                gb.find_grade(cell, CELLS[assignment][0], assignment, student).auto_score = score
        gb.db.commit()
    write_grades_csv(course, course.db_url, RESULTS)
    return tmp


def _run(course: Path, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    monkeypatch.chdir(course)
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def _cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("fmt", ["canvas", "moodle"])
def test_lms_file_matches_the_expected_file_cell_by_cell(course, monkeypatch, capsys, fmt):
    status, out, err = _run(course, monkeypatch, capsys, *COMMANDS[fmt])
    assert status == 0, err
    written = course / "graders" / "export" / f"{fmt}.csv"
    assert out == f"wrote graders/export/{fmt}.csv ({len(_cells(written)) - 1} rows)\n".replace(
        "graders/export", str(course / "graders" / "export"))
    got, expected = _cells(written), _cells(EXPECTED / f"{fmt}.csv")
    assert len(got) == len(expected)
    for row, (got_row, expected_row) in enumerate(zip(got, expected)):
        assert got_row == expected_row, f"row {row}"


def test_lms_export_lists_what_it_did_not_export(course, monkeypatch, capsys):
    _, _, canvas_err = _run(course, monkeypatch, capsys, *COMMANDS["canvas"])
    assert canvas_err.splitlines() == [
        "  marie/02_adam: missing_notebook: exported empty (no notebook in the folder)",
        "  grace: no lms_id in the roster: not exported (canvas could not match the row)",
        "  zed: in grades.csv but not in the roster: not exported",
    ]
    _, _, moodle_err = _run(course, monkeypatch, capsys, *COMMANDS["moodle"])
    assert "  grace: no email in the roster: not exported (moodle could not match the row)" in moodle_err


def test_checks_breakdown(course, monkeypatch, capsys):
    status, _, err = _run(course, monkeypatch, capsys, *COMMANDS["checks"])
    assert status == 0, err
    rows = _cells(course / "graders" / "export" / "checks.csv")
    assert rows[0] == ["student_id", "assignment", "notebook", "cell", "checks", "points", "max_points", "status",
                       "submission_status", "graded_by"]
    assert ["ada", "02_adam", "adam", "hidden_matches_torch", "02_adam.matches_torch", "1.5", "3.0", "partial",
            "timeout", "checks"] in rows
    assert ["george", "02_adam", "adam", "hidden_first_step", "02_adam.first_step", "0.0", "2.0", "failed",
            "graded", "checks"] in rows
    assert ["grace", "01_gradient_descent", "gradient_descent", "visible", "", "0.0", "0.0", "no_points",
            "graded", "checks"] in rows
    assert len(rows) == 1 + sum(len(points) for points in SCORES.values())


def test_final_score_is_empty_for_what_is_not_a_grade():
    assert final_score({"status": "graded", "score": "3.5"}) == 3.5
    assert final_score({"status": "timeout", "score": "1.0"}) == 1.0
    for status in ("not_submitted", "missing_notebook", "failed", "unknown_assignment", "invalid_name"):
        assert final_score({"status": status, "score": "0.0"}) is None
    assert [check_status(*p) for p in [(None, 2), (0, 0), (2, 2), (0, 2), (1, 2)]] == [
        "not_graded", "no_points", "passed", "failed", "partial"]


def test_bad_arguments(course, monkeypatch, capsys):
    with pytest.raises(ValueError, match="--column='02_adam' is not allowed"):
        parse_columns(["02_adam"])
    status, _, err = _run(course, monkeypatch, capsys, *COMMANDS["canvas"], "--course", "nowhere")
    assert status == 2 and "grades.csv' does not exist: grade the course first" in err
    with pytest.raises(SystemExit):
        main(["export", "--format", "blackboard"])
