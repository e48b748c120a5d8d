"""Fixtures of the grading-integrity suite: the sandbox, and running code in it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from course_grader.sandbox.bwrap import probe


@pytest.fixture(scope="session")
def sandbox_available() -> str:
    """Skip (saying why) when bubblewrap cannot run here; the probe's description otherwise."""
    ok, reason = probe()
    if not ok:
        pytest.skip(f"grading sandbox unavailable: {reason}")
    return reason


@pytest.fixture
def students(tmp_path: Path) -> dict[str, Path]:
    """Two students' working folders, each holding a private file."""
    folders = {}
    for name in ("alice", "bob"):
        folder = tmp_path / "autograded" / name / "02_adam"
        folder.mkdir(parents=True)
        (folder / "adam.ipynb").write_text(f"{name}'s notebook")
        folders[name] = folder
    return folders


@pytest.fixture(scope="session")
def host_server() -> Iterator[int]:
    """A TCP server on the host's 127.0.0.1 that answers b'hello'; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


@pytest.fixture(params=["cold_worker", "warm_pool"])
def worker_spawn(request, sandbox_available):
    """How the judge starts its worker: ``spawn_for(overlays)`` gives the judge's ``spawn`` argument.

    ``cold_worker``: None, a fresh sandbox and Python per worker. ``warm_pool``: forked from
    the pool's server (course_grader.sandbox.warm_pool), strictly: a pool that cannot start a
    worker fails the test instead of falling back to a cold one.
    """
    if request.param == "cold_worker":
        return lambda overlays=(): None
    from course_grader.pipeline import isolation

    def spawn_for(overlays=()):
        spawn = isolation.warm_spawner(overlays)

        def strict():
            from course_grader.sandbox.warm_pool import PoolUnavailable
            try:
                return spawn()
            except PoolUnavailable as error:
                raise RuntimeError(f"the warm pool did not start a worker: {error}") from None
        return strict
    return spawn_for
