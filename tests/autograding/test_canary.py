"""The canary: a run grades each assignment's reference and blank release before any student,
stops before writing anything when they do not get full marks and 0, and ends honestly."""
from __future__ import annotations

import dataclasses
import json
import signal

import nbformat
import pytest
from nbgrader.api import Gradebook

import autograding_probe as probe
from course_grader.pipeline import batch, canary, cli, isolation, scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.submission import Result


def _course(tmp_path, edit=None):
    """A probe course whose source ``edit`` may change, with one honest student submitted."""
    source = tmp_path / "source"
    probe.write_source(source)
    if edit is not None:
        path = source / probe.ASSIGNMENT / f"{probe.NOTEBOOK}.ipynb"
        nb = nbformat.read(path, as_version=4)
        edit(nb)
        nbformat.write(nb, path)
    course = scratch.new_course(tmp_path / "course", source)
    release = scratch.filled(probe.source_notebook(), probe.source_notebook())
    scratch.submit(course, "alice", probe.ASSIGNMENT, release, f"{probe.NOTEBOOK}.ipynb")
    return course


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _wrong_reference(nb):
    _cell(nb, "double").source = "def double(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION"


def _test_a_blank_passes(nb):
    _cell(nb, "test_square").source = "assert True  # passes whatever the student wrote"


def test_a_passing_canary_is_cached_and_leaves_nothing(tmp_path):
    course = _course(tmp_path)
    lines: list[str] = []
    report = grade_course(course, probe.SETTINGS, jobs=1, log=lines.append, canary=True)
    assert any(line == f"canary: passed for {probe.ASSIGNMENT}" for line in lines), lines
    assert {r.student: r.status for r in report.results} == {"alice": "graded"}
    assert not (course.state_dir / "canary").exists()
    cache = json.loads((course.state_dir / "canary.json").read_text())
    assert set(cache) == {probe.ASSIGNMENT}
    with Gradebook(course.db_url, course.course_id) as gb:  # the canary's students never reach the course
        assert {s.id for s in gb.students} == {"alice"}
    lines.clear()
    grade_course(course, probe.SETTINGS, jobs=1, log=lines.append, force=True, canary=True)
    assert any("canary: passed before for probe" in line for line in lines), lines


def test_a_changed_setting_runs_the_canary_again(tmp_path):
    course = _course(tmp_path)
    grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None, canary=True)
    lines: list[str] = []
    settings = probe.Settings(timeout=6, sandbox=False)
    grade_course(course, settings, jobs=1, log=lines.append, canary=True)
    assert any(line == f"canary: passed for {probe.ASSIGNMENT}" for line in lines), lines


@pytest.mark.parametrize("edit, expected", [
    (_wrong_reference, "the reference solution should get full marks, got status graded, score 3"),
    (_test_a_blank_passes, "the blank release should get 0 points, got status graded, score 3"),
])
def test_a_failing_canary_stops_the_run_before_anything_is_written(tmp_path, edit, expected):
    course = _course(tmp_path, edit)
    with pytest.raises(canary.CanaryFailed) as failed:
        grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None, canary=True)
    message = str(failed.value)
    assert expected in message, message
    assert "nothing was graded" in message
    if edit is _wrong_reference:
        assert "double(2) should be 4" in message  # the underlying error, not only the score
    assert not course.grades_csv.exists()
    assert not (course.root / "gradebook.db").exists()
    assert not (course.state_dir / "canary.json").exists()
    assert not course.autograded.exists() or not any(course.autograded.iterdir())


def test_the_command_line_exits_4_when_the_canary_fails(tmp_path, monkeypatch, capsys):
    course = _course(tmp_path, _wrong_reference)
    monkeypatch.setattr(isolation, "sandbox_status", lambda: (False, "not needed for the probe"))
    (course.root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.source_directory = {str(course.source)!r}\n")
    assert cli.main(["--course", str(course.root), "--no-sandbox", "--jobs", "1", "--progress", "none",
                     "--timeout", "5"]) == 4
    err = capsys.readouterr().err
    assert "cannot grade correctly" in err and "probe: the reference solution" in err
    assert not course.grades_csv.exists()


def test_the_command_line_exits_5_and_lists_failed_submissions_first(tmp_path, monkeypatch, capsys):
    course = _course(tmp_path)
    scratch.submit(course, "bob", probe.ASSIGNMENT, probe.source_notebook(), f"{probe.NOTEBOOK}.ipynb")
    monkeypatch.setattr(isolation, "sandbox_status", lambda: (False, "not needed for the probe"))
    (course.root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.source_directory = {str(course.source)!r}\n")
    real = batch.grade_job

    def bob_fails(job):
        if job[1] == "bob":
            return Result("bob", probe.ASSIGNMENT, "failed", "grading crashed: the judge could not start").to_dict()
        return real(job)

    monkeypatch.setattr(batch, "grade_job", bob_fails)
    code = cli.main(["--course", str(course.root), "--no-sandbox", "--jobs", "1", "--progress", "none",
                     "--timeout", "5", "--no-canary"])
    out = capsys.readouterr().out
    assert code == 5
    assert out.index("FAILED to grade") < out.index(f"{'student':<16} assignment"), out  # before the table
    assert "bob/probe: grading crashed: the judge could not start" in out
    assert "1 graded, 1 failed (the grader's fault), 0 unchanged" in out


def test_canary_keys_ignore_the_seed_and_follow_the_source(tmp_path):
    course = _course(tmp_path)
    settings = probe.SETTINGS
    key = canary.canary_key(course, probe.ASSIGNMENT, settings, "code", "env")
    seeded = dataclasses.replace(settings, check_seed=7)
    assert canary.canary_key(course, probe.ASSIGNMENT, seeded, "code", "env") == key
    assert canary.canary_key(course, probe.ASSIGNMENT, settings, "other code", "env") != key
    path = course.source / probe.ASSIGNMENT / f"{probe.NOTEBOOK}.ipynb"
    path.write_text(path.read_text().replace("return 2 * x", "return x + x"))
    assert canary.canary_key(course, probe.ASSIGNMENT, settings, "code", "env") != key


def test_the_command_line_gives_the_callers_sigterm_handler_back():
    """SIGTERM unwinds a run like Ctrl-C while it runs, and only then (a test runner keeps its own)."""
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["--help"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before
