"""Grade every submission of a course: the batch behind ``make autograde``.

1. Every assignment under the course's sources is (re)recorded in the gradebook when it is
   new or its source changed (``generate_assignment`` into a private release folder).
2. Every student folder under ``submitted/`` is added to the gradebook.
3. Each submission whose files, assignment source and settings changed since it was last
   graded (``.scratch/autograde/state.json``) is graded by a pool of ``jobs`` worker
   processes: stage + repair, ``autograde`` with the course's preprocessors, feedback.
   With a Dask scheduler (``scheduler=``), each of them is one task of that cluster instead,
   graded on a worker that may be another machine (``dask_cluster.py``: the client stages, the
   worker grades a private copy, the outputs come back into the course folder).
4. The course's late-work policy (``<course>/policy.toml``, :mod:`.late_policy`) is applied
   to every submission in the gradebook (penalties only: nothing is run), and ``grades.csv`` is
   written in ``nbgrader export``'s CSV format plus ``status``, ``reason`` and
   ``penalty_reason``; submissions that could not be graded are listed at the end.

A run may be limited to some students and/or assignments (``students=``, ``assignments=``):
the other submissions are neither looked at nor regraded, their gradebook entries and rows
stay as they were.

SQLite: writers are serialized by SQLite's lock; the URL gets a busy timeout and the
database runs in WAL mode, so that parallel workers wait for each other instead of failing.

One run per course at a time: a run holds an exclusive ``flock`` on
``.scratch/autograde/autograde.lock`` from start to end. A second run on the same course
waits for it (``wait=True``) or stops at once with :class:`CourseBusy`, before it has read
or written anything.

Every per-student step (looking at the folder, hashing it, staging, grading, feedback) is
isolated: whatever one submission holds, it is reported in its own row and every other
submission is graded; a worker process that dies is replaced and the jobs it had not
finished are graded again, one per process, so that a culprit only takes itself down.
"""
from __future__ import annotations

import concurrent.futures as futures
import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import multiprocessing
import os
import secrets
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from nbgrader.api import Gradebook, MissingEntry

from course_grader.pipeline import dask_cluster, exchange_files, late_policy, manual_grades
from course_grader.pipeline.canary import CanaryFailed, run_canary  # noqa: F401 - CanaryFailed for callers
from course_grader.pipeline.course import Course, hash_tree, sqlite_with_busy_timeout
from course_grader.pipeline.progress import as_progress
from course_grader.pipeline.grades import write_grades_csv
from course_grader.pipeline.submission import UNGRADED, Result, Settings, drop_from_gradebook, generate_release, grade_job, init_worker

#: bump when a change of the pipeline must regrade everything
PIPELINE_VERSION = "3"
_ENGINE = Path(__file__).resolve().parents[1]
#: the code that decides a submission's grade: a change to it regrades every submission
GRADING_CODE = (_ENGINE.parent / "course_lib" / "checks", _ENGINE / "judge", _ENGINE / "sandbox")


class ConfigurationError(Exception):
    """The batch cannot run as configured (no sources, no sandbox, broken gradebook, ...)."""


class CourseBusy(ConfigurationError):
    """Another run is grading the same course (it holds the course's lock)."""


