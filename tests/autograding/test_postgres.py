"""The autograde pipeline with a PostgreSQL gradebook, as docs/instructors.md describes it.

The test starts its own PostgreSQL server on 127.0.0.1 (``initdb`` into a scratch folder,
``pg_ctl start`` on a free port, trust authentication, stopped and removed at the end) and
points the pipeline at it with the documented URL form ``postgresql://user@host:port/db``,
which SQLAlchemy 2.1 serves with psycopg 3 (pinned in requirements-dev.txt). As root, the
server runs as the ``postgres`` user (or ``nobody``): PostgreSQL refuses to run as root.
Where no PostgreSQL server is installed the tests are skipped, saying so.
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
from course_lib.autograding import demo, scratch  # noqa: E402
from course_lib.autograding.course import Course  # noqa: E402
from course_lib.autograding.pipeline import ConfigurationError, grade_course  # noqa: E402
from course_lib.autograding.worker import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "optim_course"
SUPERUSER = "grader"
SETTINGS = Settings(timeout=10, sandbox=False)


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


@pytest.fixture(scope="module")
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


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """An empty database of its own for each test, in the form docs/instructors.md shows.

    Plain ``postgresql://``: SQLAlchemy 2.1 serves it with psycopg 3.
    """
    import psycopg

    name = f"{DATABASE}_{request.node.name.removeprefix('test_')[:40]}".lower()
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


def _query(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


def test_plain_postgresql_url_uses_the_pinned_psycopg_3():
    from sqlalchemy.engine import make_url

    dialect = make_url("postgresql://grader:secret@db.example.org:5432/optim_course").get_dialect()
    assert dialect.driver == "psycopg"
    import psycopg

    assert psycopg.__version__.startswith("3.")


def test_the_pipeline_grades_into_a_postgresql_gradebook(postgres_url, tmp_path):
    source = tmp_path / "source"
    probe.write_source(source)
    course = Course(root=(tmp_path / "course").resolve(), source=source.resolve(), db_url=postgres_url)
    (course.root / "submitted").mkdir(parents=True)
    grade_course(course, SETTINGS, jobs=1, log=lambda _: None)  # records the assignment
    _, release = scratch.release_notebook(course, probe.ASSIGNMENT)
    submissions = {
        "good": probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE),
        "halfway": probe.with_solutions(release, "def double(x):\n    return 0", probe.GOOD_SQUARE),
        "untouched": release,
    }
    for student, nb in submissions.items():
        scratch.submit(course, student, probe.ASSIGNMENT, nb, "probe.ipynb")

    report = grade_course(course, SETTINGS, jobs=2, log=lambda _: None)  # two workers writing at once
    rows = {row["student_id"]: (row["score"], row["status"]) for row in report.rows}
    assert rows == {"good": ("5.0", "graded"), "halfway": ("3.0", "graded"), "untouched": ("0.0", "graded")}
    assert (course.root / "grades.csv").read_text().count("\n") == 4
    assert (course.feedback / "good" / probe.ASSIGNMENT / "probe.html").exists()

    # The grades are in the PostgreSQL database (nbgrader's tables), not in a SQLite file.
    assert not list(course.root.rglob("*.db"))
    students = {name for (name,) in _query(postgres_url, "SELECT id FROM student")}
    assert students == set(submissions)
    per_student = dict(_query(postgres_url, """
        SELECT submitted_assignment.student_id, SUM(grade.auto_score)
        FROM grade
        JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id
        JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id
        GROUP BY submitted_assignment.student_id"""))
    assert {k: float(v) for k, v in per_student.items()} == {"good": 5.0, "halfway": 3.0, "untouched": 0.0}

    # A second run over the unchanged folder regrades nothing and keeps every grade.
    again = grade_course(course, SETTINGS, jobs=2, log=lambda _: None)
    assert {row["student_id"]: (row["score"], row["status"]) for row in again.rows} == rows
    assert sorted(again.skipped) == sorted((student, probe.ASSIGNMENT) for student in submissions)


def test_grade_demo_uses_course_db_url(postgres_url, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DB_URL", postgres_url)
    assert demo.gradebook_url(tmp_path) == postgres_url
    monkeypatch.delenv("COURSE_DB_URL")
    assert demo.gradebook_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"


def test_grade_demo_refuses_a_gradebook_with_other_students(postgres_url):
    """The demo would overwrite the assignments of a real course sharing the database."""
    from nbgrader.api import Gradebook

    with Gradebook(postgres_url) as gb:
        gb.update_or_create_student("real-student-42")
    try:
        with pytest.raises(ConfigurationError, match="holds other students .*real-student-42"):
            demo.check_gradebook_is_the_demo_s(postgres_url)
    finally:
        with Gradebook(postgres_url) as gb:
            gb.remove_student("real-student-42")
    demo.check_gradebook_is_the_demo_s(postgres_url)
