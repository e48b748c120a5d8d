"""The isolated judge: grade a notebook's classes in a worker process it never trusts.

:func:`judge` scans each graded class's source with :func:`policy.scan`, then
starts ONE worker (``command_prefix + [python, -I, -m,
course_grader.judge.worker]``; the prefix is the sandbox command supplied by the
autograding pipeline), sends it the solution cells, and runs every check with
a :class:`~course_lib.checks.subjects.RemoteSubject`. The worker answers with
plain data over JSON lines (:mod:`course_grader.judge.protocol`); the judge never
unpickles or evaluates what it receives and compares with its own oracles.

A dead worker, a malformed or oversized answer or a timeout fails the check
being run ("the grader's worker stopped: ...") and a fresh worker is started
for the remaining checks, so one misbehaving method cannot cost the points of
another class. The worker's process group is killed at the end.
"""

from __future__ import annotations

import ast
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from course_lib.checks import policy
from course_grader.judge import protocol
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.chapters._spec import secret_inputs
from course_grader.judge.stubs import stub_overlays
from course_lib.checks.forbidden import OPTIMIZER_IMPLEMENTATIONS, Forbidden, union
from course_lib.checks.errors import CheckFailed
from course_grader.judge.protocol import WorkerStopped
from course_lib.checks.messages import Trace
from course_grader.judge.remote_subject import RemoteSubject
from course_grader.sandbox.warm_pool import PoolUnavailable

WORKER_MODULE = "course_grader.judge.worker"
MAX_RESTARTS = 4


@dataclass
class Verdict:
    """The outcome of one check: passed or not, and what the student reads."""

    check_id: str
    passed: bool
    message: str


