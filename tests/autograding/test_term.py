"""An instructor's term on the probe course: students submit through a real nbgrader exchange,
the batch grades, then deadlines, selection and feedback release (docs/instructors.md)."""
from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
import zipfile
from pathlib import Path

import autograding_probe as probe
import nbformat
import pytest
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import (
    ExchangeCollect,
    ExchangeFetchAssignment,
    ExchangeFetchFeedback,
    ExchangeReleaseAssignment,
    ExchangeSubmit,
)
from nbgrader.utils import parse_utc
from traitlets.config import Config

from course_grader.pipeline import batch, cli, scratch
from course_grader.term.__main__ import main as term

NBGRADER = str(Path(sys.executable).with_name("nbgrader"))


def _exchange(step: type, config: Config, **coursedir) -> None:
    c = Config()
    c.merge(config)
    for key, value in coursedir.items():
        setattr(c.CourseDirectory, key, value)
    step(coursedir=CourseDirectory(config=c), authenticator=Authenticator(config=c), config=c).start()


def _rows(course) -> dict[str, dict]:
    return {row["student_id"]: row for row in csv.DictReader(open(course.grades_csv))}


@pytest.fixture(scope="module")
def term_course(tmp_path_factory):
    """alice submits through the exchange (nbgrader fetch, submit, collect), bob's folder is copied
    in by hand (no timestamp.txt); both graded once. (course, alice's home, exchange config)."""
    root = tmp_path_factory.mktemp("term")
    course, release = probe.probe_course(root)
    exchange_root, alice = root / "exchange", root / "alice"
    for folder in (exchange_root, alice, root / "cache"):
        folder.mkdir()
    exchange_root.chmod(0o777)
    (course.root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course.root)!r}\n"
        "c.CourseDirectory.course_id = 'optim-course'\n"
        f"c.CourseDirectory.source_directory = {str(course.source)!r}\n"
        f"c.CourseDirectory.db_url = {course.db_url!r}\n"
        f"c.Exchange.root = {str(exchange_root)!r}\n")
    config = Config()
    config.CourseDirectory.course_id = "optim-course"
    config.Exchange.root = str(exchange_root)
    config.Exchange.cache = str(root / "cache")
    config.Exchange.assignment_dir = str(alice)
    _exchange(ExchangeReleaseAssignment, config, root=str(course.root), release_directory=str(course.release),
              assignment_id=probe.ASSIGNMENT)
    _exchange(ExchangeFetchAssignment, config, assignment_id=probe.ASSIGNMENT)
    nbformat.write(probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE),
                   alice / probe.ASSIGNMENT / f"{probe.NOTEBOOK}.ipynb")
    _exchange(ExchangeSubmit, config, assignment_id=probe.ASSIGNMENT, student_id="alice")
    _exchange(ExchangeCollect, config, root=str(course.root), assignment_id=probe.ASSIGNMENT)
    scratch.submit(course, "bob", probe.ASSIGNMENT, probe.with_solutions(release, probe.GOOD_DOUBLE), "probe.ipynb")
    report = batch.grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None)
    assert sorted(report.regraded) == [("alice", "probe"), ("bob", "probe")]
    return course, alice, config


