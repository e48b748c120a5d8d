"""Shared scratch batches for the autograding tests (graded once per test run, then inspected)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the probe module next to this file
import autograding_probe as probe  # noqa: E402
from course_lib.autograding import scratch  # noqa: E402
from course_lib.autograding.pipeline import grade_course  # noqa: E402


@pytest.fixture(scope="session")
def robust_batch(tmp_path_factory):
    """The robustness cases graded in one batch with 2 jobs: (course, report, rows by student)."""
    course, release = probe.probe_course(tmp_path_factory.mktemp("robust"))
    for student, (name, content) in probe.robustness_cases(release).items():
        scratch.submit(course, student, probe.ASSIGNMENT, content, name)
    scratch.submit(course, "nonotebook", probe.ASSIGNMENT, "my answers are in my head", "notes.txt")
    scratch.submit(course, "twonotebooks", probe.ASSIGNMENT, release, "a.ipynb")
    scratch.submit(course, "twonotebooks", probe.ASSIGNMENT, release, "b.ipynb")
    report = grade_course(course, probe.SETTINGS, jobs=2, log=lambda _: None)
    rows = {row["student_id"]: row for row in report.rows}
    return course, report, rows, release