class WorkerProcess:
    """One worker process speaking the protocol; ``request`` is what RemoteSubject calls."""

    def __init__(self, sources: list[str], *, command_prefix: list[str] | None, timeout: float,
                 cwd: str | None, startup_timeout: float | None = None,
                 forbidden: Forbidden = OPTIMIZER_IMPLEMENTATIONS, cell_timeout: float | None = None,
                 spawn: Callable[[], Any] | None = None) -> None:
        self.timeout = timeout
        startup = max(timeout, 60.0) if startup_timeout is None else startup_timeout
        self.limit = startup
        self.budget = startup
        self._stderr_tail = bytearray()
        self.process = self._start(command_prefix, cwd, spawn)
        self._lines: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self._next_id = 0
        self.cells: list[dict] = []
        try:
            self._send({"sources": list(sources), "forbidden": forbidden.as_message(),
                        "cell_timeout": cell_timeout})
            answer = self._receive()
        except WorkerStopped as stopped:
            time.sleep(0.05)
            tail = self.stderr_tail(300).strip()
            self.close()
            raise WorkerStopped(f"{stopped}; its last output: {tail}" if tail else str(stopped)) from None
        cells = answer.get("cells")
        if type(cells) is not list or len(cells) != len(sources):
            self.close()
            raise WorkerStopped("it did not report on the solution cells")
        self.cells = [c if type(c) is dict else {"ok": False, "error": "?"} for c in cells]

    @staticmethod
    def _start(command_prefix: list[str] | None, cwd: str | None, spawn: Callable[[], Any] | None):
        """A worker forked by the warm pool (``spawn``), or else a cold one under ``command_prefix``."""
        if spawn is not None:
            try:
                return spawn()
            except PoolUnavailable:
                pass  # a cold worker grades the same, only slower
        environment = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
        command = list(command_prefix or []) + [sys.executable, "-I", "-m", WORKER_MODULE]
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd, env=environment, start_new_session=True)

    def _read(self) -> None:
        stream = self.process.stdout
        try:
            while True:
                line = stream.readline(protocol.MAX_LINE_BYTES + 1)
                if not line:
                    break
                if len(line) > protocol.MAX_LINE_BYTES:
                    self._lines.put(("error", "it wrote an oversized line"))
                    return
                self._lines.put(("line", line))
        except (OSError, ValueError):
            pass
        self._lines.put(("eof", None))

    def _drain_stderr(self) -> None:
        try:
            while True:
                chunk = self.process.stderr.read1(65536)
                if not chunk:
                    return
                self._stderr_tail = (self._stderr_tail + chunk)[-4096:]
        except (OSError, ValueError):
            return

    def _send(self, message: dict) -> None:
        try:
            self.process.stdin.write(protocol.dumps(message))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerStopped(self._death("it stopped reading requests")) from None

    def _death(self, what: str) -> str:
        code = self.process.poll()
        if code is None:
            return what
        if code < 0:
            return f"{what} (killed by signal {-code})"
        return f"{what} (it exited with code {code})"

    def _receive(self) -> dict:
        """The next answer; the waiting time counts against the current budget."""
        started = time.monotonic()
        try:
            kind, payload = self._lines.get(timeout=max(self.budget, 0.0))
            self.budget -= time.monotonic() - started
        except queue.Empty:
            raise WorkerStopped(f"no answer within {self.limit:g} s (an endless loop, or a very slow "
                                "method?)") from None
        if kind == "eof":
            time.sleep(0.05)
            raise WorkerStopped(self._death("the process ended"))
        if kind == "error":
            raise WorkerStopped(payload)
        try:
            return protocol.loads(payload)
        except protocol.ProtocolError as error:
            raise WorkerStopped(f"it sent an unreadable answer ({error})") from None

    def start_check(self) -> None:
        """Give the next check a full timeout (time spent waiting for the worker)."""
        self.limit = self.timeout
        self.budget = self.timeout

    def request(self, message: dict) -> dict:
        self._next_id += 1
        tag = f"{self._next_id}-{secrets.token_hex(4)}"
        self._send(dict(message, id=tag))
        answer = self._receive()
        if answer.get("id") != tag:
            raise WorkerStopped("it answered out of turn")
        if type(answer.get("ok")) is not bool:
            raise WorkerStopped("it sent an answer without a status")
        return answer

    def stderr_tail(self, limit: int = 1500) -> str:
        """The end of what the worker (and the student's prints) wrote to stderr."""
        return bytes(self._stderr_tail[-limit:]).decode("utf-8", "replace")

    def close(self) -> None:
        if hasattr(self.process, "kill_tree"):  # a pooled worker: its server kills its namespace
            self.process.kill_tree()
        else:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                pass
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


_CLASS_DEF = "^(?:class|def)\\s+{}\\b"  # a graded class, or a graded module-level function


def _defines(source: str, class_name: str) -> bool:
    return re.search(_CLASS_DEF.format(re.escape(class_name)), source, re.MULTILINE) is not None


def class_sources(sources: list[str], class_name: str, graded: Iterable[str], added: Iterable[int] = ()) -> str:
    """The solution cells that matter for ``class_name``: all except those defining another graded class.

    Cells the student added (indices ``added``) run in the worker but are not scanned:
    a comparison with torch there is honest work, and what runs is policed by
    :mod:`course_lib.checks.forbidden`.
    """
    others = [name for name in graded if name != class_name]
    skipped = set(added)
    return "\n\n".join(s for i, s in enumerate(sources) if i not in skipped and (
        _defines(s, class_name) or not any(_defines(s, other) for other in others)))


def _cell_report(cells: list[dict], sources: list[str], class_name: str) -> str:
    failing = [f"cell {i + 1}: {str(c.get('error', ''))[:500]}" for i, c in enumerate(cells) if not c.get("ok")]
    if not failing:
        return ""
    mine = [i for i, s in enumerate(sources) if _defines(s, class_name)]
    return "; ".join(failing) + (f" (class {class_name} is defined in cell {mine[-1] + 1})" if mine else "")


