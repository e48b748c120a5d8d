"""The class report reads a PostgreSQL gradebook as it reads SQLite (one query for every score)."""
from __future__ import annotations

from autograding.conftest import postgres_server, postgres_url  # noqa: F401  (the private PostgreSQL server)

from course_grader.review import statistics
from course_grader.review.class_record import load
from course_grader.review.report import write_report
from course_grader.review.synthetic_class import build_class


def test_report_of_a_class_in_postgresql(tmp_path, postgres_url):  # noqa: F811
    course = build_class(tmp_path / "course", {"correct": 4, "wrong_first": 3, "blank": 1, "missing": 1},
                         ["01_first"], checks=2, late_every=4, db_url=postgres_url)
    (assignment,) = load(course).assignments
    assert sorted(statistics.scores(assignment)) == [0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert statistics.status_counts(assignment) == {"graded": 8, "not_submitted": 1}
    assert len(statistics.late(assignment)) == 2
    first, _ = statistics.check_summaries(assignment)
    assert (first.passed, first.submitted) == (4, 8)
    index = write_report(course, tmp_path / "out")
    assert "4 of 8 submissions pass (50%)" in (index.parent / "01_01_first.html").read_text()
