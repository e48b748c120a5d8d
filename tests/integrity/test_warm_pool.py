"""The judge's warm pool: the same verdicts as a cold worker, and nothing shared between workers.

A pooled worker is forked from a sandboxed server that imported torch once
(course_grader.sandbox.warm_pool, course_grader.sandbox.forkserver). These tests hold it to
what a cold worker guarantees: identical verdicts on correct, wrong and hostile code
of every chapter; no privilege, no user ID, no /tmp, no IPC object and no process of one
worker visible to the next; a worker that dies takes nothing else down; a pool that
cannot start falls back to cold workers.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course_grader.pipeline import isolation, scratch
from course_grader.sandbox.bwrap import command_prefix, sandbox_mode
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.submission import Settings
from course_lib.checks.chapters import REGISTRY
from course_grader.judge.trusted import WorkerProcess, judge_checks, worker_overlays
from course_grader.sandbox.warm_pool import PooledProcess, PoolUnavailable, spawner
from integrity.integrity_helpers import GRADING_SEED, REPO

pytestmark = pytest.mark.usefixtures("sandbox_available")

FIXTURES = REPO / "tests" / "fixtures" / "implementations"


def sample_fixtures() -> list[Path]:
    """A correct and two wrong implementations of one unit of every chapter."""
    chosen = []
    for chapter in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        folders = [chapter] if any(chapter.glob("*.py")) else sorted(p for p in chapter.iterdir() if p.is_dir())[:1]
        for folder in folders:
            files = sorted(folder.glob("*.py"))
            chosen += [f for f in files if f.name.startswith("correct")][:1]
            chosen += [f for f in files if f.name.startswith("wrong")][:2]
    return chosen


def unit_checks(path: Path) -> list[tuple[str, str]]:
    text = path.read_text()
    units = {spec.class_name for spec in REGISTRY.values()}
    defined = [u for u in units if re.search(rf"^(class|def) {re.escape(u)}\b", text, re.MULTILINE)]
    unit = path.parent.name if path.parent.name in defined else defined[0]
    return [(check_id, unit) for check_id, spec in REGISTRY.items() if spec.class_name == unit]


def judge_both_ways(source: str, checks: list, tmp_path: Path) -> tuple[list, list]:
    overlays = worker_overlays(checks)
    spawn = isolation.warm_spawner(overlays)
    results = []
    for use_pool in (False, True):
        workdir = tmp_path / ("warm" if use_pool else "cold")
        workdir.mkdir()
        verdicts = judge_checks([source], checks, command_prefix=command_prefix(workdir, overlays=overlays),
                                timeout=60, cwd=str(workdir), seed=GRADING_SEED, spawn=spawn if use_pool else None)
        results.append([(v.check_id, v.passed, v.message) for v in verdicts])
    return results[0], results[1]


@pytest.mark.parametrize("path", sample_fixtures(), ids=lambda p: str(p.relative_to(FIXTURES).with_suffix("")))
def test_pooled_worker_gives_the_verdicts_of_a_cold_one(path: Path, tmp_path: Path) -> None:
    cold, warm = judge_both_ways(path.read_text(), unit_checks(path), tmp_path)
    assert warm == cold
    if path.name.startswith("correct"):
        assert all(passed for _, passed, _ in warm), [m for _, p, m in warm if not p]
    else:
        assert not all(passed for _, passed, _ in warm)


def _course_under_tmp() -> list[str]:
    """The entries of /tmp that hold this checkout or its Python, where they live under /tmp: a
    worker's private /tmp shows them (the pools bind the course's code back into it)."""
    names = set()
    for path in (REPO, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable)):
        for candidate in (path, path.resolve()):
            if candidate.is_relative_to("/tmp") and candidate != Path("/tmp"):
                names.add(candidate.relative_to("/tmp").parts[0])
    return sorted(names)


# Written as a student's cell: it reports what the worker sees on stderr, and leaves traces.
PROBE = r'''
import ctypes, json, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
facts = {"uid": os.getuid(), "euid": os.geteuid(), "cwd": os.getcwd(),
         "tmp": sorted(set(os.listdir("/tmp")) - set(__COURSE_UNDER_TMP__)), "shm": sorted(os.listdir("/dev/shm")),
         "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
         "ipc": libc.shmget(0x5EC7, 0, 0), "pgid_is_own": os.getpgid(0) == os.getpid()}
with open("/proc/self/status") as status:
    for line in status:
        key, _, value = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapAmb", "NoNewPrivs"):
            facts[key] = value.strip()
if os.environ.get("LEAVE_TRACES", "1") == "1" and not facts["tmp"]:
    open("/tmp/left_behind", "w").write("secret")
    open("/dev/shm/left_behind", "w").write("secret")
    libc.shmget(0x5EC7, 4096, 0o1666)  # IPC_CREAT | 0666: a System V segment anyone may attach
    if os.fork() == 0:  # a grandchild that outlives the worker unless it is killed
        os.setsid()
        if os.fork() == 0:
            time.sleep(600)
        os._exit(0)
print("FACTS " + json.dumps(facts), file=sys.stderr, flush=True)
'''
PROBE = PROBE.replace("__COURSE_UNDER_TMP__", repr(_course_under_tmp()))


def facts_of(worker: WorkerProcess) -> dict:
    for _ in range(400):
        match = re.search(r"FACTS (\{.*\})", worker.stderr_tail(4000))
        if match:
            return json.loads(match.group(1))
        time.sleep(0.05)
    raise AssertionError(f"the probe said nothing: {worker.stderr_tail()}")


def host_processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
        dead = re.search(r"^State:\s+[ZX]", status, re.MULTILINE)  # killed, not reaped yet
        if match and int(match.group(1)) == uid and not dead:
            found.append(int(entry))
    return found


def test_pooled_workers_share_nothing(tmp_path: Path) -> None:
    spawn = isolation.warm_spawner(())
    first = WorkerProcess([PROBE], command_prefix=None, timeout=60, cwd=str(tmp_path), spawn=spawn)
    assert isinstance(first.process, PooledProcess), "the pool must be used here"
    seen = facts_of(first)
    assert all(int(seen[key], 16) == 0 for key in ("CapInh", "CapPrm", "CapEff", "CapAmb")), seen
    assert seen["NoNewPrivs"] == "1" and seen["uid"] != 0 and seen["euid"] != 0
    assert seen["tmp"] == [] and seen["shm"] == [] and seen["ipc"] == -1
    assert seen["pids"][:2] == [1, 2], seen["pids"]  # its own PID namespace: an init and itself
    assert seen["pgid_is_own"]
    assert Path(seen["cwd"]).name.startswith("worker-")
    first.close()
    if sandbox_mode() == "root":
        assert host_processes_of(seen["uid"]) == [], "a process of the first worker outlived it"

    second = WorkerProcess([PROBE], command_prefix=None, timeout=60, cwd=str(tmp_path), spawn=spawn)
    assert isinstance(second.process, PooledProcess)
    again = facts_of(second)
    second.close()
    assert again["tmp"] == [] and again["shm"] == [], "the first worker's files reached the second"
    assert again["ipc"] == -1, "the first worker's System V segment reached the second"
    assert again["cwd"] != seen["cwd"] and not Path(seen["cwd"]).exists()
    if sandbox_mode() == "root":
        assert again["uid"] != seen["uid"], "two workers shared a user ID"


KILLERS = {
    "abort": "import os\nos.abort()\n",
    "sigkill_self": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
    "killpg_zero": "import os, signal\nos.killpg(0, signal.SIGKILL)\n",
    "kill_minus_one": "import os, signal\nos.kill(-1, signal.SIGKILL)\n",
}


@pytest.mark.parametrize("killer", KILLERS)
def test_a_worker_that_kills_takes_only_itself(killer: str, tmp_path: Path) -> None:
    """The server outlives a worker that kills itself, its group or all it can; it reports it as cold does."""
    checks = [("adam.first_step", "AdamOptimizer")]
    source = KILLERS[killer] + (FIXTURES / "02_adam" / "correct_in_place.py").read_text()
    cold, warm = judge_both_ways(source, checks, tmp_path)
    assert warm == cold
    spawn = isolation.warm_spawner(worker_overlays(checks))
    healthy = tmp_path / "healthy"
    healthy.mkdir()
    verdicts = judge_checks([(FIXTURES / "02_adam" / "correct_in_place.py").read_text()], checks,
                            command_prefix=None, timeout=60, cwd=str(healthy), spawn=spawn)
    assert verdicts[0].passed, verdicts[0].message


def test_a_pool_that_cannot_start_falls_back_to_cold_workers(tmp_path: Path) -> None:
    broken = spawner(key=("broken", str(tmp_path)), fresh_uid=None,
                     command_for=lambda folder: ["/bin/sh", "-c", "echo no server here >&2; exit 3", "--"])
    with pytest.raises(PoolUnavailable, match="no server here"):
        broken()
    checks = [("adam.first_step", "AdamOptimizer")]
    workdir = tmp_path / "cold"
    workdir.mkdir()
    source = (FIXTURES / "02_adam" / "correct_in_place.py").read_text()
    verdicts = judge_checks([source], checks, command_prefix=command_prefix(workdir), timeout=60,
                            cwd=str(workdir), spawn=broken)
    assert verdicts[0].passed, verdicts[0].message


# An added cell (no nbgrader metadata): it runs in the kernel, and what it prints is in the autograded notebook.
KERNEL_PROBE = r'''
import json, os
_here = os.getcwd()
_sandboxes = os.path.dirname(os.path.dirname(os.path.dirname(_here)))  # <sandboxes>/<student>/<assignment>/kernel
print("KERNEL " + json.dumps({"uid": os.getuid(), "tmp": sorted(os.listdir("/tmp")),
                              "students": sorted(os.listdir(_sandboxes)), "pid": os.getpid()}))
open("/tmp/left_behind", "w").write("secret")
'''


def kernel_facts(course, student: str, assignment: str) -> dict:
    [path] = sorted((course.autograded / student / assignment).glob("*.ipynb"))
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            match = re.search(r"KERNEL (\{.*\})", output.get("text", ""))
            if match:
                return json.loads(match.group(1))
    raise AssertionError(f"{student}: the probe cell printed nothing")


def test_batch_grades_are_the_same_with_and_without_the_pools(tmp_path: Path) -> None:
    """Chapters of all three forbidden sets, correct, wrong and blank, graded through nbgrader both ways.

    With the pools on, each kernel sees a /tmp of its own and, of the course's sandbox folders,
    only its own student's; as root it runs under a user ID of its own.
    """
    course = scratch.new_course(tmp_path / "course")
    settings = Settings(timeout=120, sandbox=True, check_seed=GRADING_SEED)
    grade_course(course, settings, jobs=1, log=lambda _: None)  # records the assignments
    students = []
    for assignment in ("02_adam", "08_lr_finder", "10_training_loop"):
        name, release = scratch.release_notebook(course, assignment)
        filled = scratch.filled(release, scratch.source_notebook(course, assignment, name))
        wrong = next(iter(sorted((FIXTURES / assignment).glob("wrong_*.py"))), None)
        cases = {"filled": filled, "blank": release}
        if wrong is not None:
            cases["wrong"] = scratch.with_implementation(filled, wrong.read_text())
        for case, nb in cases.items():
            nb = copy.deepcopy(nb)
            nb.cells.append(nbformat.v4.new_code_cell(KERNEL_PROBE))
            student = f"{case}_{assignment[:2]}"
            scratch.submit(course, student, assignment, nb, f"{name}.ipynb")
            students.append((student, assignment))

    rows = {}
    for use_pools in (False, True):
        report = grade_course(course, dataclasses.replace(settings, warm_pool=use_pools), jobs=2, force=True,
                              log=lambda _: None)
        rows[use_pools] = {(r["student_id"], r["assignment"]): (r["auto_score"], r["auto_max_score"], r["status"])
                           for r in report.rows}
        for student, assignment in students:
            assert list((course.feedback / student / assignment).glob("*.html")), (student, "no feedback")
    assert rows[True] == rows[False]
    for student, assignment in students:
        score, most, status = rows[True][(student, assignment)]
        assert status == "graded", (student, status)
        assert (float(score) == float(most)) == student.startswith("filled"), (student, score, most)

    facts = {student: kernel_facts(course, student, assignment) for student, assignment in students}
    for student, seen in facts.items():
        assert "left_behind" not in seen["tmp"], f"{student}'s kernel saw another kernel's /tmp: {seen['tmp']}"
        assert seen["students"] == [student], f"{student}'s kernel saw other students' folders: {seen['students']}"
        assert seen["pid"] == 2, "the kernel has a PID namespace of its own"
    if sandbox_mode() == "root":
        uids = [seen["uid"] for seen in facts.values()]
        assert 0 not in uids and len(set(uids)) == len(uids), uids


def test_servers_of_a_family_replace_each_other_when_idle(tmp_path: Path) -> None:
    """A process grading course after course keeps one kernels' server, not one per course."""
    from course_grader.sandbox import bwrap
    from course_grader.sandbox import warm_pool

    def start(name: str):
        return warm_pool.server_for(("family-test", name, str(tmp_path)), family=f"family-test-{tmp_path.name}",
                                    fresh_uid=bwrap._fresh_id if sandbox_mode() == "root" else None,
                                    command_for=lambda folder: command_prefix(folder, fork_server=True))
    first = start("first")
    busy = first.spawn()  # a worker still running: its server must stay
    second = start("second")
    assert first.alive() and second.alive()
    busy.kill_tree()
    third = start("third")
    assert not first.alive() and not second.alive() and third.alive()
    assert not first.folder.exists() and not second.folder.exists()


def test_a_set_met_once_gets_no_server(tmp_path: Path) -> None:
    """With ``cold_first`` (the pipeline's setting) a server starts only for a set asked for twice."""
    spawn = spawner(key=("cold-first", str(tmp_path)), fresh_uid=None, cold_first=True,
                    command_for=lambda folder: command_prefix(folder, fork_server=True))
    with pytest.raises(PoolUnavailable, match="started cold"):
        spawn()
    second = spawn()
    assert isinstance(second, PooledProcess)
    second.kill_tree()