def _run_check(check_id: str, class_name: str, worker: WorkerProcess, sources: list[str],
               secret: bool = False) -> Verdict:
    spec = REGISTRY[check_id]
    trace = Trace(check_id, secret=secret)
    subject = RemoteSubject(worker, class_name, trace)
    worker.start_check()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.func(subject)
    except CheckFailed as failure:
        message = str(failure)
        report = _cell_report(worker.cells, sources, class_name)
        if report and "is not defined" in message:
            message += f"\n  your solution cells raised: {report}"
        return Verdict(check_id, False, message)
    except NotImplementedError as error:
        return Verdict(check_id, False, f"NotImplementedError: {error}".rstrip(": "))
    return Verdict(check_id, True, f"✓ {check_id}: {spec.description}")


def forbidden_for(checks: Iterable[tuple[str, str]]) -> Forbidden:
    """Everything the graded units of ``checks`` may not run (the union over their checks)."""
    return union([REGISTRY[check_id].forbidden for check_id, _ in checks if check_id in REGISTRY])


def worker_overlays(checks: Iterable[tuple[str, str]]) -> tuple:
    """``(stub, original)`` pairs for the sandbox of the worker that runs ``checks``.

    The stubs stand in for the implementations the graded units may not run, so that
    no route of the student's code reaches them (:mod:`course_lib.checks.forbidden`).
    """
    return stub_overlays(forbidden_for(checks))


