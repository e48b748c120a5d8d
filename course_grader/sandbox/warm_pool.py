"""A warm pool for the judge's worker: fork servers that have imported torch already.

A cold worker is a new sandbox and a new Python that imports torch: about a second of
CPU before it runs a line of the student's code, for every notebook graded. A
:class:`ForkServer` pays that once: it starts :mod:`course_grader.sandbox.forkserver` in
the sandbox (with one exercise's forbidden implementations stubbed out) and asks it
for a fresh worker process per submission, forked after the imports, in namespaces,
temporary folders and (as root) a user ID of its own. What runs in the worker, and
what the judge sees of it, is the same as with a cold worker; grades do not depend on
whether the pool is used (``tests/integrity/test_warm_pool.py``).

:func:`spawner` keeps one server per forbidden set in this process and returns what
:class:`course_grader.judge.trusted.WorkerProcess` calls to start a worker. A server that
cannot start or stops answering raises :class:`PoolUnavailable`, and the judge starts
a cold worker instead: the pool makes grading faster, never different.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing.util
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

SERVER_MODULE = "course_grader.sandbox.forkserver"
START_TIMEOUT = 120.0  # seconds for a server to import torch on a loaded machine
ANSWER_TIMEOUT = 30.0  # seconds for a running server to fork a worker


class PoolUnavailable(RuntimeError):
    """The fork server could not start a worker (the judge then starts a cold one)."""


class PooledProcess:
    """A worker forked by a :class:`ForkServer`, with the part of ``subprocess.Popen``'s API the judge uses."""

    def __init__(self, server: ForkServer, pid: int, workdir: Path | None, pipes: list[int] | None) -> None:
        """``workdir``: the worker's own folder, removed when it is gone (None: the caller's);
        ``pipes``: our ends of its stdin, stdout and stderr (None: it got the caller's descriptors)."""
        self.server, self.pid, self.workdir = server, pid, workdir
        self.stdin = self.stdout = self.stderr = None
        if pipes is not None:
            self.stdin = os.fdopen(pipes[0], "wb")
            self.stdout = os.fdopen(pipes[1], "rb")
            self.stderr = os.fdopen(pipes[2], "rb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The worker's exit status as a cold sandbox reports it, or None while it runs."""
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pooled worker {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode

    def kill(self) -> None:
        """Kill the worker and every process of its namespace."""
        if self.poll() is None:
            self.server.kill(self.pid)

    def send_signal(self, signum: int) -> None:
        """SIGKILL and SIGTERM kill the worker's namespace; other signals do not reach into it."""
        if signum in (signal.SIGKILL, signal.SIGTERM):
            self.kill()

    def terminate(self) -> None:
        self.kill()

    def kill_tree(self) -> None:
        """Kill the worker and everything it started (its exit is reported once its namespace
        is empty); remove its folder once it is gone."""
        for hard in (False, True):
            if self.poll() is None:
                self.server.kill(self.pid, hard=hard)
            try:
                self.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            return  # the server is gone or stuck: the folder goes with the pool
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


class ForkServer:
    """One fork server in its sandbox, started by ``command`` (which ends with the server's module).

    Args:
        command: the argv that starts the server (the sandbox prefix made with
            ``fork_server=True``, then ``python -I -m course_grader.sandbox.forkserver``).
        folder: the server's read-write folder (bound in its sandbox); each worker gets a
            fresh sub-folder of it.
        fresh_uid: allocates the user ID of each worker (as root), or None to keep the
            sandbox's own unprivileged user.
        tmp_mb: the size of each worker's private ``/tmp`` and ``/dev/shm``.
    """

    def __init__(self, command: list[str], folder: Path, fresh_uid: Callable[[], int] | None,
                 tmp_mb: int = 512) -> None:
        self.folder, self.fresh_uid, self.tmp_mb = Path(folder), fresh_uid, tmp_mb
        self._lock = threading.Lock()
        self._exits: dict[int, int] = {}
        self._running: set[int] = set()
        self.family: str | None = None
        self._stderr_tail = bytearray()
        self.control, remote = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(command, stdin=remote, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, cwd=self.folder, start_new_session=True)
        finally:
            remote.close()
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        ready = self._receive(START_TIMEOUT, lambda m: m.get("op") == "ready")
        if ready is None:
            self.close()
            self._drain.join(timeout=2)
            raise PoolUnavailable(f"the fork server did not start: {self.stderr_tail()}")

    def _drain_stderr(self) -> None:
        try:
            while chunk := self.process.stderr.read1(65536):
                self._stderr_tail = (self._stderr_tail + chunk)[-2000:]
        except (OSError, ValueError):
            pass

    def stderr_tail(self) -> str:
        return bytes(self._stderr_tail).decode("utf-8", "replace").strip()[-500:] or "no output"

    def _receive(self, timeout: float, wanted: Callable[[dict], bool]) -> dict | None:
        """Read messages (recording exits) until one is ``wanted``; None on timeout or a closed server."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            if not select.select([self.control], [], [], left)[0]:
                return None  # (with timeout 0: every message already there has been read)
            try:
                data = self.control.recv(65536)
            except OSError:
                return None
            if not data:
                return None
            message = json.loads(data)
            if message.get("op") == "exit":
                self._exits[int(message["pid"])] = int(message["code"])
                self._running.discard(int(message["pid"]))
            elif message.get("op") == "started":
                self._running.add(int(message["pid"]))
            if wanted(message):
                return message

    def alive(self) -> bool:
        return self.process.poll() is None

    def idle(self) -> bool:
        """No worker of this server is running (or the server is gone)."""
        with self._lock:
            if self.alive():
                self._receive(0, lambda m: False)
            return not self._running or not self.alive()

    def new_uid(self) -> int | None:
        """A fresh user ID for the next worker (as root), or None."""
        return self.fresh_uid() if self.fresh_uid else None

    def spawn(self, workdir: Path | None = None, stdio: list[int] | None = None, uid: int | None = None,
              **request: object) -> PooledProcess:
        """A fresh worker.

        Args:
            workdir: its working folder, made its own (``chown`` to ``uid``); default: a new
                folder in the server's, removed when the worker is gone.
            stdio: the descriptors it gets as stdin, stdout and stderr; default: three pipes,
                our ends of which are the process's ``stdin``, ``stdout`` and ``stderr``.
            uid: its user ID (as root); default: :meth:`new_uid`.
            **request: further fields of the start request (``hide``, ``env``, ``argv``).
        """
        with self._lock:
            if not self.alive():
                raise PoolUnavailable(f"the fork server stopped: {self.stderr_tail()}")
            uid = self.new_uid() if uid is None else uid
            own_folder = workdir is None
            try:
                if own_folder:
                    workdir = self.folder / f"worker-{secrets.token_hex(8)}"
                    workdir.mkdir(mode=0o700)
                if uid is not None:
                    os.chown(workdir, uid, uid)
                    os.chmod(workdir, 0o700)
            except OSError as error:  # e.g. the pool's folder was removed: a new server next time
                self.close()
                raise PoolUnavailable(f"cannot prepare the worker's folder: {error}") from None
            ours: list[int] | None = None
            theirs = list(stdio or [])
            if stdio is None:
                stdin_read, stdin_write = os.pipe()
                stdout_read, stdout_write = os.pipe()
                stderr_read, stderr_write = os.pipe()
                ours, theirs = [stdin_write, stdout_read, stderr_read], [stdin_read, stdout_write, stderr_write]
            # where the server keeps what it moves aside while it lays a fresh /tmp (the sandbox's
            # binds under /tmp, and the worker's folder when it covers the rest)
            stage = self.folder / f"stage-{secrets.token_hex(8)}"
            try:
                stage.mkdir(mode=0o700)
            except OSError as error:
                self.close()
                raise PoolUnavailable(f"cannot prepare the worker's stage: {error}") from None
            try:
                message = {**request, "op": "start", "workdir": str(workdir), "uid": uid, "tmp_mb": self.tmp_mb,
                           "stage": str(stage)}
                socket.send_fds(self.control, [json.dumps(message).encode()], theirs)
                started = self._receive(ANSWER_TIMEOUT, lambda m: m.get("op") == "started")
            except OSError as error:
                started = None
                self._stderr_tail += f"\n{error}".encode()
            finally:
                if ours is not None:
                    for fd in theirs:
                        os.close(fd)
            if started is None:
                for fd in ours or []:
                    os.close(fd)
                if own_folder:
                    shutil.rmtree(workdir, ignore_errors=True)
                self.close()
                raise PoolUnavailable(f"the fork server did not start a worker: {self.stderr_tail()}")
            return PooledProcess(self, int(started["pid"]), workdir if own_folder else None, ours)

    def exit_code(self, pid: int) -> int | None:
        with self._lock:
            if pid not in self._exits:
                self._receive(0, lambda m: False)
            if pid not in self._exits and not self.alive():
                return 137  # the server (and with it the worker) was killed
            return self._exits.get(pid)

    def kill(self, pid: int, hard: bool = False) -> None:
        with self._lock:
            try:
                self.control.send(json.dumps({"op": "kill", "pid": pid, "hard": hard}).encode())
            except OSError:
                pass

    def close(self) -> None:
        """Stop the server: it ends when its control socket closes (so that its CPU time is
        accounted to this process, as a cold worker's is), or it is killed."""
        self.control.close()
        try:
            self.process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, 9)
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


STALE_SECONDS = 24 * 3600


def _remove_stale_folders(parent: str) -> None:
    """Remove empty pool folders untouched for a day: left by grading processes that were killed
    before they could remove theirs (a live server's folder changes with every worker)."""
    now = time.time()
    for folder in Path(parent).glob("course-pool-*"):
        try:
            if folder.lstat().st_mtime < now - STALE_SECONDS and folder.is_dir() and not folder.is_symlink():
                folder.rmdir()  # only if empty
        except OSError:
            continue


def _pool_parent() -> str:
    """Where pool folders go: ``COURSE_POOL_PARENT`` if set, else ``/var/tmp`` (or ``~/.cache``); not
    under ``/tmp`` or ``/dev/shm``, which each worker gets fresh (and empty)."""
    chosen = os.environ.get("COURSE_POOL_PARENT")
    for candidate in ([chosen] if chosen else ["/var/tmp", os.path.join(os.path.expanduser("~"), ".cache")]):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    raise PoolUnavailable("no folder for the warm pool outside /tmp (/var/tmp or ~/.cache)")


_servers: dict[object, ForkServer] = {}
_disabled: dict[object, str] = {}
_folders: list[Path] = []
_registry_lock = threading.Lock()


def server_for(key: object, command_for: Callable[[Path], list[str]], fresh_uid: Callable[[], int] | None,
               tmp_mb: int = 512, module: str = SERVER_MODULE, python_flags: tuple[str, ...] = ("-I",),
               family: str | None = None) -> ForkServer:
    """The running fork server of ``key`` in this process, started on first use.

    Args:
        key: identifies the server's sandbox (e.g. the stub overlays of a forbidden set).
        command_for: the argv prefix of the server's sandbox, given the server's read-write folder.
        fresh_uid: allocates each worker's user ID (as root), or None.
        tmp_mb: size of each worker's private ``/tmp``.
        module: the server's module (run with ``python <python_flags> -m``).
        family: servers of one family (e.g. the kernels' servers of successive courses)
            replace each other: starting one stops the family's idle servers of other keys,
            so that a process grading many courses keeps one of them, not one per course.

    Raises:
        PoolUnavailable: the server cannot start (and will not be tried again in this process).
    """
    with _registry_lock:
        if key in _disabled:
            raise PoolUnavailable(_disabled[key])
        server = _servers.get(key)
        if server is None or not server.alive():
            if family is not None:
                _retire_family(family, keep=key)
            _remove_stale_folders(_pool_parent())
            folder = Path(tempfile.mkdtemp(prefix="course-pool-", dir=_pool_parent()))
            folder.chmod(0o711)  # workers may enter their own folder, not list the others
            _folders.append(folder)
            command = command_for(folder) + [sys.executable, *python_flags, "-m", module]
            try:
                server = ForkServer(command, folder, fresh_uid, tmp_mb)
            except (PoolUnavailable, OSError) as error:
                _disabled[key] = str(error)
                raise PoolUnavailable(str(error)) from None
            if not _servers:
                # A multiprocessing worker ends with os._exit (no atexit): register there too.
                multiprocessing.util.Finalize(None, close_all, exitpriority=100)
            server.family = family
            _servers[key] = server
        return server


def _retire_family(family: str, keep: object) -> None:
    """Stop the idle servers of ``family`` other than ``keep``'s, and remove their folders."""
    for other, server in list(_servers.items()):
        if other != keep and getattr(server, "family", None) == family and server.idle():
            server.close()
            del _servers[other]
            if server.folder in _folders:
                _folders.remove(server.folder)
            shutil.rmtree(server.folder, ignore_errors=True)


#: files and folders a judge's worker may create in its private working folder (as a kernel may)
PRIVATE_FILES = 2000


def spawner(key: object, command_for: Callable[[Path], list[str]],
            fresh_uid: Callable[[], int] | None, tmp_mb: int = 512,
            cold_first: bool = False, private_workdir: bool = False) -> Callable[[], PooledProcess]:
    """What starts a judge's worker from the pool of the forbidden set ``key`` (see :func:`server_for`).

    Args:
        private_workdir: each worker works in a tmpfs of ``tmp_mb`` MiB and ``PRIVATE_FILES``
            inodes laid over its folder, so that nothing it writes reaches the host's disk.
        cold_first: the first worker of ``key`` in this process is started cold (the callable
            raises :class:`PoolUnavailable`), the server only when a second one is asked for.
            A server costs about what a cold worker does, so it pays off only when it is
            used again: a forbidden set that a batch meets once (a chapter with its own set,
            graded once by this process) is not worth one.

    Returns:
        A callable that returns a :class:`PooledProcess`, or raises :class:`PoolUnavailable`
        (the judge then starts a cold worker).
    """
    def spawn() -> PooledProcess:
        if cold_first:
            with _registry_lock:
                _asked[key] = _asked.get(key, 0) + 1
                first = _asked[key] == 1 and key not in _servers
            if first:
                raise PoolUnavailable("the first worker of an exercise's set is started cold")
        private = {"private_mb": tmp_mb, "private_files": PRIVATE_FILES} if private_workdir else {}
        return server_for(key, command_for, fresh_uid, tmp_mb).spawn(**private)
    return spawn


_asked: dict[object, int] = {}


@atexit.register
def close_all() -> None:
    """Stop every fork server of this process and remove their folders."""
    with _registry_lock:
        for server in _servers.values():
            server.close()
        _servers.clear()
        for folder in _folders:
            shutil.rmtree(folder, ignore_errors=True)
        _folders.clear()
