"""The canary on a Dask cluster: each worker grades the reference and blank release before any student.

A Dask worker grades in its own environment (its Python and packages, its sandbox, its
environment variables), so on a cluster the canary of :mod:`~course_grader.pipeline.canary`
runs on every worker, in the worker's process, with the run's settings, and gates it:

1. The client registers a worker plugin for the run (:class:`WorkerCanary`) carrying each
   assignment's source folder, the settings (the check seed included) and the hash of its
   grading code. Every worker present runs it at once; a worker that joins later (a dead
   worker restarted by its nanny) runs it when it joins.
2. The worker runs :func:`canary.run_canary` itself (:func:`worker_canary`): the reference
   solution of each assignment must get full marks and its blank release 0, graded exactly
   as its tasks will be. A worker running other grading code, or without the sandbox the
   settings ask for, fails too.
3. A worker that passes gets the run's resource (``course-canary-<run>``, one unit per
   thread); every grading task of the run needs a unit (:func:`task_resources`), so the
   scheduler never gives a task to a worker that failed its canary, or has not finished it.
4. The client names each failed worker with the reason (assignment, expected, got, first
   error); when no worker passed, :func:`start` raises :class:`CanaryFailed` before anything
   is written (exit 4). :func:`finish` unregisters the plugin, which takes the resource back.

A pass is cached as the local canary caches it: the worker grades in a scratch course of
its own, ``<tmp>/course-grader-canary-<uid>/<key>``, whose key stands for the course id, the
worker's Python environment (:func:`canary.environment_fingerprint`) and its environment
variables; ``canary.json`` there remembers the pass under the code, settings and source.
An unchanged worker (or one restarted in the same environment) pays once; worker processes
of one machine with the same environment take turns on the course lock and share the pass.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Iterable

from distributed import WorkerPlugin

from course_grader.pipeline import dask_cluster
from course_grader.pipeline.canary import CanaryFailed, environment_fingerprint, run_canary
from course_grader.pipeline.course import Course
from course_grader.pipeline.submission import Settings, grade_job, init_worker
from course_grader.sandbox import safefs

#: where a worker keeps its canary courses (one per course and environment), mode 0700: they
#: hold the assignments' sources
CANARY_ROOT = Path(tempfile.gettempdir()) / f"course-grader-canary-{os.getuid()}"
#: environment variables that say nothing about how a worker grades (a login's, a shell's)
VOLATILE_VARIABLES = ("_", "OLDPWD", "SHLVL", "PYTEST_CURRENT_TEST", "SSH_", "TERM", "XDG_", "DISPLAY")


# -- the worker's side ---------------------------------------------------------------------------


def worker_course(course_id: str, config) -> Course:  # noqa: ANN001 - a traitlets Config
    """This worker's canary course: one per course id, Python environment and environment variables."""
    variables = json.dumps(sorted((name, value) for name, value in os.environ.items()
                                  if not name.startswith(VOLATILE_VARIABLES)))
    key = hashlib.sha256("\0".join([course_id, environment_fingerprint(), variables]).encode()).hexdigest()
    root = (_private(CANARY_ROOT) / key[:24]).resolve()
    return Course(root=root, source=root / "source", db_url=f"sqlite:///{root / 'gradebook.db'}",
                  course_id=course_id, config=config)


def _private(folder: Path) -> Path:
    """``folder``, made if needed, owned by this user and mode 0700 (else ValueError)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(folder)
    if info.st_uid != os.getuid() or not os.path.isdir(folder) or os.path.islink(folder):
        raise ValueError(f"canary folder must be a folder of this user's, got {folder} (owner uid {info.st_uid})")
    os.chmod(folder, 0o700)
    return folder


def _grade_here(jobs: list[tuple]) -> Iterable[dict]:
    init_worker()
    return [grade_job(job) for job in jobs]


def worker_canary(payload: dict) -> tuple[bool, list[str]]:
    """Run the canary of ``payload``'s assignments in this process: ``(passed, problems)``."""
    from course_grader.pipeline.batch import course_lock  # (batch imports dask_cluster)

    host = socket.gethostname()
    if payload["code_hash"] != dask_cluster.code_hash():
        return False, [f"the worker on {host} runs other grading code than the instructor's checkout "
                       f"({dask_cluster.code_hash()[:12]} there, {payload['code_hash'][:12]} here)"]
    settings = Settings(**payload["settings"])
    if settings.sandbox:
        ok, why = dask_cluster.sandbox_status()
        if not ok:
            return False, [f"the sandbox cannot run on the worker on {host}: {why}"]
    try:
        course = worker_course(payload["course_id"], payload["config"])
        course.root.mkdir(parents=True, exist_ok=True)
        with course_lock(course, wait=True):
            safefs.remove_tree(course.source)
            for assignment, files in payload["sources"].items():
                dask_cluster.unpack(files, course.source / assignment)
            try:
                run_canary(course, payload["sources"], settings, payload["code_hash"], _grade_here, lambda _: None)
            finally:
                safefs.remove_tree(course.source)  # the solutions stay only as long as needed
    except CanaryFailed as error:
        return False, error.problems
    except Exception as error:  # noqa: BLE001 - a worker that cannot run its canary is not trusted
        return False, [f"the canary crashed on {host}: {error!r}"]
    return True, []


