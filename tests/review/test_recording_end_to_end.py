"""One real grading run records every check's verdict, and the report reads it.

Three submissions of chapter 1 go through ``python -m course_grader`` (no sandbox, one job, no
canary: the recording is what is tested): the reference solution, a known mistake
(tests/fixtures/implementations/01_gradient_descent/wrong_dampening.py) and the blank release.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_grader.pipeline import scratch
from course_grader.review import statistics
from course_grader.review.class_record import load

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01_gradient_descent"
WRONG = ROOT / "tests" / "fixtures" / "implementations" / ASSIGNMENT / "wrong_dampening.py"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("recording")
    shutil.copytree(scratch.SOLUTIONS / ASSIGNMENT, root / "source" / ASSIGNMENT)  # one chapter only
    course = scratch.new_course(root / "course", root / "source")
    (course.root / "nbgrader_config.py").write_text(
        f"c.CourseDirectory.source_directory = {str(course.source)!r}\n"
        f"c.CourseDirectory.db_url = {course.db_url!r}\n")
    name, release = scratch.release_notebook(course, ASSIGNMENT)
    filled = scratch.filled(release, scratch.source_notebook(course, ASSIGNMENT, name))
    for student, nb in {"stu_ref": filled, "stu_damp": scratch.with_implementation(filled, WRONG.read_text()),
                        "stu_blank": release}.items():
        scratch.submit(course, student, ASSIGNMENT, nb, f"{name}.ipynb")
    env = {**os.environ, "AUTOGRADE_NO_SANDBOX": "1"}
    run = subprocess.run([sys.executable, "-m", "course_grader", "--course", str(course.root), "--no-sandbox",
                          "--no-canary", "--jobs", "1", "--timeout", "120", "--progress", "lines"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = subprocess.run([sys.executable, "-m", "course_grader.term", "report", "--course", str(course.root)],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
    assert report.returncode == 0, report.stdout + report.stderr
    return course, load(course)


def test_every_check_verdict_is_recorded_with_its_hint(graded):
    _, record = graded
    (assignment,) = record.assignments
    by_student = {s.student: s for s in assignment.submissions}
    checks = {o.check for o in by_student["stu_ref"].outcomes}
    assert checks and all(o.passed for o in by_student["stu_ref"].outcomes)
    assert {o.check for o in by_student["stu_blank"].outcomes} == checks
    assert not any(o.passed for o in by_student["stu_blank"].outcomes)
    failed = [o for o in by_student["stu_damp"].outcomes if not o.passed]
    assert failed and all(o.hint and o.headline for o in failed), failed
    assert any(o.passed for o in by_student["stu_damp"].outcomes)
    autograded = assignment.max_score - assignment.manual_max  # the written answer waits for a person
    assert by_student["stu_ref"].auto_score == autograded > by_student["stu_damp"].auto_score


def test_the_report_of_the_graded_class(graded):
    course, record = graded
    (assignment,) = [a for a in record.assignments if a.name == ASSIGNMENT]
    summaries = statistics.check_summaries(assignment)
    assert all(s.submitted == 3 and 1 <= s.passed <= 2 for s in summaries)
    page = next((course.root / "reports").glob(f"*_{ASSIGNMENT}.html")).read_text()
    for summary in summaries:
        assert f'id="{summary.check}"' in page
    assert "stu_" not in page  # no student id without --show-students
