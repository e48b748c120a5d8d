"""The autograde pipeline with a PostgreSQL gradebook, as docs/instructors.md describes it.

The tests start their own PostgreSQL server on 127.0.0.1 (the ``postgres_server`` fixture of
conftest.py: ``initdb`` into a scratch folder, ``pg_ctl start`` on a free port, trust
authentication, stopped and removed at the end) and point the pipeline at it with the
documented URL form ``postgresql://user@host:port/db``, which SQLAlchemy 2.1 serves with
psycopg 3 (pinned in requirements-dev.txt). Where no PostgreSQL server is installed the tests
are skipped, saying so.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the probe module next to this file
import autograding_probe as probe  # noqa: E402
from course_grader.pipeline import demo, scratch  # noqa: E402
from course_grader.pipeline.course import Course  # noqa: E402
from course_grader.pipeline.batch import ConfigurationError, grade_course  # noqa: E402
from course_grader.pipeline.submission import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(timeout=10, sandbox=False)


def _query(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


def test_plain_postgresql_url_uses_the_pinned_psycopg_3():
    from sqlalchemy.engine import make_url

    dialect = make_url("postgresql://grader:secret@db.example.org:5432/optim_course").get_dialect()
    assert dialect.driver == "psycopg"
    import psycopg

    assert psycopg.__version__.startswith("3.")


def test_the_pipeline_grades_into_a_postgresql_gradebook(postgres_url, tmp_path):
    source = tmp_path / "source"
    probe.write_source(source)
    course = Course(root=(tmp_path / "course").resolve(), source=source.resolve(), db_url=postgres_url)
    (course.root / "submitted").mkdir(parents=True)
    grade_course(course, SETTINGS, jobs=1, log=lambda _: None)  # records the assignment
    _, release = scratch.release_notebook(course, probe.ASSIGNMENT)
    submissions = {
        "good": probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE),
        "halfway": probe.with_solutions(release, "def double(x):\n    return 0", probe.GOOD_SQUARE),
        "untouched": release,
    }
    for student, nb in submissions.items():
        scratch.submit(course, student, probe.ASSIGNMENT, nb, "probe.ipynb")

    report = grade_course(course, SETTINGS, jobs=2, log=lambda _: None)  # two workers writing at once
    rows = {row["student_id"]: (row["score"], row["status"]) for row in report.rows}
    assert rows == {"good": ("5.0", "graded"), "halfway": ("3.0", "graded"), "untouched": ("0.0", "graded")}
    assert (course.root / "grades.csv").read_text().count("\n") == 4
    assert (course.feedback / "good" / probe.ASSIGNMENT / "probe.html").exists()

    # The grades are in the PostgreSQL database (nbgrader's tables), not in a SQLite file.
    assert not list(course.root.rglob("*.db"))
    students = {name for (name,) in _query(postgres_url, "SELECT id FROM student")}
    assert students == set(submissions)
    per_student = dict(_query(postgres_url, """
        SELECT submitted_assignment.student_id, SUM(grade.auto_score)
        FROM grade
        JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id
        JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id
        GROUP BY submitted_assignment.student_id"""))
    assert {k: float(v) for k, v in per_student.items()} == {"good": 5.0, "halfway": 3.0, "untouched": 0.0}

    # A second run over the unchanged folder regrades nothing and keeps every grade.
    again = grade_course(course, SETTINGS, jobs=2, log=lambda _: None)
    assert {row["student_id"]: (row["score"], row["status"]) for row in again.rows} == rows
    assert sorted(again.skipped) == sorted((student, probe.ASSIGNMENT) for student in submissions)


def test_grade_demo_uses_course_db_url(postgres_url, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DB_URL", postgres_url)
    assert demo.gradebook_url(tmp_path) == postgres_url
    monkeypatch.delenv("COURSE_DB_URL")
    assert demo.gradebook_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"


def test_grade_demo_refuses_a_gradebook_with_other_students(postgres_url):
    """The demo would overwrite the assignments of a real course sharing the database."""
    from nbgrader.api import Gradebook

    with Gradebook(postgres_url) as gb:
        gb.update_or_create_student("real-student-42")
    try:
        with pytest.raises(ConfigurationError, match="holds other students .*real-student-42"):
            demo.check_gradebook_is_the_demo_s(postgres_url)
    finally:
        with Gradebook(postgres_url) as gb:
            gb.remove_student("real-student-42")
    demo.check_gradebook_is_the_demo_s(postgres_url)
