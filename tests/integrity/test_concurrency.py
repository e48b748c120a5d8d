"""Two ``make autograde`` on the same course at once: the second never corrupts a grade.

The first run (the command line, in a subprocess) grades an honest correct, an honest wrong
and a slow student. While it holds the course's lock, a second run on the same course exits
with status 3 and a message, and the pipeline called directly raises ``CourseBusy``, both
before touching anything; a run started with ``--wait`` queues behind the first. Every
student ends with exactly the score one run alone gives, and the gradebook is intact.
"""
from __future__ import annotations

import csv
import fcntl
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from autograding import autograding_probe as probe
from course_grader.pipeline import scratch
from course_grader.pipeline.batch import CourseBusy, grade_course

#: the slow student's kernel waits for this file (graded without the sandbox: it sees the host)
SLOW_DOUBLE = ("import os, time\nwhile not os.path.exists({flag!r}):\n    time.sleep(0.1)\n"
               "def double(x):\n    return 2 * x")
EXPECTED = {"honest_correct": ("5.0", "graded"), "honest_wrong": ("3.0", "graded"), "slow": ("5.0", "graded")}


def _cli(course_root, *extra):
    command = [sys.executable, "-m", "course_grader", "--course", str(course_root), "--jobs", "1",
               "--timeout", "200", "--no-sandbox", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "AUTOGRADE_NO_SANDBOX": "1"})


def _locked(course) -> bool:
    if not course.lock_file.exists():
        return False
    fd = os.open(course.lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrency")
    course, release = probe.probe_course(root)
    (course.root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.source_directory = {str(course.source)!r}\n"
        f"c.CourseDirectory.db_url = {course.db_url!r}\n"
        f"c.CourseDirectory.course_id = {course.course_id!r}\n")
    scratch.submit(course, "honest_correct", probe.ASSIGNMENT,
                   probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE), "probe.ipynb")
    scratch.submit(course, "honest_wrong", probe.ASSIGNMENT,
                   probe.with_solutions(release, "def double(x):\n    return 0", probe.GOOD_SQUARE), "probe.ipynb")
    flag = course.root.parent / "go"
    scratch.submit(course, "slow", probe.ASSIGNMENT,
                   probe.with_solutions(release, SLOW_DOUBLE.format(flag=str(flag)), probe.GOOD_SQUARE), "probe.ipynb")
    return course, flag


def _rows(course):
    with open(course.grades_csv, newline="") as fh:
        return {row["student_id"]: (row["score"], row["status"]) for row in csv.DictReader(fh)}


def _wait_for_lock(course, first, seconds=120):
    deadline = time.monotonic() + seconds
    while not _locked(course):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.05)


def test_a_second_run_stops_with_a_message_and_changes_nothing(course):
    course, flag = course
    flag.unlink(missing_ok=True)
    first = _cli(course.root, "--force")
    _wait_for_lock(course, first)
    second = _cli(course.root, "--force")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 3, (out, err)
    assert "another autograde run" in err
    with pytest.raises(CourseBusy):
        grade_course(course, probe.SETTINGS, jobs=1, force=True, log=lambda _: None)
    flag.touch()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, (out, err)
    rows = _rows(course)
    assert {s: rows[s] for s in EXPECTED} == EXPECTED


def test_a_waiting_run_queues_behind_the_first(course):
    course, flag = course
    flag.unlink(missing_ok=True)
    first = _cli(course.root, "--force")
    _wait_for_lock(course, first)
    second = _cli(course.root, "--force", "--wait")
    time.sleep(20)  # the second run starts and waits for the lock
    assert second.poll() is None
    flag.touch()
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (out, err)
    rows = _rows(course)
    assert {s: rows[s] for s in EXPECTED} == EXPECTED
    with sqlite3.connect(course.db_url.removeprefix("sqlite:///")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        graded = db.execute("SELECT count(*) FROM submitted_assignment").fetchone()[0]
    assert graded == len(EXPECTED)
