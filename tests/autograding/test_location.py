"""Where the course lives does not matter: a copy under ``/tmp/<a name with ü>/`` grades like any other.

Each warm-pool worker gets a fresh ``/tmp``; a course (or its virtualenv) that lives under
``/tmp`` must stay visible to it. The copy is set up with its own ``make setup``, exactly as a
new user would, then graded through ``python -m course_grader`` with the warm pools on: the
reference solution of every chapter gets full marks and the blank release 0. The same copy with
a module of the course hidden shows the canary stopping the run: exit 4, nothing written.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from course_grader.pipeline import isolation

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not isolation.sandbox_status()[0], reason="the grading sandbox cannot run here")

GRADE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from course_grader.pipeline import cli, scratch

    root, chapters = Path(sys.argv[1]), sys.argv[2].split(",")
    course = scratch.new_course(root)
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\\nc.CourseDirectory.source_directory = {str(scratch.SOLUTIONS)!r}\\n")
    for chapter in chapters:
        name, release = scratch.release_notebook(course, chapter)
        source = scratch.source_notebook(course, chapter, name)
        scratch.submit(course, "correct", chapter, scratch.filled(release, source), name + ".ipynb")
        scratch.submit(course, "blank", chapter, release, name + ".ipynb")
    raise SystemExit(cli.main(["--course", str(root), "--jobs", "2", "--progress", "none", *sys.argv[3:]]))
""")


def _copy_checkout(target: Path) -> None:
    """The files a fresh clone would have, plus the working tree's uncommitted changes."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def checkout_under_tmp():
    base = Path(tempfile.mkdtemp(prefix="kurs-ü-", dir="/tmp"))
    checkout = base / "optimization course"
    checkout.mkdir()
    try:
        _copy_checkout(checkout)
        env = {**os.environ, "PYTHON": os.environ.get("COURSE_SETUP_PYTHON", sys._base_executable)}
        setup = subprocess.run(["make", "setup"], cwd=checkout, capture_output=True, text=True, env=env,
                               timeout=1800)
        assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
        yield checkout
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _grade(checkout: Path, course: Path, chapters: list[str], *options: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-c", GRADE, str(course),
                           ",".join(chapters), *options], cwd=checkout, capture_output=True, text=True,
                          env=env, timeout=3000)


def _chapters(checkout: Path) -> list[str]:
    return sorted(p.name for p in (checkout / "solutions").iterdir() if p.is_dir() and p.name[:2].isdigit())


def test_a_course_under_tmp_grades_every_chapter_right_with_the_pools_on(checkout_under_tmp):
    course = checkout_under_tmp / "graders-copy"
    chapters = _chapters(checkout_under_tmp)
    assert len(chapters) == 10
    result = _grade(checkout_under_tmp, course, chapters)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "canary: passed for" in result.stdout + result.stderr
    with open(course / "grades.csv", newline="") as fh:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}
    for chapter in chapters:
        correct, blank = rows[("correct", chapter)], rows[("blank", chapter)]
        assert correct["status"] == blank["status"] == "graded", (correct, blank)
        assert float(correct["auto_score"]) == float(correct["auto_max_score"]) > 0, correct  # written answer: by hand
        assert float(blank["score"]) == 0.0, blank


def test_a_hidden_module_stops_the_run_at_the_canary(checkout_under_tmp):
    hidden = checkout_under_tmp / "course_grader" / "judge" / "worker.py"  # the judge's sandboxed worker
    aside = hidden.with_name("worker.py.hidden")
    hidden.rename(aside)
    try:
        course = checkout_under_tmp / "graders-broken"
        result = _grade(checkout_under_tmp, course, ["01_gradient_descent"])
    finally:
        aside.rename(hidden)
    assert result.returncode == 4, result.stdout[-4000:] + result.stderr[-4000:]
    assert "01_gradient_descent: the reference solution should get full marks" in result.stderr
    assert "No module named course_grader.judge.worker" in result.stderr, result.stderr[-4000:]
    assert not (course / "grades.csv").exists()
    assert not (course / "gradebook.db").exists()
