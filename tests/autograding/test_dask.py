"""The autograder on a Dask cluster grades exactly as on one machine (docs/instructors.md, --scheduler).

The same submissions of chapter 1 (the filled solution, correct and subtly wrong
implementations from tests/fixtures/implementations/, a notebook that is not JSON) go to two
courses, each with its own PostgreSQL database: one graded by the local pipeline, one by a
``distributed.LocalCluster`` of two worker processes whose tasks build their own scratch
course (they are never given the course folder). Both grades.csv must be identical, and the
feedback of the cluster's run must be in the course folder. The sandbox is used where it runs.
"""
from __future__ import annotations

import copy
import csv
import re
import shutil
from pathlib import Path

import nbformat
import pytest

import autograding_probe as probe
from course_grader.pipeline import isolation, dask_cluster, scratch
from course_grader.pipeline.course import Course
from course_grader.pipeline.batch import BatchReport, ConfigurationError, grade_course
from course_grader.pipeline.canary import CanaryFailed
from course_grader.pipeline.submission import Result, Settings

IMPLEMENTATIONS = Path(__file__).resolve().parents[1] / "fixtures" / "implementations"
ASSIGNMENT = "01_gradient_descent"
FIXTURES = ("correct_numpy", "wrong_dampening", "wrong_velocity_reset")
SETTINGS = Settings(timeout=60, sandbox=isolation.sandbox_status()[0], check_seed=20260)


def _course(root: Path, db_url: str) -> Course:
    """A course grading chapter 1 from solutions/, with a PostgreSQL gradebook."""
    source = root / "source"
    shutil.copytree(scratch.SOLUTIONS / ASSIGNMENT, source / ASSIGNMENT)
    (root / "submitted").mkdir()
    return Course(root=root.resolve(), source=source.resolve(), db_url=db_url)


def _submissions(course: Course) -> dict[str, nbformat.NotebookNode | str]:
    name, release = scratch.release_notebook(course, ASSIGNMENT)
    filled = scratch.filled(release, scratch.source_notebook(course, ASSIGNMENT, name))
    found: dict[str, nbformat.NotebookNode | str] = {"filled": filled}
    for fixture in FIXTURES:
        code = (IMPLEMENTATIONS / ASSIGNMENT / f"{fixture}.py").read_text()
        found[fixture] = scratch.with_implementation(filled, code)
    found["broken"] = '{"cells": [ this is not JSON'
    return found


def _verdicts(cell) -> tuple:
    """A graded cell's source, nbgrader metadata and error outputs (not the timings of its run)."""
    errors = [(o.ename, o.evalue) for o in cell.get("outputs", []) if o.output_type == "error"]
    return cell.source, cell.metadata.get("nbgrader"), errors


def _grades(course: Course) -> list[dict]:
    with open(course.grades_csv, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      scheduler_port=0) as local:
        yield local


