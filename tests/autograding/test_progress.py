"""What a batch shows while it grades: bar and line figures, which submissions get a line, the CLI."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import autograding_probe as probe
from autograding_probe import probe_course, robustness_cases
from course_grader.pipeline import scratch
from course_grader.pipeline.progress import PlainLog, Progress, as_progress, describe, duration, figures
from course_grader.pipeline.submission import Result

REPO = Path(__file__).resolve().parents[2]


class FakeStream(io.StringIO):
    """A stream that says whether it is a terminal."""

    def __init__(self, tty: bool = False):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def progress(mode, total=None, verbose=False, tty=False, every_seconds=60.0):
    out, stream, clock = FakeStream(), FakeStream(tty), FakeClock()
    shown = Progress(mode, verbose=verbose, out=out, stream=stream, clock=clock, every_seconds=every_seconds)
    if total is not None:
        shown.start(total)
    return shown, out, stream, clock


def graded(student, status="graded", reason=""):
    return Result(student, "01_sgd", status, reason, seconds=12.5)


def test_figures_are_rate_per_minute_and_time_left_from_the_average():
    # 3 of 10 in 90 s: 2 per minute; 7 more at 30 s each
    assert figures(3, 10, 90.0) == (2.0, 210.0)
    assert figures(0, 10, 90.0) == (None, None) and figures(3, 10, 0.0) == (None, None)
    assert describe(3, 10, 90.0) == "3/10 (30%) in 1 min 30 s, 2.0 submissions/min, about 3 min 30 s left"
    assert describe(10, 10, 300.0).endswith("2.0 submissions/min, done")
    assert [duration(s) for s in (42, 605, 7500)] == ["42 s", "10 min 05 s", "2 h 05 min"]


def test_bar_redraws_in_place_with_count_rate_and_time_left():
    shown, out, stream, clock = progress("bar", total=10)
    for student in ("a", "b", "c"):
        clock.now += 30.0
        shown.result(graded(student))
    frames = stream.getvalue()
    assert "\n" not in frames  # only carriage returns until the bar is closed
    last = frames.split("\r")[-1]
    assert "3/10 (30%)" in last and "2.0 submissions/min" in last and "about 3 min 30 s left" in last
    shown.close()
    assert stream.getvalue().endswith("\n") and out.getvalue() == ""


def test_auto_is_a_bar_on_a_terminal_and_lines_elsewhere():
    assert progress("auto", tty=True)[0].mode == "bar"
    assert progress("auto", tty=False)[0].mode == "lines"


def test_lines_mode_writes_plain_lines_every_5_percent_and_at_the_end():
    shown, out, stream, clock = progress("lines", total=40)
    for i in range(40):
        clock.now += 6.0
        shown.result(graded(f"s{i}"))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert len(lines) == 20  # every 2 submissions: 5% of 40
    assert lines[0] == "progress: 2/40 (5%) in 12 s, 10.0 submissions/min, about 3 min 48 s left"
    assert lines[-1] == "progress: 40/40 (100%) in 4 min 00 s, 10.0 submissions/min, done"


def test_lines_mode_writes_a_line_when_the_interval_has_passed():
    shown, out, stream, clock = progress("lines", total=100, every_seconds=60.0)  # 5%: every 5 submissions
    for seconds in (20.0, 20.0, 25.0, 10.0):
        clock.now += seconds
        shown.result(graded("s"))
    lines = stream.getvalue().splitlines()
    assert lines == ["progress: 3/100 (3%) in 1 min 05 s, 2.8 submissions/min, about 35 min 02 s left"]  # 97 x 65/3 s


def test_none_mode_shows_no_figures():
    shown, out, stream, clock = progress("none", total=2)
    clock.now += 5.0
    shown.result(graded("a"))
    clock.now += 5.0
    shown.result(graded("b", "timeout", "cell 3 ran past 30 s"))
    assert stream.getvalue() == ""
    assert out.getvalue() == "  b/01_sgd: timeout (12.5 s) - cell 3 ran past 30 s\n"


@pytest.mark.parametrize("mode", ["bar", "lines"])
def test_only_submissions_not_graded_get_a_line(mode):
    shown, out, stream, clock = progress(mode, total=3)
    shown.result(Result("zed", "01_sgd", "invalid_name", "student folder 'z d' has a space"), counted=False)
    for result in (graded("ada"), graded("ben", "failed", "nbgrader crashed"), graded("cleo", "kernel_died")):
        clock.now += 10.0
        shown.result(result)
    shown.close()
    assert out.getvalue().splitlines() == ["  zed/01_sgd: invalid_name - student folder 'z d' has a space",
                                           "  ben/01_sgd: failed (12.5 s) - nbgrader crashed",
                                           "  cleo/01_sgd: kernel_died (12.5 s)"]
    assert "3/3 (100%)" in stream.getvalue()  # the refused one is not counted


def test_verbose_gives_every_submission_a_line():
    shown, out, stream, clock = progress("lines", total=2, verbose=True)
    shown.result(graded("ada"))
    shown.result(graded("ben", "timeout", "cell 2"))
    assert out.getvalue().splitlines() == ["  ada/01_sgd: graded (12.5 s)", "  ben/01_sgd: timeout (12.5 s) - cell 2"]


def test_a_plain_log_callable_gets_a_line_per_submission_and_no_figures():
    lines = []
    shown = as_progress(lines.append)
    assert isinstance(shown, PlainLog)
    shown("recorded 01_sgd")
    shown.start(1)
    shown.result(graded("ada"))
    shown.close()
    assert lines == ["recorded 01_sgd", "  ada/01_sgd: graded (12.5 s)"]
    bar = Progress("none")
    assert as_progress(bar) is bar


def test_bad_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="mode must be one of auto, bar, lines, none, got 'fancy'"):
        Progress("fancy")
    with pytest.raises(ValueError, match="every_seconds must be > 0, got 0"):
        Progress("lines", every_seconds=0)


def test_cli_lines_mode_names_the_broken_submission_and_prints_the_table(tmp_path):
    course, release = probe_course(tmp_path)  # tmp_path/course grading tmp_path/source
    (course.root / "nbgrader_config.py").write_text(f"c.CourseDirectory.source_directory = {str(course.source)!r}\n")
    cases = robustness_cases(release)
    for student in ("good", "notjson"):
        name, content = cases[student]
        scratch.submit(course, student, probe.ASSIGNMENT, content, name)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "course_grader", "--course", str(course.root),
                          "--progress", "lines", "--no-sandbox", "--jobs", "1", "--timeout", "5"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    broken = out.index("  notjson/probe: invalid_notebook (")  # its own line, before the table
    table = out.index("student          assignment")
    assert broken < table
    assert "good/probe" not in out  # graded: counted by the progress lines, no line of its own
    rows = {line.split()[0]: line.split() for line in out[table:].splitlines()[1:3]}
    assert rows["good"][1:4] == ["probe", "5/5", "graded"] and rows["notjson"][3] == "invalid_notebook"
    assert "1 submission(s) NOT graded normally" in out
    assert "\r" not in run.stderr
    assert "progress: 2/2 (100%) in " in run.stderr and "submissions/min, done" in run.stderr