class WorkerCanary(WorkerPlugin):
    """Runs the run's canary on each worker; a pass gives the worker the run's resource."""

    def __init__(self, payload: dict, resource: str):
        self.payload, self.resource = payload, resource
        self.outcome: tuple[bool, list[str]] | None = None

    async def setup(self, worker) -> None:  # noqa: ANN001 - a distributed.Worker
        try:  # in a thread: the worker's event loop keeps answering the scheduler
            passed, problems = await asyncio.get_running_loop().run_in_executor(None, worker_canary, self.payload)
        except Exception as error:  # noqa: BLE001 - never fail the plugin: the client reads the outcome
            passed, problems = False, [f"the canary could not run: {error!r}"]
        self.outcome = (passed, problems)
        worker.log_event(self.resource, {"worker": worker.address, "passed": passed, "problems": problems})
        if passed:
            await worker.set_resources(**{self.resource: worker.state.nthreads})

    async def teardown(self, worker) -> None:  # noqa: ANN001 - a distributed.Worker
        if worker.state.total_resources.get(self.resource):
            await worker.set_resources(**{self.resource: 0})


def _outcome(name: str, dask_worker=None):  # noqa: ANN001 - client.run passes the worker
    plugin = dask_worker.plugins.get(name)
    return getattr(plugin, "outcome", None)


# -- the client's side ---------------------------------------------------------------------------


def _sources(course: Course, assignments: list[str], settings: Settings) -> dict[str, dict[str, bytes]]:
    limit = settings.max_notebook_mb * 2**20
    return {a: dask_cluster.regular_files(course.source / a, limit, dask_cluster.SOURCE_SKIPPED) for a in assignments}


def task_resources(run: str | None) -> dict[str, int] | None:
    """What each grading task of the run needs: a unit of the resource of workers that passed."""
    return {run: 1} if run else None


def describe(failed: dict[str, list[str]]) -> str:
    """One block per worker: its address, then its canary's problems."""
    return "\n".join(f"  {worker}:\n    " + "\n    ".join(line.replace("\n", "\n    ") for line in problems)
                     for worker, problems in sorted(failed.items()))


def start(client, course: Course, assignments: Iterable[str], settings: Settings,  # noqa: ANN001
          log: Callable[[str], None]) -> tuple[str | None, dict[str, list[str]]]:
    """Canary every worker of ``client``'s cluster for ``assignments``.

    Returns:
        ``(run, failed)``: the run's resource name (None when there is nothing to canary), to
        pass to :func:`task_resources` and :func:`finish`, and ``{worker: problems}`` of the
        workers that failed (they get no task).

    Raises:
        CanaryFailed: no worker passed; nothing was graded or written.
    """
    assignments = sorted(set(assignments))
    if not assignments:
        return None, {}
    run = f"course-canary-{uuid.uuid4().hex[:12]}"
    payload = {"course_id": course.course_id, "config": course.config, "settings": dataclasses.asdict(settings),
               "sources": _sources(course, assignments, settings), "code_hash": dask_cluster.code_hash()}
    log(f"canary: each Dask worker grades the reference solution and the blank release of "
        f"{', '.join(assignments)} before any student (a pass is cached per worker environment)")
    try:
        client.register_plugin(WorkerCanary(payload, run), name=run)
        outcomes = client.run(_outcome, run, on_error="return")
    except BaseException:
        finish(client, run)
        raise
    failed = {worker: (outcome[1] if isinstance(outcome, tuple) else [f"the canary could not be read: {outcome!r}"])
              for worker, outcome in outcomes.items()
              if outcome is not None and not (isinstance(outcome, tuple) and outcome[0])}
    passed = sum(1 for outcome in outcomes.values() if isinstance(outcome, tuple) and outcome[0])
    if failed:
        log(f"canary: {len(failed)} Dask worker(s) failed their canary and get no submission:\n" + describe(failed))
    if not passed:
        finish(client, run)
        raise CanaryFailed("no Dask worker can grade correctly: nothing was graded and nothing written to the "
                           "gradebook or grades.csv.\n" + describe(failed),
                           [f"{w}: {p}" for w, problems in sorted(failed.items()) for p in problems])
    log(f"canary: passed on {passed} of {len(outcomes)} Dask worker(s)")
    return run, failed


def finish(client, run: str | None) -> dict[str, list[str]]:  # noqa: ANN001
    """End the run's canary: the plugin is unregistered (workers give the resource back).

    Returns ``{worker: problems}`` of every worker whose canary failed during the run (those
    that joined late included).
    """
    if run is None:
        return {}
    failed = {}
    try:
        for _, event in client.get_events(run):
            if isinstance(event, dict) and not event.get("passed"):
                failed[event.get("worker", "?")] = list(event.get("problems", []))
        client.unregister_worker_plugin(run)
    except Exception:  # noqa: BLE001 - workers gone: nothing left to take back
        pass
    return failed