def test_a_dask_cluster_grades_exactly_as_one_machine(postgres_database, cluster, tmp_path):
    courses = {where: _course(tmp_path / where, postgres_database(f"dask_{where}")) for where in ("local", "dask")}
    name, _ = scratch.release_notebook(courses["local"], ASSIGNMENT)
    for course in courses.values():
        for student, nb in _submissions(course).items():
            scratch.submit(course, student, ASSIGNMENT, nb, f"{name}.ipynb")

    local = grade_course(courses["local"], SETTINGS, jobs=1, log=lambda _: None)
    lines = []
    on_dask = grade_course(courses["dask"], SETTINGS, scheduler=cluster.scheduler_address, log=lines.append)

    assert any("Dask" in line for line in lines), lines
    assert sorted(on_dask.regraded) == sorted(local.regraded) and len(local.regraded) == len(FIXTURES) + 2
    rows = _grades(courses["local"])
    assert _grades(courses["dask"]) == rows
    by_student = {row["student_id"]: row for row in rows}
    # the grades are real ones: full marks, fewer for the wrong implementations, the broken one not graded
    full = by_student["filled"]["auto_max_score"]  # autograded points (the written answer is graded by hand)
    assert by_student["filled"]["status"] == "graded" and by_student["filled"]["auto_score"] == full
    assert by_student["correct_numpy"]["auto_score"] == full
    for wrong in ("wrong_dampening", "wrong_velocity_reset"):
        assert by_student[wrong]["status"] == "graded"
        assert float(by_student[wrong]["score"]) < float(by_student[wrong]["max_score"]), by_student[wrong]
    assert by_student["broken"]["status"] == "invalid_notebook"

    for course in courses.values():
        for student in ("filled", "correct_numpy", "wrong_dampening", "wrong_velocity_reset"):
            assert (course.feedback / student / ASSIGNMENT / f"{name}.html").is_file(), (course.root, student)
            assert (course.autograded / student / ASSIGNMENT / f"{name}.ipynb").is_file(), (course.root, student)
            for folder in (course.autograded, course.feedback):  # what `nbgrader release_feedback` reads
                for needed in ("timestamp.txt", "submission_secret.txt"):
                    assert (folder / student / ASSIGNMENT / needed).is_file(), (course.root, student, needed)
        assert not (course.feedback / "broken").exists()
    graded = {where: nbformat.read(course.autograded / "wrong_dampening" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
              for where, course in courses.items()}
    assert [_verdicts(cell) for cell in graded["dask"].cells] == [_verdicts(cell) for cell in graded["local"].cells]

    # A second run finds nothing changed: no task, same grades.
    again = grade_course(courses["dask"], SETTINGS, scheduler=cluster.scheduler_address, log=lambda _: None)
    assert again.regraded == [] and _grades(courses["dask"]) == rows

    # What a task is given names no path of the course folder: the worker could not use one.
    payload = dask_cluster.pack(courses["dask"], "wrong_dampening", ASSIGNMENT, SETTINGS, courses["dask"].db_url)
    assert str(tmp_path) not in repr(payload) and not any(isinstance(v, Path) for v in payload.values())


def _end_a_worker_process() -> "_KillsTheWorker":
    """Ends the process it runs in, unless that is this test's: its scheduler unpickles the task
    too, and passes it on to the workers as it was."""
    import multiprocessing
    import os

    if multiprocessing.current_process().name != "MainProcess":
        os._exit(1)
    return _KillsTheWorker()


class _KillsTheWorker:
    """Unpickled on a worker, it ends the worker's process at once (like a crash or an OOM kill)."""

    def __reduce__(self):
        return _end_a_worker_process, ()


def test_a_task_that_raises_or_kills_its_workers_fails_only_its_submission(cluster, monkeypatch, tmp_path):
    from distributed import Client

    course = scratch.new_course(tmp_path / "course")
    (course.release / ASSIGNMENT).mkdir(parents=True)
    (course.release / ASSIGNMENT / "gradient_descent.ipynb").write_text("{}")
    payloads = {"raises": {"student": "raises"},  # the task fails on the worker: KeyError
                "kills": {"student": "kills", "poison": _KillsTheWorker()},
                "unstaged": None}

    def pack(course, student, assignment, settings, db_url):
        if payloads[student] is None:
            raise dask_cluster.SubmissionError("missing_notebook", "missing gradient_descent.ipynb")
        return {**payloads[student], "notes": []}

    monkeypatch.setattr(dask_cluster, "pack", pack)
    todo = [(course, student, ASSIGNMENT, SETTINGS, "postgresql://unused") for student in payloads]
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        losses = dask_cluster.ClusterLosses.start(client)
        results = {r["student"]: r for r in dask_cluster.grade_on_dask(todo, client, losses=losses)}
    assert {s: r["status"] for s, r in results.items()} == {
        "raises": "failed", "kills": "failed", "unstaged": "missing_notebook"}
    assert "grading task failed on the cluster: KeyError" in results["raises"]["reason"]
    assert "KilledWorker" in results["kills"]["reason"] and "died" in results["kills"]["reason"]
    # the run says which workers it lost: the poisoned task killed one more than allowed-failures (3)
    assert losses.killed == 1 and sum(losses.lost.values()) >= 4, losses
    assert re.fullmatch(r"\d+ Dask workers? lost \((tcp://[^,]+(, )?)+\), (\d+) tasks? resubmitted; 1 submission\(s\) "
                        r"failed: every worker that ran them died \(KilledWorker\); the others' grades unaffected",
                        losses.summary()), losses.summary()
    assert losses.resubmitted == sum(losses.lost.values()) - 1


def test_the_run_summary_names_the_lost_workers():
    from course_grader.pipeline import cli

    losses = dask_cluster.ClusterLosses(lost={"tcp://10.0.0.7:40211": 3})
    assert losses.summary() == "1 Dask worker lost (tcp://10.0.0.7:40211), 3 tasks resubmitted; grades unaffected"
    report = BatchReport(results=[Result("s1", ASSIGNMENT, "graded")], regraded=[("s1", ASSIGNMENT)],
                         cluster_losses=losses.summary())
    assert cli.run_summary(report) == ("1 graded, 0 unchanged (skipped); 1 Dask worker lost (tcp://10.0.0.7:40211), "
                                       "3 tasks resubmitted; grades unaffected")
    assert dask_cluster.ClusterLosses().summary() == ""


#: read by the probe's setup cell on the worker: the reference's double() returns FACTOR * x
FACTOR = "COURSE_TEST_DOUBLE_FACTOR"


def _set_variable(name: str, value: str | None) -> None:
    """Run on a worker (client.run): change its environment, which the kernels it starts inherit."""
    import os

    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _executed(dask_worker=None) -> int:
    return dask_worker.state.executed_count


def _probe_course(root: Path, db_url: str) -> Course:
    """The probe assignment, whose reference gets full marks only where FACTOR is unset (or 2)."""
    source = root / "source"
    probe.write_source(source)
    path = source / probe.ASSIGNMENT / f"{probe.NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = f"import os\nFACTOR = int(os.environ.get({FACTOR!r}, '2'))"
    nb.cells[2].source = nb.cells[2].source.replace("return 2 * x", "return FACTOR * x")
    nbformat.write(nb, path)
    (root / "submitted").mkdir()
    return Course(root=root.resolve(), source=source.resolve(), db_url=db_url)


def test_a_worker_failing_its_canary_gets_no_task_and_is_named(postgres_database, tmp_path):
    from distributed import Client, LocalCluster

    course = _probe_course(tmp_path / "course", postgres_database("dask_canary"))
    filled = scratch.source_notebook(course, probe.ASSIGNMENT, probe.NOTEBOOK)
    blank = copy.deepcopy(filled)
    for cell in blank.cells[2], blank.cells[5]:  # the solution cells, as the student version has them
        cell.source = cell.source.split("\n", 1)[0] + "\n    raise NotImplementedError()"
    students = {"honest": filled, "blank": blank}
    for student, nb in students.items():
        scratch.submit(course, student, probe.ASSIGNMENT, nb, f"{probe.NOTEBOOK}.ipynb")
    # a cluster of its own: the module's cluster may still be restarting the workers an earlier test killed
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      scheduler_port=0) as cluster, Client(cluster.scheduler_address, set_as_default=False) as client:
        address = cluster.scheduler_address
        client.wait_for_workers(2, timeout=120)
        broken, healthy = sorted(client.scheduler_info()["workers"])
        client.run(_set_variable, FACTOR, "3", workers=[broken])
        try:
            before = client.run(_executed)
            lines: list[str] = []
            report = grade_course(course, probe.SETTINGS, scheduler=address, canary=True, log=lines.append)
            ran = {worker: count - before[worker] for worker, count in client.run(_executed).items()}
        finally:
            client.run(_set_variable, FACTOR, None)
    assert ran == {broken: 0, healthy: len(students)}, ran
    assert set(report.excluded_workers) == {broken}
    why = "\n".join(report.excluded_workers[broken])
    assert "probe: the reference solution should get full marks, got status graded, score 3" in why, why
    assert "double(2) should be 4" in why
    assert any(broken in line and "get no submission" in line for line in lines), lines
    rows = {row["student_id"]: row for row in _grades(course)}
    assert {s: (r["status"], float(r["score"]), float(r["max_score"])) for s, r in rows.items()} == {
        "honest": ("graded", 5.0, 5.0), "blank": ("graded", 0.0, 5.0)}, rows