@contextlib.contextmanager
def course_lock(course: Course, wait: bool = False):
    """Hold the course's run lock (``flock`` on ``course.lock_file``) for the ``with`` block.

    Raises:
        CourseBusy: another run holds it and ``wait`` is False.
    """
    course.state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(course.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise CourseBusy(
                f"another autograde run is grading {course.root} ({holder}); wait for it to finish, "
                "or pass --wait to queue behind it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass
class BatchReport:
    """What one run did: a result per submission, and which were regraded."""

    results: list[Result] = field(default_factory=list)
    regraded: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    rows: list[dict] = field(default_factory=list)
    #: on a Dask cluster: the workers that failed the canary (given no submission), with why
    excluded_workers: dict[str, list[str]] = field(default_factory=dict)
    #: on a Dask cluster: ``1 Dask worker lost (tcp://...), 3 tasks resubmitted; ...`` ('' if none)
    cluster_losses: str = ""

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status != "graded"]


def _sqlite_path(db_url: str) -> Path | None:
    if db_url.startswith("sqlite:///"):
        return Path(db_url.removeprefix("sqlite:///").split("?", 1)[0])
    return None


def prepare_gradebook(db_url: str, course: Course) -> None:
    """Create the gradebook if needed and switch a SQLite file to WAL mode."""
    # nbgrader stamps a new gradebook by running the `alembic` command: find the venv's one
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    try:
        with Gradebook(db_url, course.course_id):
            pass
    except Exception as error:
        raise ConfigurationError(f"cannot open the gradebook {db_url}: {error}") from error
    path = _sqlite_path(db_url)
    if path is not None:
        with sqlite3.connect(path, timeout=60) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


def _load_state(course: Course) -> dict:
    try:
        state = json.loads(course.state_file.read_text())
        return state if state.get("version") == PIPELINE_VERSION else {}
    except (OSError, ValueError):
        return {}


def _save_state(course: Course, state: dict) -> None:
    course.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = course.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(course.state_file)


def course_check_seed(course: Course, new: bool = False) -> int:
    """The seed of the checks' secret inputs for this course.

    Created at random the first time the course is graded (or when ``new``), never
    derived from anything a student can see, and kept in the course's private state
    folder (``<course>/.scratch/autograde/check_seed``, mode 0600) so that every run
    grades on the same inputs and any grade can be reproduced with ``--check-seed``.
    """
    path = course.state_dir / "check_seed"
    if not new:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            pass
    seed = secrets.randbits(63)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".check_seed.{os.getpid()}")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"{seed}\n")
    tmp.replace(path)
    return seed


def _submission_key(course: Course, student: str, assignment: str, source_hash: str, settings: Settings,
                    grading_hash: str) -> str:
    digest = hashlib.sha256()
    for part in (PIPELINE_VERSION, source_hash, grading_hash,
                 hash_tree(course.submitted / student / assignment), repr(settings)):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _graded_in_gradebook(gb: Gradebook, student: str, assignment: str) -> bool:
    try:
        gb.find_submission(assignment, student)
        return True
    except MissingEntry:
        return False


def grade_course(course: Course, settings: Settings, jobs: int | None = None, force: bool = False,
                 log: Callable[[str], None] = print, wait: bool = False,
                 scheduler: str | None = None, canary: bool = False,
                 students: tuple[str, ...] = (), assignments: tuple[str, ...] = ()) -> BatchReport:
    """Grade what changed under ``course.submitted`` and write ``grades.csv``.

    Args:
        course: the course to grade.
        settings: timeout, sandbox and judge settings.
        jobs: worker processes (default ``os.cpu_count()``); 1 grades in this process.
        force: regrade every submission, changed or not.
        log: where log lines go: a :class:`~.progress.Progress` (a bar or progress lines, and a
            line per submission not graded), or any callable taking a line (a line per submission).
        wait: when another run grades the same course, wait for it (default: raise CourseBusy).
        scheduler: address of a Dask scheduler (``tcp://host:8786``): grade each submission as
            a task of that cluster (``jobs`` is then the cluster's threads). The gradebook must be a server
            every worker reaches (PostgreSQL), not SQLite.
        canary: before grading anyone, grade each assignment's reference solution and blank
            release with the same settings (:mod:`~course_grader.pipeline.canary`); stop with
            :class:`CanaryFailed` unless they get full marks and 0. ``make autograde`` turns it on.
            With ``scheduler``, each worker runs it in its own environment instead
            (:mod:`~course_grader.pipeline.dask_canary`): only workers that pass get
            submissions, and CanaryFailed when none passes.
        students, assignments: grade only the submissions of these students and/or of these
            assignments (empty: all); ``force`` then regrades just those.

    Returns:
        The batch report (results of all submissions, regraded and skipped ones).

    Raises:
        ConfigurationError: nothing to grade against, the gradebook cannot be opened, a SQLite
            gradebook with a scheduler, the scheduler has no worker, a bad policy file (checked
            before anything is graded), or a selected student or assignment the course lacks.
        CanaryFailed: (with ``canary``) the run would not grade correctly; nothing was written.
        CourseBusy: another run is grading this course (and ``wait`` is False).
    """
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ConfigurationError(f"jobs must be >= 1, got {jobs}")
    if scheduler is not None:
        scheduler = dask_cluster.check_address(scheduler)
        if course.db_url.startswith("sqlite"):
            raise ConfigurationError(
                f"a Dask cluster grades into a gradebook every worker reaches: {course.db_url} is a SQLite "
                "file; use a PostgreSQL server (COURSE_DB_URL=postgresql://user@host:5432/db, "
                "see docs/instructors.md)")
    policy = load_policy(course)
    selection = _selection(course, tuple(students), tuple(assignments))
    with course_lock(course, wait=wait), _cluster(scheduler) as cluster:
        if cluster is not None:
            jobs = sum(cluster.nthreads().values())  # the workers' threads: one submission each
            log(f"grading on the Dask cluster at {scheduler}: {len(cluster.nthreads())} worker(s), {jobs} thread(s)")
        return _grade_course(course, settings, jobs, force, log, cluster, canary, policy, selection)


