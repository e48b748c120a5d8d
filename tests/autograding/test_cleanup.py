"""A grading run leaves nothing behind: no pool folder, no server process, whether it ends
normally, on Ctrl-C (SIGINT) or on SIGTERM."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from course_grader.pipeline import isolation, scratch

pytestmark = pytest.mark.skipif(not isolation.sandbox_status()[0], reason="the grading sandbox cannot run here")

CHAPTER = "01_gradient_descent"
RUN = textwrap.dedent("""
    import sys
    from course_grader.pipeline import cli
    raise SystemExit(cli.main(["--course", sys.argv[1], "--jobs", sys.argv[2], "--progress", "none",
                               "--no-canary"]))
""")


@pytest.fixture
def pool_parent():
    parent = Path(tempfile.mkdtemp(prefix="pool-parent-", dir="/var/tmp"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


def _course(root: Path, students: int) -> Path:
    course = scratch.new_course(root)
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.source_directory = {str(scratch.SOLUTIONS)!r}\n")
    name, release = scratch.release_notebook(course, CHAPTER)
    filled = scratch.filled(release, scratch.source_notebook(course, CHAPTER, name))
    for index in range(students):
        scratch.submit(course, f"s{index}", CHAPTER, filled, f"{name}.ipynb")
    return root


def _start(course: Path, pool_parent: Path, jobs: int) -> subprocess.Popen:
    env = {**os.environ, "COURSE_POOL_PARENT": str(pool_parent)}
    return subprocess.Popen([sys.executable, "-c", RUN, str(course), str(jobs)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _left_behind(pool_parent: Path) -> tuple[list[str], list[str]]:
    folders = sorted(p.name for p in pool_parent.iterdir())
    processes = subprocess.run(["pgrep", "-af", str(pool_parent)], capture_output=True, text=True).stdout
    return folders, [line for line in processes.splitlines() if "pgrep" not in line]


def _settled(pool_parent: Path, seconds: float = 30) -> tuple[list[str], list[str]]:
    deadline = time.monotonic() + seconds
    while True:
        left = _left_behind(pool_parent)
        if left == ([], []) or time.monotonic() > deadline:
            return left


def test_a_finished_run_removes_its_pools(tmp_path, pool_parent):
    process = _start(_course(tmp_path / "course", 3), pool_parent, jobs=1)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-3000:]
    assert "3 graded" in output
    assert _settled(pool_parent) == ([], [])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_removes_its_pools(tmp_path, pool_parent, signum):
    process = _start(_course(tmp_path / "course", 6), pool_parent, jobs=2)
    deadline = time.monotonic() + 600
    while not any(pool_parent.iterdir()) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before a warm pool started"
    time.sleep(1.0)
    os.killpg(process.pid, signum)  # as a terminal's Ctrl-C or a service manager's stop would
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0
    assert _settled(pool_parent) == ([], []), output[-3000:]
