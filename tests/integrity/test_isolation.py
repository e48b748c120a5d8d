"""A grading worker process that dies costs nobody a grade: its jobs are graded again.

Two worker processes grade an honest correct, an honest wrong and a slow student (whose
kernel waits for a file). While the slow student's kernel runs, its worker process is
killed (as the out-of-memory killer would): the pool breaks, and the pipeline grades the
jobs it had not finished again, one per process. Every student ends with its exact score.
"""
from __future__ import annotations

import os
import signal
import threading
import time

from autograding import autograding_probe as probe
from course_grader.pipeline import scratch
from course_grader.pipeline.batch import grade_course

SLOW_DOUBLE = ("import os, time\nwhile not os.path.exists({flag!r}):\n    time.sleep(0.1)\n"
               "def double(x):\n    return 2 * x")


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, working directory) of the processes we may look at."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            found[int(name)] = (ppid, os.readlink(f"/proc/{name}/cwd"))
        except OSError:
            continue
    return found


def test_a_dead_worker_process_is_replaced_and_its_jobs_regraded(tmp_path):
    course, release = probe.probe_course(tmp_path)
    flag = tmp_path / "go"
    scratch.submit(course, "honest_correct", probe.ASSIGNMENT,
                   probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE), "probe.ipynb")
    scratch.submit(course, "honest_wrong", probe.ASSIGNMENT,
                   probe.with_solutions(release, "def double(x):\n    return 0", probe.GOOD_SQUARE), "probe.ipynb")
    scratch.submit(course, "slow", probe.ASSIGNMENT,
                   probe.with_solutions(release, SLOW_DOUBLE.format(flag=str(flag)), probe.GOOD_SQUARE),
                   "probe.ipynb")
    outcome = {}
    settings = probe.SETTINGS.__class__(timeout=120, sandbox=False)
    runner = threading.Thread(target=lambda: outcome.update(
        report=grade_course(course, settings, jobs=2, log=lambda _: None)))
    runner.start()

    kernel_dir = str(course.sandboxes / "slow" / probe.ASSIGNMENT / "kernel")
    deadline = time.monotonic() + 180
    killed = None
    while killed is None:
        assert time.monotonic() < deadline, "the slow student's kernel never started"
        processes = _processes()
        for pid, (ppid, cwd) in processes.items():
            if cwd == kernel_dir and ppid in processes and ppid != os.getpid():
                os.kill(ppid, signal.SIGKILL)  # the pool worker grading "slow"
                os.kill(pid, signal.SIGKILL)  # and its kernel, orphaned
                killed = ppid
                break
        time.sleep(0.1)
    flag.touch()
    runner.join(timeout=300)
    assert not runner.is_alive()
    rows = {row["student_id"]: (float(row["score"]), row["status"]) for row in outcome["report"].rows}
    assert rows == {"honest_correct": (5.0, "graded"), "honest_wrong": (3.0, "graded"), "slow": (5.0, "graded")}