def load_policy(course: Course) -> late_policy.Policy:
    """The course's late-work policy; ConfigurationError naming the bad key."""
    try:
        return late_policy.load_policy(course.policy_file, course.assignments())
    except late_policy.PolicyError as error:
        raise ConfigurationError(str(error)) from None


def _selection(course: Course, students: tuple[str, ...], assignments: tuple[str, ...]):
    """A predicate ``(student, assignment) -> bool`` of the submissions to grade."""
    known = course.assignments()
    for assignment in assignments:
        if assignment not in known:
            raise ConfigurationError(f"--assignment {assignment!r} is not an assignment of the course "
                                     f"(allowed: {', '.join(known) or 'none found'})")
    present = {s for s, _, _ in course.submission_folders()}
    for student in students:
        if student not in present:
            raise ConfigurationError(f"--student {student!r} has no folder under {course.submitted}")
    return lambda student, assignment: ((not students or student in students)
                                        and (not assignments or assignment in assignments))


def recompute_penalties(course: Course, wait: bool = False) -> list[dict]:
    """Apply the policy to the gradebook and rewrite ``grades.csv``, running no notebook.

    The rows' statuses and reasons are those of the last run (its state file).

    Returns:
        The rows of the new grades.csv.
    """
    policy = load_policy(course)
    with course_lock(course, wait=wait):
        db_url = sqlite_with_busy_timeout(course.db_url)
        prepare_gradebook(db_url, course)
        state = _load_state(course) or {"submissions": {}}
        results = [Result(**entry["result"]) for entry in state["submissions"].values()]
        penalties = late_policy.apply_policy(policy, db_url, course.course_id)
        return write_grades_csv(course, db_url, results, penalties)


@contextlib.contextmanager
def _cluster(scheduler: str | None):
    """A Dask client of ``scheduler`` for the ``with`` block (None without a scheduler)."""
    if scheduler is None:
        yield None
        return
    try:
        client = dask_cluster.connect(scheduler)
    except dask_cluster.ClusterUnavailable as error:
        raise ConfigurationError(str(error)) from None
    try:
        yield client
    finally:
        client.close()


