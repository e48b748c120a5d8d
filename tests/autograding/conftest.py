"""Shared fixtures of the autograding tests: scratch batches (graded once per test run, then
inspected) and a private PostgreSQL server.

``postgres_server`` starts a PostgreSQL server on 127.0.0.1 for the test run (``initdb`` into a
scratch folder, ``pg_ctl start`` on a free port, trust authentication, stopped and removed at
the end); ``postgres_url`` gives each test an empty database of its own on it. As root, the
server runs as the ``postgres`` user (or ``nobody``): PostgreSQL refuses to run as root.
Where no PostgreSQL server is installed the tests that need one are skipped, saying so.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the probe module next to this file
import autograding_probe as probe  # noqa: E402
from course_grader.pipeline import scratch  # noqa: E402
from course_grader.pipeline.batch import grade_course  # noqa: E402

DATABASE = "optim_course"
SUPERUSER = "grader"


@pytest.fixture(scope="session")
def robust_batch(tmp_path_factory):
    """The robustness cases graded in one batch with 2 jobs: (course, report, rows by student)."""
    course, release = probe.probe_course(tmp_path_factory.mktemp("robust"))
    for student, (name, content) in probe.robustness_cases(release).items():
        scratch.submit(course, student, probe.ASSIGNMENT, content, name)
    scratch.submit(course, "nonotebook", probe.ASSIGNMENT, "my answers are in my head", "notes.txt")
    scratch.submit(course, "twonotebooks", probe.ASSIGNMENT, release, "a.ipynb")
    scratch.submit(course, "twonotebooks", probe.ASSIGNMENT, release, "b.ipynb")
    report = grade_course(course, probe.SETTINGS, jobs=2, log=lambda _: None)
    rows = {row["student_id"]: row for row in report.rows}
    return course, report, rows, release


def _server_bin() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent  # Debian's wrappers link into the version's bin
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda f: int(Path(f).parent.name)
                     if Path(f).parent.name.isdigit() else 0)
    for folder in reversed(folders):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """Whom the server runs as when the tests run as root (None: as the current user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.fail("running as root, and there is neither a postgres nor a nobody user to run PostgreSQL as")


def _run(argv: list[str], user: pwd.struct_passwd | None, **kwargs) -> subprocess.CompletedProcess:
    if user is not None:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to run PostgreSQL as a non-root user"
        argv = [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"] + argv
    env = dict(os.environ, LC_ALL="C", LANG="C")
    if user is not None:
        env["HOME"] = "/tmp"
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, **kwargs)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A fresh PostgreSQL server on 127.0.0.1; yields the URL of its ``postgres`` database."""
    bin_dir = _server_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL test skipped: no PostgreSQL server (initdb, pg_ctl on PATH or in "
                    "/usr/lib/postgresql/*/bin); install Debian's postgresql package "
                    "(apt-get install postgresql), as .ci/run does")
    user = _server_user()
    # Outside pytest's 0700 tmp folders, so that the server's user can enter it.
    folder = Path(tempfile.mkdtemp(prefix="course-postgres-"))
    data = folder / "data"
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
    port = _free_port()
    try:
        init = _run([str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                     "--encoding=UTF8", "--no-sync"], user)
        assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
                      "-o", options, "-w", "-t", "60", "start"], user)
        log = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").exists() else ""
        assert start.returncode == 0, f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{log}"
        try:
            yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        finally:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """Create an empty database ``name`` on the server of ``server_url``; its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def postgres_database(postgres_server):
    """A factory: ``postgres_database(name)`` creates an empty database on the test server; its URL."""
    return lambda name: create_database(postgres_server, f"{DATABASE}_{name}".lower())


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """An empty database of its own for each test, in the form docs/instructors.md shows.

    Plain ``postgresql://``: SQLAlchemy 2.1 serves it with psycopg 3.
    """
    return create_database(postgres_server, f"{DATABASE}_{request.node.name.removeprefix('test_')[:40]}".lower())
