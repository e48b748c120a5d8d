"""A warm pool for the judge's worker: fork servers that have imported torch already.

A cold worker is a new sandbox and a new Python that imports torch: about a second of
CPU before it runs a line of the student's code, for every notebook graded. A
:class:`ForkServer` pays that once: it starts :mod:`course_lib.grading.forkserver` in
the sandbox (with one exercise's forbidden implementations stubbed out) and asks it
for a fresh worker process per submission, forked after the imports, in namespaces,
temporary folders and (as root) a user ID of its own. What runs in the worker, and
what the judge sees of it, is the same as with a cold worker; grades do not depend on
whether the pool is used (``tests/integrity/test_warm_pool.py``).

:func:`spawner` keeps one server per forbidden set in this process and returns what
:class:`course_lib.grading.judge.WorkerProcess` calls to start a worker. A server that
cannot start or stops answering raises :class:`PoolUnavailable`, and the judge starts
a cold worker instead: the pool makes grading faster, never different.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

SERVER_MODULE = "course_lib.grading.forkserver"
START_TIMEOUT = 120.0  # seconds for a server to import torch on a loaded machine
ANSWER_TIMEOUT = 30.0  # seconds for a running server to fork a worker


class PoolUnavailable(RuntimeError):
    """The fork server could not start a worker (the judge then starts a cold one)."""


class PooledProcess:
    """A worker forked by a :class:`ForkServer`, with the part of ``subprocess.Popen``'s API the judge uses."""

    def __init__(self, server: ForkServer, pid: int, workdir: Path, stdin: int, stdout: int, stderr: int) -> None:
        self.server, self.pid, self.workdir = server, pid, workdir
        self.stdin = os.fdopen(stdin, "wb")
        self.stdout = os.fdopen(stdout, "rb")
        self.stderr = os.fdopen(stderr, "rb")
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
        self.server.kill(self.pid)

    def kill_tree(self) -> None:
        """Kill the worker and everything it started; remove its folder once it is gone."""
        if self.poll() is None:
            self.server.kill(self.pid)
        try:
            self.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return  # the server is gone or stuck: the folder goes with the pool
        shutil.rmtree(self.workdir, ignore_errors=True)


class ForkServer:
    """One fork server in its sandbox, started by ``command`` (which ends with the server's module).

    Args:
        command: the argv that starts the server (the sandbox prefix made with
            ``fork_server=True``, then ``python -I -m course_lib.grading.forkserver``).
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
            if wanted(message):
                return message

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self) -> PooledProcess:
        """A fresh worker: its three pipes, in a new folder of its own."""
        with self._lock:
            if not self.alive():
                raise PoolUnavailable(f"the fork server stopped: {self.stderr_tail()}")
            uid = self.fresh_uid() if self.fresh_uid else None
            workdir = self.folder / f"worker-{secrets.token_hex(8)}"
            workdir.mkdir(mode=0o700)
            if uid is not None:
                os.chown(workdir, uid, uid)
            stdin_read, stdin_write = os.pipe()
            stdout_read, stdout_write = os.pipe()
            stderr_read, stderr_write = os.pipe()
            ours, theirs = [stdin_write, stdout_read, stderr_read], [stdin_read, stdout_write, stderr_write]
            try:
                request = {"op": "start", "workdir": str(workdir), "uid": uid, "tmp_mb": self.tmp_mb}
                socket.send_fds(self.control, [json.dumps(request).encode()], theirs)
                started = self._receive(ANSWER_TIMEOUT, lambda m: m.get("op") == "started")
            except OSError as error:
                started = None
                self._stderr_tail += f"\n{error}".encode()
            finally:
                for fd in theirs:
                    os.close(fd)
            if started is None:
                for fd in ours:
                    os.close(fd)
                shutil.rmtree(workdir, ignore_errors=True)
                self.close()
                raise PoolUnavailable(f"the fork server did not start a worker: {self.stderr_tail()}")
            return PooledProcess(self, int(started["pid"]), workdir, *ours)

    def exit_code(self, pid: int) -> int | None:
        with self._lock:
            if pid not in self._exits:
                self._receive(0, lambda m: False)
            if pid not in self._exits and not self.alive():
                return 137  # the server (and with it the worker) was killed
            return self._exits.get(pid)

    def kill(self, pid: int) -> None:
        with self._lock:
            try:
                self.control.send(json.dumps({"op": "kill", "pid": pid}).encode())
            except OSError:
                pass

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, 9)
        except OSError:
            pass
        self.control.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _pool_parent() -> str:
    """Where pool folders go: not under ``/tmp`` or ``/dev/shm``, which each worker gets fresh (and empty)."""
    for candidate in ("/var/tmp", os.path.join(os.path.expanduser("~"), ".cache")):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    raise PoolUnavailable("no folder for the warm pool outside /tmp (/var/tmp or ~/.cache)")


_servers: dict[object, ForkServer] = {}
_disabled: dict[object, str] = {}
_folders: list[Path] = []
_registry_lock = threading.Lock()


def spawner(key: object, command_for: Callable[[Path], list[str]],
            fresh_uid: Callable[[], int] | None, tmp_mb: int = 512) -> Callable[[], PooledProcess]:
    """What starts a pooled worker for the forbidden set ``key`` (one server per key and process).

    Args:
        key: identifies the server's sandbox (the stub overlays of the forbidden set).
        command_for: the argv prefix of the server's sandbox for a given read-write folder.
        fresh_uid: allocates each worker's user ID (as root), or None.
        tmp_mb: size of each worker's private ``/tmp``.

    Returns:
        A callable that returns a :class:`PooledProcess`, or raises :class:`PoolUnavailable`
        (then, and for the rest of this process when the server cannot even start, the
        judge starts cold workers).
    """
    def spawn() -> PooledProcess:
        with _registry_lock:
            if key in _disabled:
                raise PoolUnavailable(_disabled[key])
            server = _servers.get(key)
            if server is None or not server.alive():
                folder = Path(tempfile.mkdtemp(prefix="course-judge-pool-", dir=_pool_parent()))
                folder.chmod(0o711)  # workers may enter their own folder, not list the others
                _folders.append(folder)
                command = command_for(folder) + [sys.executable, "-I", "-m", SERVER_MODULE]
                try:
                    server = ForkServer(command, folder, fresh_uid, tmp_mb)
                except (PoolUnavailable, OSError) as error:
                    _disabled[key] = str(error)
                    raise PoolUnavailable(str(error)) from None
                _servers[key] = server
        return server.spawn()
    return spawn


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