def _grade_course(course: Course, settings: Settings, jobs: int, force: bool,
                  log: Callable[[str], None], cluster=None, canary: bool = False,
                  policy: late_policy.Policy | None = None,
                  selected: Callable[[str, str], bool] = lambda student, assignment: True) -> BatchReport:
    started = time.perf_counter()
    assignments = course.assignments()
    if not assignments:
        raise ConfigurationError(f"no assignment sources found under {course.source}")
    if settings.check_seed is None:
        settings = dataclasses.replace(settings, check_seed=course_check_seed(course))
    log(f"check inputs drawn from the course's secret seed {settings.check_seed} "
        f"(reproduce these grades with --check-seed {settings.check_seed})")
    grading_hash = "".join(hash_tree(package, "**/*.py") for package in GRADING_CODE)
    canary_run, excluded = None, {}
    if canary:  # before anything is written to the course's gradebook
        submitted = {a for s, a, problem in course.submission_folders()
                     if problem is None and a in assignments and selected(s, a)}
        if cluster is not None:  # each worker, in its own environment; only those that pass grade
            from course_grader.pipeline import dask_canary  # (needs distributed)

            canary_run, excluded = dask_canary.start(cluster, course, submitted, settings, log)
        else:
            run_canary(course, submitted, settings, grading_hash, lambda canary_jobs: _run_jobs(canary_jobs, jobs),
                       log)
    resources = dask_canary.task_resources(canary_run) if canary_run is not None else None
    try:
        report = _grade(course, settings, assignments, grading_hash, force, log, jobs, cluster, resources,
                        policy, selected)
    finally:
        if canary_run is not None:
            excluded = {**excluded, **dask_canary.finish(cluster, canary_run)}
    report.excluded_workers = excluded
    report.seconds = time.perf_counter() - started
    return report


def _grade(course: Course, settings: Settings, assignments: list[str], grading_hash: str, force: bool,
           log: Callable[[str], None], jobs: int, cluster, resources: dict | None,
           policy: late_policy.Policy | None, selected: Callable[[str, str], bool]) -> BatchReport:
    """Steps 1 to 4 of the module's docstring (the canary passed; on Dask, a task needs ``resources``)."""
    db_url = sqlite_with_busy_timeout(course.db_url)
    prepare_gradebook(db_url, course)
    state = _load_state(course) or {"version": PIPELINE_VERSION, "assignments": {}, "submissions": {}}

    # 1. the gradebook knows every assignment's current cells
    with Gradebook(db_url, course.course_id) as gb:
        known = {a.name for a in gb.assignments}
    source_hashes = {}
    for assignment in assignments:
        source_hashes[assignment] = hash_tree(course.source / assignment)
        up_to_date = (state["assignments"].get(assignment) == source_hashes[assignment]
                      and assignment in known and any((course.release / assignment).glob("*.ipynb")))
        if not up_to_date:
            try:
                generate_release(course, assignment, db_url, settings)
            except Exception as error:
                raise ConfigurationError(f"generate_assignment failed for {assignment}: {error}") from error
            state["assignments"][assignment] = source_hashes[assignment]
            log(f"recorded {assignment} in the gradebook")
    _save_state(course, state)

    # 2. students, and which submissions need grading
    report = BatchReport()
    todo, keys = [], {}
    folders = course.submission_folders()
    for student, assignment, problem in folders:
        if problem is not None:
            report.results.append(Result(student, assignment, "invalid_name", f"{problem}: not graded"))
    submissions = [(s, a) for s, a, problem in folders if problem is None]
    with Gradebook(db_url, course.course_id) as gb:
        for student, assignment in submissions:
            name = f"{student}/{assignment}"
            if not selected(student, assignment):  # outside the selection: kept as it was
                if name in state["submissions"]:
                    report.results.append(Result(**state["submissions"][name]["result"]))
                continue
            if assignment not in source_hashes:
                report.results.append(Result(student, assignment, "unknown_assignment",
                                             f"no source for assignment {assignment!r}"))
                continue
            try:
                gb.update_or_create_student(student)
                key = _submission_key(course, student, assignment, source_hashes[assignment], settings,
                                      grading_hash)
            except Exception as error:  # one submission's folder never stops the others
                gb.db.rollback()
                report.results.append(Result(student, assignment, "failed",
                                             f"could not look at the submission folder: {error!r}"))
                continue
            previous = state["submissions"].get(name)
            unchanged = (not force and previous and previous["key"] == key and previous["status"] != "failed"
                         and (previous["status"] in UNGRADED or _graded_in_gradebook(gb, student, assignment)))
            if unchanged:
                report.results.append(Result(**previous["result"]))
                report.skipped.append((student, assignment))
            else:
                keys[name] = key
                todo.append((course, student, assignment, settings, db_url))

    # 3. grade, recording each result as it comes in
    progress = as_progress(log)
    skipped = set(report.skipped)
    for result in report.results:  # refused before grading (folder names, unknown assignments)
        if (result.student, result.assignment) not in skipped:
            progress.result(result, counted=False)
    if todo:
        log(f"grading {len(todo)} submission(s) with {min(jobs, len(todo))} worker(s) "
            f"({len(report.skipped)} unchanged, skipped)")
    progress.start(len(todo))
    losses = dask_cluster.ClusterLosses.start(cluster) if cluster is not None else None
    for result in _run_jobs(todo, jobs, cluster, resources, losses):
        result = Result(**result)
        name = f"{result.student}/{result.assignment}"
        try:
            if result.status == "failed" and manual_grades.held(db_url, course.course_id, result.student,
                                                                result.assignment):
                result.reason = (f"{result.reason}; the earlier grade, with its manual grades, is kept in the "
                                 "gradebook").lstrip("; ")
            elif result.status in UNGRADED:
                drop_from_gradebook(course, db_url, result.student, result.assignment)
        except Exception as error:  # keep the run going; the row says what happened
            result.reason = f"{result.reason}; could not remove its earlier grade: {error!r}".lstrip("; ")
        try:
            if result.status not in UNGRADED and result.status != "failed":
                exchange_files.stamp(course, result.student, result.assignment)  # for release_feedback
        except Exception as error:
            result.reason = f"{result.reason}; feedback cannot be released by nbgrader: {error!r}".lstrip("; ")
        state["submissions"][name] = {"key": keys[name], "status": result.status, "result": result.to_dict()}
        _save_state(course, state)
        report.results.append(result)
        report.regraded.append((result.student, result.assignment))
        progress.result(result)
    progress.close()
    if losses is not None and losses.summary():
        report.cluster_losses = losses.summary()
        log(report.cluster_losses)

    penalties = late_policy.apply_policy(policy or late_policy.Policy(), db_url, course.course_id)
    report.rows = write_grades_csv(course, db_url, report.results, penalties)
    return report


