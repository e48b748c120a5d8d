"""Written answers graded by hand in nbgrader's formgrader, on a course the pipeline grades.

One scratch course: the probe assignment (two autograded exercises, 5 points) plus a written
answer worth 2 points, graded by the pipeline with its canary (the reference's model answer
has no score until someone grades it: the canary counts autograded points only). alice answers
everything; bob leaves the written answer as released.

- grades.csv splits the points: ``auto_score`` / ``manual_score``, ``raw_score`` their total;
- a manual score and comment survive ``--force`` (nbgrader keeps a manual grade while the
  answer cell is unchanged), and ``term feedback`` puts them into grades.csv and the feedback;
- in headless Chromium, the formgrader as ``make formgrader`` configures it: a score and a
  comment typed into alice's written answer, then a forced regrade, grades.csv and the
  regenerated feedback page.
"""
from __future__ import annotations

import csv
import html
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import autograding_probe as probe
import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from course_grader.pipeline import batch, scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.course import Course
from course_grader.pipeline.submission import Result
from course_grader.review import class_record, formgrader
from course_grader.review.report_html import assignment_page
from course_grader.term import feedback as term_feedback
from course_grader.term.__main__ import main as term_main
from course_grader.term.export import check_rows
from course_lib import setup_jupyter

QUESTION = "Why does `double(-3)` return -6? Answer in a sentence."
MODEL_ANSWER = "Because doubling multiplies by two, whatever the sign."
ALICE_ANSWER = "It multiplies its argument by 2, so -3 gives -6."
SERVER_START_S = 120
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"


def _source_with_written_answer():
    nb = probe.source_notebook()
    nb.cells.append(new_markdown_cell(QUESTION, metadata=probe._meta("why_question", locked=True)))
    answer = new_markdown_cell(MODEL_ANSWER, metadata=probe._meta("why", grade=True, solution=True, points=2))
    nb.cells.append(answer)
    return nb


def _with_answer(release, text):
    nb = probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "why" and text is not None:
            cell.source = text
    return nb


