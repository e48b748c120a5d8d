"""Grading on a Dask cluster: one task per submission, on machines that never see the course folder.

``python -m course_grader --scheduler tcp://HOST:8786`` (docs/instructors.md) grades
each submission that needs grading as one task of a Dask ``distributed`` cluster. The work is
split so that only the instructor's machine (the *client*) touches the course folder:

1. The client stages the submission exactly as a local run does (:func:`submission.stage`: the
   student's files are looked at with ``lstat``, read with ``O_NOFOLLOW`` up to the size
   limit, the notebooks located and repaired) and ships plain data to the task: the staged
   files' bytes, the assignment's student version and the other files of its source folder,
   the settings (check seed included), the course id, the gradebook URL, what staging found
   and a hash of the grading code (:func:`code_hash`).
2. The task (:func:`grade_task`, on a worker) refuses to run other grading code than the
   client's, checks its sandbox, builds a private scratch course in a temporary folder of its
   own machine, and runs the same steps as a local run (:func:`submission.grade_staged`: nbgrader
   autograde with the course's preprocessors against the shared gradebook, read back,
   feedback). It returns plain data: the result, and the bytes of the autograded notebooks
   and of the feedback pages. The scratch course is removed.
3. The client writes those into ``autograded/`` and ``feedback/`` of the course (fresh
   folders, new files only, links never followed, only ``<notebook>.ipynb`` and
   ``<notebook>.html`` for the assignment's own notebooks), and the batch goes on as a local
   one: state, ``grades.csv`` from the gradebook.

The gradebook must be a database server every worker reaches (PostgreSQL): each task writes
its grades into it. A task that raises, or whose workers keep dying (the scheduler gives up
after more than ``distributed.scheduler.allowed-failures`` deaths, 3 by default), gives a ``failed``
row saying why; the other submissions are graded. A task whose worker died is graded again
on another worker; :class:`ClusterLosses` counts the workers lost and the tasks resubmitted
for the run's summary. With the canary on, only workers that passed it get tasks
(:mod:`~course_grader.pipeline.dask_canary`: ``resources`` of :func:`grade_on_dask`). An
autograded folder graded on a worker holds the notebooks only (a local run also keeps copies of
the submitted data files there), plus the ``timestamp.txt`` and ``submission_secret.txt`` the
batch writes after every graded submission, here as locally
(:mod:`~course_grader.pipeline.exchange_files`), so that ``nbgrader release_feedback`` works
after a Dask run too.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import socket
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from course_grader.pipeline import isolation
from course_grader.sandbox import safefs
from course_grader.pipeline.course import Course, hash_tree
from course_grader.pipeline.repair import SubmissionError
from course_grader.pipeline.submission import Result, Settings, grade_staged, init_worker, stage

ENGINE = Path(__file__).resolve().parents[1]
#: the packages whose code decides grades: a worker must run the same as the client
GRADING_CODE = (ENGINE.parent / "course_lib" / "checks", ENGINE)
#: files of an assignment's source folder never shipped (nbgrader's own ignore list, notebooks)
SOURCE_SKIPPED = (".ipynb_checkpoints", "__pycache__", "feedback")
#: bytes above the submission limits a returned output may hold (nbgrader's additions, HTML styles)
OUTPUT_SLACK = 16 * 2**20
#: seconds to wait for the scheduler, and for a first worker to join it
CONNECT_TIMEOUT = 30.0


class ClusterUnavailable(Exception):
    """The scheduler cannot be reached, or no worker joins it."""


@functools.cache
def code_hash() -> str:
    """SHA-256 over the ``.py`` files of ``course_lib/checks`` and ``course_grader``.

    Computed once per process: on a worker it stands for the code that process imported.
    """
    digest = hashlib.sha256()
    for package in GRADING_CODE:
        digest.update(package.name.encode() + b"\0" + hash_tree(package, "**/*.py").encode() + b"\0")
    return digest.hexdigest()


def check_address(scheduler: str) -> str:
    """A Dask scheduler address (``tcp://host:port``, ``tls://...``, ``inproc://...``), stripped.

    Raises:
        ValueError: naming the argument, when it is not one.
    """
    text = scheduler.strip() if isinstance(scheduler, str) else ""
    scheme, _, rest = text.partition("://")
    if scheme not in ("tcp", "tls", "ucx", "ws", "wss", "inproc") or not rest:
        raise ValueError(f"scheduler must be a Dask scheduler address such as tcp://10.0.0.5:8786, "
                         f"got {scheduler!r}")
    return text


def connect(scheduler: str, timeout: float | None = None):  # -> distributed.Client
    """A ``distributed.Client`` of the scheduler, once at least one worker has joined it.

    Args:
        timeout: seconds to wait for each (default :data:`CONNECT_TIMEOUT`).

    Raises:
        ClusterUnavailable: the scheduler does not answer, or no worker joins within ``timeout``.
    """
    from distributed import Client

    timeout = CONNECT_TIMEOUT if timeout is None else timeout

    try:
        client = Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {error}") from error
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        client.close()
        raise ClusterUnavailable(
            f"no Dask worker joined the scheduler at {scheduler} within {timeout:g} s; start some with "
            f"`dask worker {scheduler}` (see docs/instructors.md)") from None
    return client


# -- the client's side ---------------------------------------------------------------------------


def regular_files(folder: Path, limit: int, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """``{relative posix path: bytes}`` of the regular files under ``folder`` (links never followed)."""
    found: dict[str, bytes] = {}
    todo = [PurePosixPath()]
    while todo:
        relative = todo.pop()
        for entry in safefs.entries(folder / relative):
            if entry.name in skip or safefs.odd_name(entry.name):
                continue
            if entry.is_dir:
                todo.append(relative / entry.name)
            elif entry.is_file:
                found[str(relative / entry.name)] = safefs.read_regular(folder / relative / entry.name, limit)
    return found


def pack(course: Course, student: str, assignment: str, settings: Settings, db_url: str) -> dict:
    """Stage one submission in the course folder and return what its task needs, as plain data.

    Raises:
        SubmissionError: the submission cannot be graded (no notebook, unsafe, too large).
    """
    problems, notes, staged = stage(course, student, assignment, settings)
    limit = settings.max_notebook_mb * 2**20
    source = course.source / assignment
    return {
        "student": student,
        "assignment": assignment,
        "course_id": course.course_id,
        "config": course.config,
        "db_url": db_url,
        "settings": dataclasses.asdict(settings),
        "release": regular_files(course.release / assignment, limit),
        "source_files": {name: data for name, data in regular_files(source, limit, SOURCE_SKIPPED).items()
                         if not name.endswith(".ipynb")},
        "staged": regular_files(Path(staged), limit),
        "problems": problems,
        "notes": notes,
        "code_hash": code_hash(),
    }


def expected_notebooks(course: Course, assignment: str) -> list[str]:
    """The notebook names of an assignment (its student versions in the pipeline's release folder)."""
    return sorted(p.stem for p in (course.release / assignment).glob("*.ipynb"))


def store_outputs(course: Course, result: Result, outputs: dict, settings: Settings) -> Result:
    """Write a task's autograded notebooks and feedback pages into the course folder.

    Earlier outputs of the submission are removed first. Only ``<notebook>.ipynb`` (autograded)
    and ``<notebook>.html`` (feedback) of the assignment's own notebooks are written, each as
    a new file in a fresh folder; anything else the task returned is named in the reason.
    """
    expected = expected_notebooks(course, result.assignment)
    limit = (settings.max_notebook_mb + settings.max_output_mb) * 2**20 + OUTPUT_SLACK
    refused = []
    for base, suffix, key in ((course.autograded, ".ipynb", "autograded"), (course.feedback, ".html", "feedback")):
        folder = base / result.student / result.assignment
        safefs.remove_tree(folder)
        files = outputs.get(key) or {}
        if not files:
            continue
        safefs.fresh_dir(folder)
        for name, (mode, data) in sorted(files.items()):
            if not (isinstance(name, str) and name.endswith(suffix) and name.removesuffix(suffix) in expected
                    and isinstance(data, bytes) and len(data) <= limit):
                refused.append(safefs.shown(str(name)))
                continue
            safefs.write_new(folder / name, data, mode=int(mode) & 0o664)
    if refused:
        note = f"outputs not written (not the assignment's notebooks or too large): {', '.join(refused[:6])}"
        result.reason = f"{result.reason}; {note}".lstrip("; ")
    return result


@dataclasses.dataclass
class ClusterLosses:
    """The workers a run lost (died, not retired) while its tasks ran, and what that cost.

    Read from the scheduler's ``remove-worker`` events newer than ``since`` (the scheduler's
    clock): each names the worker and the tasks it was running, which the scheduler gives to
    another worker (resubmitted) unless they already killed more than
    ``distributed.scheduler.allowed-failures`` workers (``killed``: those fail, KilledWorker).
    """

    since: float = 0.0
    lost: dict[str, int] = dataclasses.field(default_factory=dict)  # worker -> grading tasks it was running
    killed: int = 0

    @classmethod
    def start(cls, client) -> "ClusterLosses":  # noqa: ANN001 - a distributed.Client
        return cls(since=max((stamp for stamp, _ in client.get_events("all")), default=0.0))

    def collect(self, client) -> None:  # noqa: ANN001
        for stamp, event in client.get_events("all"):
            if (stamp > self.since and isinstance(event, dict) and event.get("action") == "remove-worker"
                    and not event.get("expected")):
                ours = [key for key in event.get("processing-tasks", ()) if str(key).startswith(TASK_PREFIX)]
                self.lost[str(event.get("worker"))] = self.lost.get(str(event.get("worker")), 0) + len(ours)

    @property
    def resubmitted(self) -> int:
        """Tasks given to another worker (a task's last death, when the scheduler gave up, is not)."""
        return max(0, sum(self.lost.values()) - self.killed)

    def summary(self) -> str:
        """``1 Dask worker lost (tcp://...), 3 tasks resubmitted; grades unaffected`` ('' when none)."""
        if not self.lost:
            return ""
        workers, tasks = len(self.lost), self.resubmitted
        text = (f"{workers} Dask worker{'s' if workers != 1 else ''} lost ({', '.join(sorted(self.lost))}), "
                f"{tasks} task{'s' if tasks != 1 else ''} resubmitted; ")
        if not self.killed:
            return text + "grades unaffected"
        return text + (f"{self.killed} submission(s) failed: every worker that ran them died (KilledWorker); "
                       "the others' grades unaffected")


#: the key of every grading task starts with it
TASK_PREFIX = "grade-"


def grade_on_dask(todo: list[tuple], client, in_flight: int | None = None, resources: dict | None = None,
                  losses: ClusterLosses | None = None) -> Iterator[dict]:
    """Grade ``todo`` (``(course, student, assignment, settings, db_url)`` jobs) on a Dask cluster.

    Yields result dicts as the tasks finish, their outputs already written into the course
    folder. Submissions are staged just before their task is submitted, at most ``in_flight``
    at a time (default: twice the cluster's threads, at least 4), so that the scheduler never
    holds the whole course in memory. ``resources``: what each task needs of a worker (the
    canary's resource: only workers that passed it, :mod:`~course_grader.pipeline.dask_canary`).
    ``losses``, when given, learns the workers lost and the tasks resubmitted meanwhile.
    """
    from distributed import KilledWorker, as_completed

    if not todo:
        return
    if in_flight is None:
        in_flight = max(4, 2 * sum(client.nthreads().values()))
    waiting = list(reversed(todo))
    running = as_completed(loop=client.loop)
    jobs = {}

    def submit_next() -> Result | None:
        """Stage the next job and submit its task; a result when it cannot be graded at all."""
        course, student, assignment, settings, db_url = job = waiting.pop()
        start = time.perf_counter()
        try:
            payload = pack(course, student, assignment, settings, db_url)
        except SubmissionError as error:
            return Result(student, assignment, error.status, error.reason, seconds=time.perf_counter() - start)
        except Exception as error:  # one submission's folder never stops the others
            return Result(student, assignment, "failed", f"could not stage the submission: {error!r}")
        try:
            future = client.submit(grade_task, payload, key=f"{TASK_PREFIX}{student}-{assignment}-{uuid.uuid4().hex}",
                                   pure=False, retries=0, resources=resources)
        except Exception as error:  # e.g. the scheduler went away
            return Result(student, assignment, "failed", f"could not submit the grading task: {error!r}")
        jobs[future] = (job, payload["notes"])
        running.add(future)
        return None

    while waiting or jobs:
        while waiting and len(jobs) < in_flight:
            immediate = submit_next()
            if immediate is not None:
                yield immediate.to_dict()
        if not jobs:
            continue
        future = next(running)
        (course, student, assignment, settings, _), notes = jobs.pop(future)
        try:
            outputs = future.result()
            result = Result(**{**outputs["result"], "student": student, "assignment": assignment})
        except KilledWorker:  # the scheduler gave up after more than allowed-failures deaths
            outputs = {}
            if losses is not None:
                losses.killed += 1
            result = Result(student, assignment, "failed",
                            "grading task failed on the cluster: every Dask worker that ran it died (killed, "
                            "out of memory or crashed) until the scheduler gave up (KilledWorker)", notes=list(notes))
        except Exception as error:  # the task raised
            outputs = {}
            result = Result(student, assignment, "failed", f"grading task failed on the cluster: {error!r}",
                            notes=list(notes))
        finally:
            future.release()
        try:
            result = store_outputs(course, result, outputs, settings)
        except Exception as error:
            result.status = "failed"
            result.reason = f"could not write the outputs into the course folder: {error!r}"
        yield result.to_dict()
    if losses is not None:
        losses.collect(client)


# -- the worker's side ---------------------------------------------------------------------------


#: the status of a sandbox that worked in this process (probed once; a failing one is probed again)
_WORKING_SANDBOX: list[tuple[bool, str]] = []


def sandbox_status() -> tuple[bool, str]:
    """Whether the sandbox runs on this machine, and why not."""
    if _WORKING_SANDBOX:
        return _WORKING_SANDBOX[0]
    status = isolation.sandbox_status()
    if status[0]:
        _WORKING_SANDBOX.append(status)
    return status


def _relative(name: str) -> PurePosixPath:
    """A shipped file name as a relative path of plain parts.

    Raises:
        ValueError: an absolute path, ``..``, or a part with an odd name.
    """
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("", ".", "..") or safefs.odd_name(part)
                                             for part in path.parts):
        raise ValueError(f"file name must be a plain relative path, got {name!r}")
    return path


def unpack(files: dict[str, bytes], folder: Path) -> None:
    safefs.fresh_dir(folder)
    for name, data in files.items():
        target = folder / _relative(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        safefs.write_new(target, data)


def _outputs(folder: Path, suffix: str, limit: int) -> dict[str, tuple[int, bytes]]:
    """``{name: (mode, bytes)}`` of the regular ``*suffix`` files of an output folder."""
    return {entry.name: (stat.S_IMODE(entry.mode), safefs.read_regular(folder / entry.name, limit))
            for entry in safefs.entries(folder) if entry.is_file and entry.name.endswith(suffix)}


def _tasks_folder() -> Path:
    """This worker process's folder of scratch courses, made once: the kernels' warm server serves
    them all (``submission.KERNEL_POOL_ROOT``)."""
    from course_grader.pipeline import submission

    with _TASKS_LOCK:  # a worker may run several tasks at once, in threads
        if submission.KERNEL_POOL_ROOT is None or not submission.KERNEL_POOL_ROOT.is_dir():
            submission.KERNEL_POOL_ROOT = Path(tempfile.mkdtemp(prefix="course-tasks-")).resolve()
        return submission.KERNEL_POOL_ROOT


_TASKS_LOCK = threading.Lock()


def grade_task(payload: dict) -> dict:
    """The Dask task: grade one shipped submission in a private scratch course; plain data back.

    Returns:
        ``{"result": Result as a dict, "autograded": {name: (mode, bytes)},
        "feedback": {name: (mode, bytes)}}``; a ``failed`` result (and no files) when this
        worker runs other grading code than the client, has no working sandbox while the
        settings ask for one, or grading crashed.
    """
    start = time.perf_counter()
    student, assignment = payload["student"], payload["assignment"]
    host = socket.gethostname()

    def failed(reason: str) -> dict:
        result = Result(student, assignment, "failed", reason, time.perf_counter() - start, list(payload["notes"]))
        return {"result": result.to_dict(), "autograded": {}, "feedback": {}}

    if payload["code_hash"] != code_hash():
        return failed(f"the Dask worker on {host} runs other grading code than the instructor's checkout "
                      f"(course_lib/checks + course_grader: {code_hash()[:12]} there, "
                      f"{payload['code_hash'][:12]} here); update its checkout, run `make setup` and "
                      "restart the worker")
    settings = Settings(**payload["settings"])
    if settings.sandbox:
        ok, why = sandbox_status()
        if not ok:
            return failed(f"the sandbox cannot run on the Dask worker on {host}: {why} (fix it there, "
                          "or grade trusted submissions with --no-sandbox)")
    init_worker()
    root = Path(tempfile.mkdtemp(prefix="course-grade-", dir=_tasks_folder()))
    try:
        course = Course(root=root, source=root / "source", db_url=payload["db_url"],
                        course_id=payload["course_id"], config=payload["config"])
        unpack(payload["release"], course.release / assignment)
        unpack(payload["source_files"], course.source / assignment)
        unpack(payload["staged"], course.staging / student / assignment)
        result = grade_staged(course, student, assignment, settings, payload["db_url"],
                              dict(payload["problems"]), list(payload["notes"]), start=start)
        limit = (settings.max_notebook_mb + settings.max_output_mb) * 2**20 + OUTPUT_SLACK
        return {"result": result.to_dict(),
                "autograded": _outputs(course.autograded / student / assignment, ".ipynb", limit),
                "feedback": _outputs(course.feedback / student / assignment, ".html", limit)}
    except Exception as error:  # an infrastructure failure: reported in the submission's row
        return failed(f"grading crashed on the Dask worker on {host}: {error!r}")
    finally:
        try:
            safefs.remove_tree(root)
        except OSError:
            pass  # a judge process still writing: the system's temporary folder is cleaned by it