def test_a_sqlite_gradebook_is_refused_with_a_scheduler(tmp_path):
    course = scratch.new_course(tmp_path / "course")
    with pytest.raises(ConfigurationError, match="SQLite .*PostgreSQL"):
        grade_course(course, SETTINGS, scheduler="tcp://127.0.0.1:8786", log=lambda _: None)
    assert not course.state_dir.exists()  # refused before anything was written


def test_the_command_line_leaves_the_sandbox_to_the_workers_and_refuses_sqlite(monkeypatch, tmp_path, capsys):
    from course_grader.pipeline import cli

    monkeypatch.setattr(isolation, "sandbox_status", lambda: (False, "bwrap not found"))
    assert cli.main(["--course", str(tmp_path), "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    err = capsys.readouterr().err
    assert "bwrap not found" not in err and "SQLite" in err and "PostgreSQL" in err


def test_a_scheduler_without_workers_or_unreachable_is_a_configuration_error(monkeypatch, tmp_path):
    from distributed import LocalCluster

    monkeypatch.setattr(dask_cluster, "CONNECT_TIMEOUT", 2)
    course = scratch.new_course(tmp_path / "course")
    course = Course(root=course.root, source=course.source, db_url="postgresql://grader@127.0.0.1:1/unused")
    with LocalCluster(n_workers=0, processes=True, dashboard_address=":0", scheduler_port=0) as empty:
        with pytest.raises(ConfigurationError, match="no Dask worker joined .*dask worker tcp://"):
            grade_course(course, SETTINGS, scheduler=empty.scheduler_address, log=lambda _: None)
    with pytest.raises(ConfigurationError, match="cannot reach the Dask scheduler"):
        grade_course(course, SETTINGS, scheduler=empty.scheduler_address, log=lambda _: None)


def test_a_bad_scheduler_address_is_a_value_error(tmp_path):
    course = scratch.new_course(tmp_path / "course")
    with pytest.raises(ValueError, match="scheduler must be a Dask scheduler address.*'10.0.0.5:8786'"):
        grade_course(course, SETTINGS, scheduler="10.0.0.5:8786", log=lambda _: None)


def _payload(**changes) -> dict:
    payload = {"student": "s1", "assignment": ASSIGNMENT, "course_id": "optim-course", "config": {},
               "db_url": "postgresql://nobody@127.0.0.1:1/none", "settings": {"timeout": 5, "sandbox": False},
               "release": {}, "source_files": {}, "staged": {}, "problems": {}, "notes": ["a note"],
               "code_hash": dask_cluster.code_hash()}
    payload.update(changes)
    return payload


def test_a_worker_running_other_grading_code_refuses_the_task():
    out = dask_cluster.grade_task(_payload(code_hash="0" * 64))
    assert out["result"]["status"] == "failed"
    assert "other grading code" in out["result"]["reason"] and "000000000000" in out["result"]["reason"]
    assert out["autograded"] == {} and out["feedback"] == {}


def test_a_worker_without_sandbox_fails_the_task(monkeypatch):
    monkeypatch.setattr(dask_cluster, "_WORKING_SANDBOX", [])
    monkeypatch.setattr(isolation, "sandbox_status", lambda: (False, "bwrap not found"))
    out = dask_cluster.grade_task(_payload(settings={"timeout": 5, "sandbox": True}))
    assert out["result"]["status"] == "failed"
    reason = out["result"]["reason"]
    assert "sandbox cannot run on the Dask worker" in reason and "bwrap not found" in reason


def test_a_shipped_file_name_leaving_the_scratch_course_is_refused():
    out = dask_cluster.grade_task(_payload(staged={"../../escape.ipynb": b"{}"}))
    assert out["result"]["status"] == "failed" and "plain relative path" in out["result"]["reason"]


def test_only_the_assignment_s_notebooks_and_pages_are_written_back(tmp_path):
    course = scratch.new_course(tmp_path / "course", source=scratch.SOLUTIONS)
    (course.release / ASSIGNMENT).mkdir(parents=True)
    (course.release / ASSIGNMENT / "gradient_descent.ipynb").write_text("{}")
    outside = tmp_path / "outside.txt"
    outputs = {"autograded": {"gradient_descent.ipynb": (0o444, b"graded"), "../../../outside.txt": (0o644, b"x"),
                              "evil.ipynb": (0o644, b"x")},
               "feedback": {"gradient_descent.html": (0o644, b"<html>"), "gradient_descent.ipynb": (0o644, b"x")}}
    result = dask_cluster.store_outputs(course, Result("s1", ASSIGNMENT, "graded"), outputs, SETTINGS)
    assert sorted(p.name for p in (course.autograded / "s1" / ASSIGNMENT).iterdir()) == ["gradient_descent.ipynb"]
    assert sorted(p.name for p in (course.feedback / "s1" / ASSIGNMENT).iterdir()) == ["gradient_descent.html"]
    assert not outside.exists()
    assert "outputs not written" in result.reason and "evil.ipynb" in result.reason


class _ClusterOfBrokenWorkers:
    """Stands for a ``distributed.Client`` whose every worker fails its canary."""

    def __init__(self):
        self.plugins: list[str] = []

    def register_plugin(self, plugin, name):
        self.plugins.append(name)

    def run(self, function, *args, on_error="raise"):
        return {f"tcp://10.0.0.{n}:4000": (False, [f"probe: the reference solution should get full marks ({n})"])
                for n in (7, 8)}

    def get_events(self, topic):
        return ()

    def unregister_worker_plugin(self, name):
        self.plugins.remove(name)


def test_no_worker_passing_its_canary_stops_the_run_before_anything_is_written(tmp_path):
    from course_grader.pipeline import batch

    probe.write_source(tmp_path / "source")
    course = scratch.new_course(tmp_path / "course", tmp_path / "source")
    scratch.submit(course, "alice", probe.ASSIGNMENT, probe.source_notebook(), f"{probe.NOTEBOOK}.ipynb")
    client = _ClusterOfBrokenWorkers()
    with pytest.raises(CanaryFailed, match="no Dask worker can grade correctly") as failed:
        batch._grade_course(course, probe.SETTINGS, 2, False, lambda _: None, client, canary=True)
    assert "tcp://10.0.0.7:4000:\n    probe: the reference solution should get full marks (7)" in str(failed.value)
    assert "tcp://10.0.0.8:4000" in str(failed.value)
    assert client.plugins == []  # the run's plugin is gone from the workers
    assert not course.grades_csv.exists() and not (course.root / "gradebook.db").exists()