def _rows(course) -> dict[str, dict]:
    with open(course.grades_csv, newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def _course(root: Path, db_url: str | None = None):
    """A scratch course with the probe and its written answer, recorded in its gradebook; and its release."""
    source = root / "source"
    (source / probe.ASSIGNMENT).mkdir(parents=True)
    nbformat.write(_source_with_written_answer(), source / probe.ASSIGNMENT / f"{probe.NOTEBOOK}.ipynb")
    course = scratch.new_course(root / "course", source)
    if db_url is not None:
        course = Course(root=course.root, source=course.source, db_url=db_url)
    grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None)  # records the assignment, writes the release
    _, release = scratch.release_notebook(course, probe.ASSIGNMENT)
    return course, release


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(course, release): alice and bob graded once, with the canary."""
    course, release = _course(tmp_path_factory.mktemp("manual"))
    scratch.submit(course, "alice", probe.ASSIGNMENT, _with_answer(release, ALICE_ANSWER), "probe.ipynb")
    scratch.submit(course, "bob", probe.ASSIGNMENT, _with_answer(release, None), "probe.ipynb")
    report = grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None, canary=True)
    assert sorted(report.regraded) == [("alice", "probe"), ("bob", "probe")]
    (course.root / "nbgrader_config.py").write_text(  # what graders/nbgrader_config.py says for the real course
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course.root)!r}\n"
        "c.CourseDirectory.course_id = 'optim-course'\n"
        f"c.CourseDirectory.source_directory = {str(course.source)!r}\n"
        f"c.CourseDirectory.db_url = {course.db_url!r}\n")
    return course, release


def test_release_asks_for_the_answer_and_grades_csv_splits_the_points(graded):
    course, release = graded
    answer = next(c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "why")
    assert answer.source == "YOUR ANSWER HERE" and MODEL_ANSWER not in nbformat.writes(release)
    rows = _rows(course)
    alice, bob = rows["alice"], rows["bob"]
    assert (alice["auto_score"], alice["auto_max_score"], alice["manual_max_score"]) == ("5.0", "5.0", "2.0")
    assert (alice["manual_score"], alice["manual_status"], alice["max_score"]) == ("0.0", "to_grade", "7.0")
    # an answer left as released: nbgrader scores it 0 ("No response"), nothing to grade
    assert (bob["auto_score"], bob["manual_score"], bob["manual_status"]) == ("5.0", "0.0", "graded")


def _set_manual(course, student, score, comment):
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gb:
        grade = gb.find_grade("why", probe.NOTEBOOK, probe.ASSIGNMENT, student)
        grade.manual_score = score
        gb.find_comment("why", probe.NOTEBOOK, probe.ASSIGNMENT, student).manual_comment = comment
        gb.db.commit()


def _feedback_page(course, student) -> str:
    return (course.feedback / student / probe.ASSIGNMENT / f"{probe.NOTEBOOK}.html").read_text()


def test_manual_grade_survives_a_forced_regrade_and_reaches_feedback(graded):
    course, _ = graded
    _set_manual(course, "bob", 0.5, "Blank, but you said it in class: half a point.")
    report = grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None, force=True, students=("bob",))
    assert report.regraded == [("bob", "probe")]
    bob = _rows(course)["bob"]
    assert (bob["auto_score"], bob["manual_score"], bob["raw_score"], bob["score"]) == ("5.0", "0.5", "5.5", "5.5")
    assert bob["manual_status"] == "graded"
    assert term_main(["feedback", "--course", str(course.root), "--student", "bob"]) == 0  # the documented verb
    page = _feedback_page(course, "bob")
    assert "Blank, but you said it in class: half a point." in html.unescape(page)
    # the per-check export and the class report tell the two kinds of points apart
    cells = {(r[0], r[3]): r for r in check_rows(course, list(_rows(course).values()))[1:]}
    assert cells[("bob", "why")][5:] == [0.5, 2.0, "partial", "graded", "instructor"]
    assert cells[("bob", "test_double")][-1] == "checks"
    report = assignment_page(class_record.load(course).assignments[0])
    assert "Autograded: mean 5.00 of 5; written answers (graded by hand): mean " in report


def test_a_failed_regrade_keeps_the_manual_grade(graded, monkeypatch):
    course, _ = graded
    _set_manual(course, "bob", 1.0, "Kept through a crash.")
    monkeypatch.setattr(batch, "grade_job", lambda job: Result(job[1], job[2], "failed", "grading crashed").to_dict())
    grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None, force=True, students=("bob",))
    bob = _rows(course)["bob"]
    assert (bob["status"], bob["manual_score"], bob["auto_score"]) == ("failed", "1.0", "5.0")
    assert "kept in the gradebook" in bob["reason"]
    monkeypatch.undo()
    grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None, force=True, students=("bob",))
    bob = _rows(course)["bob"]
    assert (bob["status"], bob["manual_score"], bob["raw_score"]) == ("graded", "1.0", "6.0")


def test_manual_grade_survives_a_forced_regrade_in_postgresql(postgres_url, tmp_path):
    course, release = _course(tmp_path, postgres_url)
    scratch.submit(course, "alice", probe.ASSIGNMENT, _with_answer(release, ALICE_ANSWER), "probe.ipynb")
    grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None)
    assert _rows(course)["alice"]["manual_status"] == "to_grade"
    _set_manual(course, "alice", 2.0, "Exactly.")
    grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None, force=True)
    alice = _rows(course)["alice"]
    assert (alice["auto_score"], alice["manual_score"], alice["score"], alice["manual_status"]) == (
        "5.0", "2.0", "7.0", "graded")
    assert "Exactly." in html.unescape(_feedback_page(course, "alice"))


def test_formgrader_configuration_leaves_students_lab_alone(tmp_path):
    instructor = formgrader.configure(tmp_path / "instructor")
    student = tmp_path / "student"
    setup_jupyter.configure(student)
    read = lambda folder: {p.name: p.read_text() for p in (folder / "jupyter_server_config.d").glob("*.json")}
    assert '"nbgrader.server_extensions.formgrader": true' in read(instructor)[
        "nbgrader.server_extensions.formgrader.json"]
    assert '"nbgrader.server_extensions.formgrader": false' in read(student)[
        "nbgrader.server_extensions.formgrader.json"]
    env = formgrader.environment(instructor, base={})
    assert env == {"JUPYTER_CONFIG_DIR": str(instructor), "JUPYTER_PREFER_ENV_PATH": "0"}
    # JupyterLab's formgrader plugin: on with the instructor's folder first, off with the students' alone
    probe_code = ("from jupyterlab_server.config import get_static_page_config as g; "
                  "print(g()['disabledExtensions'].get('@jupyter/nbgrader:formgrader'))")
    shown = {}
    for who, folder in (("instructor", instructor), ("student", student)):
        run = subprocess.run([sys.executable, "-c", probe_code], env=formgrader.environment(folder),
                             capture_output=True, text=True, timeout=120, check=True)
        shown[who] = run.stdout.strip()
    assert shown == {"instructor": "False", "student": "True"}


# ----------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def server(graded, tmp_path_factory):
    """A Jupyter server with the formgrader on, started as ``make formgrader`` starts it."""
    course, _ = graded
    scratch_dir = tmp_path_factory.mktemp("formgrader")
    config = formgrader.configure(scratch_dir / "config")
    env = formgrader.environment(config)
    env.update(HOME=str(scratch_dir), JUPYTER_DATA_DIR=str(scratch_dir / "data"),
               JUPYTER_RUNTIME_DIR=str(scratch_dir / "runtime"), IPYTHONDIR=str(scratch_dir / "ipython"))
    env.pop("JUPYTER_PATH", None)
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    argv = formgrader.command(course.root, port, lab=False, open_browser=False)
    argv += ["--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"]
    log = scratch_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=course.root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer in {SERVER_START_S} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url, token, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def browser():
    from student_experience.chromium import launched_browser

    yield from launched_browser()


def _alice_notebook_id(course) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gb:
        return gb.find_submission_notebook(probe.NOTEBOOK, probe.ASSIGNMENT, "alice").id


@pytest.mark.browser
def test_instructor_grades_a_written_answer_in_the_formgrader(graded, server, browser):
    course, _ = graded
    url, token, log = server
    comment = "Right: the sign is kept. Say why 2 * x keeps it."
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # the instructor's token on every request, the pages' own API calls included
    context = browser.new_context(viewport={"width": 1300, "height": 900},
                                  extra_http_headers={"Authorization": f"token {token}"})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/formgrader/gradebook/{probe.ASSIGNMENT}/{probe.NOTEBOOK}")
    page.get_by_text("Submission #2").wait_for()  # the pipeline's two submissions (names hidden)
    assert page.locator("tbody tr").count() == 2
    page.goto(f"{url}/formgrader/submissions/{_alice_notebook_id(course)}/")
    assert ALICE_ANSWER in page.locator("body").inner_text()
    score = page.locator("input.score#why")
    score.fill("1.5")
    score.press("Tab")
    box = page.locator("textarea#why-comment")
    box.fill(comment)
    box.press("Tab")
    _wait_saved(course, "alice", 1.5, comment, log)
    page.screenshot(path=str(ARTIFACTS / "formgrader_written_answer.png"), full_page=True)  # for a person
    context.close()

    report = grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None, force=True, students=("alice",))
    assert report.regraded == [("alice", "probe")]
    alice = _rows(course)["alice"]
    assert (alice["auto_score"], alice["manual_score"], alice["raw_score"]) == ("5.0", "1.5", "6.5")
    assert alice["manual_status"] == "graded"
    _, failed = term_feedback.regenerate(course, students=("alice",))
    assert not failed
    shown = html.unescape(_feedback_page(course, "alice"))
    assert comment in shown and "6.5" in shown and ALICE_ANSWER in shown


def _wait_saved(course, student, score, comment, log: Path, timeout_s: float = 30) -> None:
    """The formgrader saves on change: wait until the gradebook holds the score and the comment."""
    from nbgrader.api import Gradebook

    deadline = time.monotonic() + timeout_s
    while True:
        with Gradebook(course.db_url, course.course_id) as gb:
            grade = gb.find_grade("why", probe.NOTEBOOK, probe.ASSIGNMENT, student)
            text = gb.find_comment("why", probe.NOTEBOOK, probe.ASSIGNMENT, student).manual_comment
            got = (grade.manual_score, text)
        if got == (score, comment):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the formgrader did not save {(score, comment)}, the gradebook holds {got}:\n"
                        f"{log.read_text()[-3000:]}")
        time.sleep(0.5)


def test_the_grade_table_says_which_points_wait_for_a_hand_grader():
    from course_grader.pipeline.grades import grade_table

    row = {"student_id": "ref", "assignment": "01_gradient_descent", "score": "10.0", "max_score": "12.0",
           "status": "graded", "reason": "", "late_submission_penalty": "0", "penalty_reason": "",
           "manual_status": "to_grade", "manual_max_score": "2.0"}
    assert "10/12  graded            2 points of written answers to grade by hand" in grade_table([row])
    assert "to grade by hand" not in grade_table([{**row, "manual_status": "graded"}])