def _run_jobs(todo: list[tuple], jobs: int, cluster=None, resources: dict | None = None,
              losses: dask_cluster.ClusterLosses | None = None):
    """Yield result dicts as the jobs finish; a pool of ``jobs`` processes, inline for one, or
    one task each on the Dask cluster of the client ``cluster`` (``resources``, ``losses``:
    see :func:`dask_cluster.grade_on_dask`)."""
    if not todo:
        return
    if cluster is not None:
        yield from dask_cluster.grade_on_dask(todo, cluster, resources=resources, losses=losses)
        return
    if jobs == 1 or len(todo) == 1:
        init_worker()
        for job in todo:
            yield grade_job(job)
        return
    context = multiprocessing.get_context("spawn")
    unfinished = list(todo)
    with futures.ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context,
                                     initializer=init_worker) as pool:
        pending = {pool.submit(grade_job, job): job for job in todo}
        try:
            yield from _finished(pending, unfinished)
        except BaseException:  # Ctrl-C, SIGTERM, a closed generator: stop after the running jobs
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        broken = bool(unfinished)
    if broken:
        # A worker process died (killed, out of memory): grade what it left, one job per process.
        for job in unfinished:
            with futures.ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=init_worker) as single:
                try:
                    yield single.submit(grade_job, job).result()
                except Exception as error:
                    yield Result(job[1], job[2], "failed", f"grading worker crashed: {error!r}").to_dict()


def _finished(pending: dict, unfinished: list):
    """Yield each finished job's result; the jobs of a broken pool stay in ``unfinished``."""
    for done in futures.as_completed(pending):
        job = pending[done]
        try:
            result = done.result()
        except futures.process.BrokenProcessPool:
            continue  # every job not finished yet is graded again, one per process
        except Exception as error:
            result = Result(job[1], job[2], "failed", f"grading worker crashed: {error!r}").to_dict()
        unfinished.remove(job)
        yield result