def judge_checks(sources: list[str], checks: list[tuple[str, str]], *,
                 command_prefix: list[str] | None = None, timeout: float = 60.0,
                 cwd: str | None = None, startup_timeout: float | None = None,
                 added: Iterable[int] = (), seed: int | None = None,
                 cell_timeout: float | None = None, spawn: Callable[[], Any] | None = None) -> list[Verdict]:
    """Like :func:`judge`, but one verdict per ``(check_id, class_name)`` pair, in order.

    The same check may appear for several classes (e.g. to grade several
    versions of a class, each under its own name, with one worker).
    ``startup_timeout`` bounds starting the worker and running the cells
    (default: ``max(timeout, 60)``, plus ``cell_timeout`` per added cell); if that
    fails, every remaining check fails with the reason and no new worker is started.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if startup_timeout is not None and not startup_timeout > 0:
        raise ValueError(f"startup_timeout must be > 0 seconds or None, got {startup_timeout}")
    added = sorted(set(added))
    if startup_timeout is None:
        startup_timeout = max(timeout, 60.0) + (cell_timeout or 0.0) * len(added)
    verdicts: list[Verdict | None] = [None] * len(checks)
    graded = {class_name for _, class_name in checks}
    pending: list[int] = []
    for index, (check_id, class_name) in enumerate(checks):
        if check_id not in REGISTRY:
            verdicts[index] = Verdict(check_id, False, f"unknown check {check_id!r}")
            continue
        violations = policy.scan(class_sources(sources, class_name, graded, added), class_name,
                                 REGISTRY[check_id].forbidden)
        if violations:
            verdicts[index] = Verdict(check_id, False, f"{check_id} failed: " + policy.explain(violations, class_name))
            continue
        pending.append(index)
    forbidden = forbidden_for(checks)

    worker: WorkerProcess | None = None
    restarts = 0
    broken: str | None = None
    try:
        for index in pending:
            check_id, class_name = checks[index]
            if broken is not None:
                verdicts[index] = Verdict(check_id, False, f"{check_id} failed: the grader's worker stopped: {broken}")
                continue
            if worker is None:
                try:
                    if restarts > MAX_RESTARTS:
                        raise WorkerStopped("it stopped too many times")
                    restarts += 1
                    worker = WorkerProcess(sources, command_prefix=command_prefix, timeout=timeout, cwd=cwd,
                                           startup_timeout=startup_timeout, forbidden=forbidden,
                                           cell_timeout=cell_timeout, spawn=spawn)
                except WorkerStopped as stopped:
                    broken = f"while running your solution cells: {stopped}"
                    verdicts[index] = Verdict(check_id, False,
                                              f"{check_id} failed: the grader's worker stopped: {broken}")
                    continue
            try:
                with secret_inputs(seed):
                    verdicts[index] = _run_check(check_id, class_name, worker, sources, secret=seed is not None)
            except WorkerStopped as stopped:
                verdicts[index] = Verdict(check_id, False,
                                          f"{check_id} failed: the grader's worker stopped: {stopped}")
                worker.close()
                worker = None
            except Exception as error:  # noqa: BLE001 - never pass a check the grader could not finish
                verdicts[index] = Verdict(check_id, False, f"{check_id} failed: the grader could not finish "
                                          f"this check ({type(error).__name__}: {error})")
    finally:
        if worker is not None:
            worker.close()
    return [v for v in verdicts if v is not None]


def judge(sources: list[str], checks: list[tuple[str, str]], *, command_prefix: list[str] | None = None,
          timeout: float = 60.0, cwd: str | None = None, **kw: Any) -> dict[str, Verdict]:
    """Grade the classes defined by ``sources`` with the named checks, in a worker process.

    Args:
        sources: the notebook's solution cells and the code cells the student added, in order.
        checks: ``(check_id, class_name)`` pairs from the (trusted) test cells.
        command_prefix: the sandbox command to run the worker under (e.g. bwrap ...), with
            :func:`worker_overlays` mounted.
        timeout: seconds each check may wait for the worker's answers in all
            (starting the worker and running the cells get ``max(timeout, 60)``).
        cwd: working directory of the worker.
        **kw: ``added`` (indices of the cells the student added: run, not scanned),
            ``seed`` (the grading seed of the secret inputs; None for the public ones),
            ``cell_timeout`` (seconds each cell may run in the worker), ``startup_timeout``,
            ``spawn`` (starts a worker from the warm pool, :mod:`course_grader.sandbox.warm_pool`;
            when it cannot, a cold worker is started under ``command_prefix``).

    Returns:
        One :class:`Verdict` per check id.
    """
    verdicts = judge_checks(sources, checks, command_prefix=command_prefix, timeout=timeout, cwd=cwd, **kw)
    return {verdict.check_id: verdict for verdict in verdicts}


def graded_sources(nb: Any) -> tuple[list[str], list[int]]:
    """The code cells the judge's worker runs, and which of them the student added.

    The worker runs the solution cells and the code cells the student added (cells
    without nbgrader metadata), in notebook order, so that a helper defined in an added
    cell is there when the graded class calls it; the release's own demonstration and
    test cells stay out.
    """
    sources: list[str] = []
    added: list[int] = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if meta.get("solution") is True:
            sources.append(cell.get("source", ""))
        elif not meta.get("grade_id"):
            added.append(len(sources))
            sources.append(cell.get("source", ""))
    return sources, added


def find_checks(source: str) -> list[tuple[str, str]]:
    """The ``check("<id>", <ClassName>)`` calls in a test cell's source, in order."""
    try:
        tree = ast.parse(policy._strip_magics(source))
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else None)
        first, second = node.args[0], node.args[1]
        if (name == "check" and isinstance(first, ast.Constant) and isinstance(first.value, str)
                and isinstance(second, ast.Name)):
            found.append((node.lineno, node.col_offset, first.value, second.id))
    return [(check_id, class_name) for _, _, check_id, class_name in sorted(found)]


def judge_notebook(nb: Any, test_cell_sources: list[str], **kw: Any) -> dict[str, Verdict]:
    """Judge a submitted notebook: its solution (and added) cells against the checks of trusted test cells.

    Args:
        nb: the notebook (``nbformat.NotebookNode``); see :func:`graded_sources`.
        test_cell_sources: the test cells' sources as released (from the gradebook).
        **kw: passed to :func:`judge`.
    """
    sources, added = graded_sources(nb)
    checks = [pair for source in test_cell_sources for pair in find_checks(source)]
    return judge(sources, checks, added=added, **kw)