def test_feedback_is_released_and_fetched_through_the_exchange(term_course):
    course, alice, config = term_course
    submitted = (course.submitted / "alice" / "probe" / "timestamp.txt").read_text()
    for base in (course.autograded, course.feedback):
        assert (base / "alice" / "probe" / "timestamp.txt").read_text() == submitted
        assert (base / "bob" / "probe" / "timestamp.txt").exists()  # no exchange: the grading time
    done = subprocess.run([NBGRADER, "release_feedback", "probe"], cwd=course.root, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    _exchange(ExchangeFetchFeedback, config, assignment_id="probe", student_id="alice")
    fetched = list((alice / "probe" / "feedback").glob("*/probe.html"))
    assert len(fetched) == 1 and "5 / 5" in fetched[0].read_text().replace("5.0", "5")


def test_changed_due_date_recomputes_only_penalties(term_course, monkeypatch, capsys):
    course, _, _ = term_course
    def no_grading(*args, **kwargs):
        raise AssertionError("a notebook was run")
    monkeypatch.setattr(batch, "_run_jobs", no_grading)
    monkeypatch.setattr("nbgrader.converters.Autograde.start", no_grading)
    submitted = parse_utc((course.submitted / "alice" / "probe" / "timestamp.txt").read_text().strip())
    due = (submitted - dt.timedelta(days=2, hours=3, minutes=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    policy = f'[due]\nprobe = "{due}"\n[penalty]\nrule = "per_day"\npercent_per_day = 10\ncap_percent = 50\n'
    try:
        course.policy_file.write_text(policy)
        assert term(["deadlines", "--course", str(course.root)]) == 0
        alice, bob = _rows(course)["alice"], _rows(course)["bob"]
        assert (alice["raw_score"], alice["late_submission_penalty"], alice["score"]) == ("5.0", "1.5", "3.5")
        assert alice["penalty_reason"] == "late 2 d 3 h: -30 %"
        assert "raw 5 - 1.5 (late 2 d 3 h: -30 %)" in capsys.readouterr().out
        assert (bob["score"], bob["penalty_reason"]) == ("2.0", "no submission time (timestamp.txt): counted on time")
        course.policy_file.write_text(policy + "[extensions]\nalice = { probe = 3 }\n")
        assert term(["deadlines", "--course", str(course.root)]) == 0
        assert (_rows(course)["alice"]["score"], _rows(course)["alice"]["penalty_reason"]) == ("5.0", "")
        course.policy_file.write_text(policy.replace('rule = "per_day"', 'rule = "weekly"'))
        assert term(["deadlines", "--course", str(course.root)]) == 2
        assert "penalty.rule must be one of 'none', 'zero', 'per_day', got 'weekly'" in capsys.readouterr().err
    finally:
        course.policy_file.unlink()
        term(["deadlines", "--course", str(course.root)])
    assert _rows(course)["alice"]["score"] == "5.0"


def test_selection_regrades_only_the_selected_submission(term_course, capsys):
    course, _, _ = term_course
    before = _rows(course)
    alice_nb = course.autograded / "alice" / "probe" / "probe.ipynb"
    alice_mtime, bob_mtime = alice_nb.stat().st_mtime_ns, (course.autograded / "bob" / "probe" / "probe.ipynb").stat().st_mtime_ns
    argv = ["--course", str(course.root), "--no-sandbox", "--no-canary", "--jobs", "1", "--timeout", "5", "--progress", "none"]
    assert cli.main(argv + ["--assignment", "nope"]) == 2
    assert "--assignment 'nope' is not an assignment of the course (allowed: probe)" in capsys.readouterr().err
    assert cli.main(argv + ["--student", "bob", "--assignment", "probe", "--force"]) == 0
    assert "1 graded, 0 unchanged" in capsys.readouterr().out
    after = _rows(course)
    assert after["alice"] == before["alice"] and alice_nb.stat().st_mtime_ns == alice_mtime
    assert (course.autograded / "bob" / "probe" / "probe.ipynb").stat().st_mtime_ns != bob_mtime
    assert after["bob"]["score"] == before["bob"]["score"]


def test_release_writes_a_zip_or_a_folder_per_student(term_course, tmp_path):
    course, _, _ = term_course
    assert term(["release", "--course", str(course.root), "--to", str(tmp_path / "zips"), "--zip"]) == 0
    assert sorted(p.name for p in (tmp_path / "zips").iterdir()) == ["alice.zip", "bob.zip"]
    with zipfile.ZipFile(tmp_path / "zips" / "alice.zip") as archive:
        assert archive.namelist() == ["probe/probe.html"]
        assert b"Content-Security-Policy" in archive.read("probe/probe.html")
    assert term(["release", "--course", str(course.root), "--to", str(tmp_path / "dirs")]) == 0
    assert (tmp_path / "dirs" / "bob" / "probe" / "probe.html").read_bytes() == \
        (course.feedback / "bob" / "probe" / "probe.html").read_bytes()
    assert term(["release", "--course", str(course.root), "--to", str(tmp_path / "none"), "--assignment", "x"]) == 2


def test_a_bad_policy_stops_the_batch_before_anything_is_graded(term_course, monkeypatch, capsys):
    course, _, _ = term_course
    monkeypatch.setattr(batch, "_run_jobs", lambda *a, **k: pytest.fail("a submission was graded"))
    before = course.grades_csv.read_text()
    try:
        course.policy_file.write_text('[due]\nprobe = "2026-10-12 23:59"\n[penalty]\nrule = "per_day"\n')
        assert cli.main(["--course", str(course.root), "--no-sandbox", "--no-canary", "--force"]) == 2
    finally:
        course.policy_file.unlink()
    assert "penalty.percent_per_day must be set (a percentage between 0 and 100) when rule is 'per_day'" \
        in capsys.readouterr().err
    assert course.grades_csv.read_text() == before
