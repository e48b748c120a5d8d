"""The batch: parallel == serial, reruns change nothing, grades.csv format, CLI policy, preprocessors."""
from __future__ import annotations

import csv
import sqlite3
import types

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import autograding_probe as probe
from autograding_probe import SETTINGS, probe_course, robustness_cases
from course_grader.pipeline import cli, isolation, scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.preprocessors import (
    DEFERRED_MARK, DEMO_PLACEHOLDER, HideHiddenTests, IsolatedVerdict, LimitOutputSize, RobustExecute, demo_cells,
)
from course_grader.pipeline.repair import restore_metadata
from nbgrader.api import Gradebook

SERIAL = ["good", "untouched", "syntax", "memory", "visibleonly", "stripped", "deleted", "notjson"]


def cell_scores(course, students):
    out = {}
    with Gradebook(course.db_url, course.course_id) as gb:
        for student in students:
            try:
                sub = gb.find_submission(probe.ASSIGNMENT, student)
            except Exception:
                out[student] = None
                continue
            out[student] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
    return out


def test_two_jobs_grade_like_one(robust_batch, tmp_path):
    course2, release = probe_course(tmp_path)
    cases = robustness_cases(release)
    for student in SERIAL:
        name, content = cases[student]
        scratch.submit(course2, student, probe.ASSIGNMENT, content, name)
    report = grade_course(course2, SETTINGS, jobs=1, log=lambda _: None)
    course, _, rows, _ = robust_batch
    serial = {r["student_id"]: (r["score"], r["status"]) for r in report.rows}
    assert serial == {s: (rows[s]["score"], rows[s]["status"]) for s in SERIAL}
    assert cell_scores(course2, SERIAL) == cell_scores(course, SERIAL)
    path = course.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_rerun_on_unchanged_folder_changes_no_grade(robust_batch):
    course, _, _, _ = robust_batch
    before = course.grades_csv.read_text()
    report = grade_course(course, SETTINGS, jobs=2, log=lambda _: None)
    assert report.regraded == []
    assert course.grades_csv.read_text() == before


def test_changed_submission_alone_is_regraded(tmp_path):
    course, release = probe_course(tmp_path)
    scratch.submit(course, "a", probe.ASSIGNMENT, release, "probe.ipynb")
    scratch.submit(course, "b", probe.ASSIGNMENT, release, "probe.ipynb")
    grade_course(course, SETTINGS, jobs=1, log=lambda _: None)
    scratch.submit(course, "b", probe.ASSIGNMENT, probe.with_solutions(release, probe.GOOD_DOUBLE), "probe.ipynb")
    report = grade_course(course, SETTINGS, jobs=1, log=lambda _: None)
    assert report.regraded == [("b", probe.ASSIGNMENT)]
    rows = {r["student_id"]: r for r in csv.DictReader(open(course.grades_csv))}
    assert (rows["a"]["score"], rows["b"]["score"]) == ("0.0", "2.0")


def test_grades_csv_has_export_columns_then_status_reason_penalty_and_split(robust_batch):
    course, _, _, _ = robust_batch
    header = course.grades_csv.read_text().splitlines()[0]
    assert header == ("assignment,duedate,timestamp,student_id,last_name,first_name,email,raw_score,"
                      "late_submission_penalty,score,max_score,status,reason,penalty_reason,"
                      "auto_score,auto_max_score,manual_score,manual_max_score,manual_status")


def test_cli_refuses_without_sandbox(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(isolation, "sandbox_status", lambda: (False, "bwrap not found"))
    monkeypatch.delenv("AUTOGRADE_NO_SANDBOX", raising=False)
    assert cli.main(["--course", str(tmp_path)]) == 2
    assert "bwrap not found" in capsys.readouterr().err


def test_cli_configuration_errors_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(isolation, "sandbox_status", lambda: (False, "no sandbox here"))
    assert cli.main(["--course", str(tmp_path), "--no-sandbox"]) == 2  # no sources
    out = capsys.readouterr()
    assert "WITHOUT THE SANDBOX" in out.out and "no assignment sources" in out.err
    assert cli.main(["--jobs", "0", "--no-sandbox"]) == 2


def _graded_cell(source, grade_id="t"):
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                       "grade_id": grade_id, "points": 1}})


def test_isolated_verdict_zeroes_a_cell_the_kernel_passed(monkeypatch):
    Verdict = types.SimpleNamespace
    fake = types.SimpleNamespace(judge=lambda sources, checks, **kw: {
        "x.ok": Verdict(passed=True, message="fine"), "x.bad": Verdict(passed=False, message="step 2: expected 1.0")})
    monkeypatch.setattr(isolation, "load_judge", lambda: fake)
    nb = new_notebook(cells=[
        new_code_cell("class Foo: pass", metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "s"}}),
        _graded_cell('check("x.ok", Foo)', "t1"), _graded_cell('check("x.bad", Foo)', "t2"),
        _graded_cell('check("x.missing", Foo)', "t3")])
    pp = IsolatedVerdict(use_sandbox=False)
    nb, _ = pp.preprocess(nb, {"metadata": {"path": "."}})
    assert [o.text for o in nb.cells[1].outputs] == ["✓ x.ok: passed\n"]
    assert [o.ename for o in nb.cells[2].outputs] == ["IsolatedCheckFailed"]
    assert "expected 1.0" in nb.cells[2].outputs[0].evalue
    assert [o.ename for o in nb.cells[3].outputs] == ["IsolatedCheckFailed"]  # no verdict: no credit


def _stdout(text):
    return nbformat.NotebookNode(output_type="stream", name="stdout", text=text)


def test_isolated_verdict_alone_decides_deferred_checks(monkeypatch):
    """While autograding, check() only prints; a cell passes only if the judge passed all its checks."""
    Verdict = types.SimpleNamespace
    fake = types.SimpleNamespace(judge=lambda sources, checks, **kw: {
        "x.ok": Verdict(passed=True, message="fine"), "x.bad": Verdict(passed=False, message="step 2: expected 1.0")})
    monkeypatch.setattr(isolation, "load_judge", lambda: fake)
    sources = ['check("x.ok", Foo)', 'check("x.bad", Foo)', 'check("x.missing", Foo)',
               'check("x.ok", Foo)\ncheck("x.bad", Foo)', 'check("x.ok", Foo)\ncheck("x.ok", Foo)']
    cells = []
    for i, source in enumerate(sources):
        cell = _graded_cell(source, f"t{i}")
        # what the kernel printed: deferred lines and a forged success line, no error
        cell.outputs = [_stdout(f"x.bad: {DEFERRED_MARK}\n✓ x.bad: passed\n")]
        cells.append(cell)
    nb, resources = IsolatedVerdict(use_sandbox=False).preprocess(new_notebook(cells=cells), {})
    outputs = [[(o.output_type, o.get("ename"), o.get("text")) for o in c.outputs] for c in nb.cells]
    assert outputs[0] == [("stream", None, "✓ x.ok: passed\n")]
    assert outputs[4] == [("stream", None, "✓ x.ok: passed\n✓ x.ok: passed\n")]
    for i in (1, 2, 3):
        assert [o[1] for o in outputs[i]] == ["IsolatedCheckFailed"], (i, outputs[i])
    assert "expected 1.0" in nb.cells[1].outputs[0].evalue and "no verdict" in nb.cells[2].outputs[0].evalue
    assert resources["autograding"]["isolated_failed"] == []  # deferred: not a kernel/judge disagreement


def test_isolated_verdict_fails_deferred_checks_without_a_judge(monkeypatch):
    monkeypatch.setattr(isolation, "load_judge", lambda: None)
    cell = _graded_cell('check("x.ok", Foo)')
    cell.outputs = [_stdout(f"x.ok: {DEFERRED_MARK}\n")]
    nb, _ = IsolatedVerdict(use_sandbox=False).preprocess(new_notebook(cells=[cell]), {})
    assert [o.get("ename") for o in nb.cells[0].outputs] == ["IsolatedCheckFailed"]


def test_check_defers_only_under_the_pipelines_autograde(monkeypatch, capsys):
    from course_lib.checks import local

    monkeypatch.setattr(local, "LocalSubject", None)  # would fail if the check ran
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("COURSE_ISOLATED_JUDGE", "1")
    local.check("adam.first_step", object)
    assert capsys.readouterr().out == f"adam.first_step: {DEFERRED_MARK}\n"
    for execution, judge in (("validate", "1"), ("autograde", "0")):  # validate; plain nbgrader autograde
        monkeypatch.setenv("NBGRADER_EXECUTION", execution)
        monkeypatch.setenv("COURSE_ISOLATED_JUDGE", judge)
        assert not local.deferred_to_judge()
        with pytest.raises(Exception):
            local.check("adam.first_step", object)  # runs: object is not the class under test


def test_early_judge_is_used_only_for_the_same_sources(monkeypatch):
    Verdict = types.SimpleNamespace
    calls = []

    def fake_judge(sources, checks, **kw):
        calls.append(list(sources))
        return {"x.ok": Verdict(passed=sources == ["class Foo: pass"], message="judged " + sources[0])}
    monkeypatch.setattr(isolation, "load_judge", lambda: types.SimpleNamespace(judge=fake_judge))
    solution = new_code_cell("class Foo: pass", metadata={"nbgrader": {"solution": True, "grade": False,
                                                                      "grade_id": "s"}})
    nb = new_notebook(cells=[solution, _graded_cell('check("x.ok", Foo)')])
    resources = {}
    IsolatedVerdict(use_sandbox=False).start_early(nb, resources)
    nb, _ = IsolatedVerdict(use_sandbox=False).preprocess(nb, resources)
    assert calls == [["class Foo: pass"]] and nb.cells[1].outputs[0].text == "✓ x.ok: passed\n"
    IsolatedVerdict(use_sandbox=False).start_early(nb, resources)
    resources["autograding"]["early_judge"][2].result()  # its thread has judged (else the order of calls varies)
    nb.cells[0].source = "class Foo: changed = True"  # what was judged early is not what is graded
    nb, _ = IsolatedVerdict(use_sandbox=False).preprocess(nb, resources)
    assert calls[-1] == ["class Foo: changed = True"] and nb.cells[1].outputs[0].ename == "IsolatedCheckFailed"


def _cell(source, **nbgrader):
    meta = {"nbgrader": {"grade": False, "solution": False, "locked": False, **nbgrader}} if nbgrader else {}
    return new_code_cell(source, metadata=meta)


def _demo_notebook():
    return new_notebook(cells=[
        _cell("x = 1  # student cell before the setup"),
        _cell("import os\nsetup = 1", locked=True, grade_id="setup"),
        _cell("raise RuntimeError('demo ran')", locked=True, grade_id="demo"),
        _cell("y = 2", solution=True, grade_id="sol"),
        _cell("z = 3  # student cell"),
        _cell("print(os.environ.get('COURSE_ISOLATED_JUDGE'), os.environ.get('NBGRADER_EXECUTION'), setup, y, z)",
              grade=True, locked=True, grade_id="t", points=1),
        _cell("raise RuntimeError('second demo ran')", locked=True, grade_id="demo2"),
    ])


def test_demo_cells_are_the_locked_ungraded_cells_after_setup():
    assert [c.metadata["nbgrader"]["grade_id"] for c in demo_cells(_demo_notebook())] == ["demo", "demo2"]


def test_robust_execute_skips_demos_and_restores_them(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.delenv("COURSE_ISOLATED_JUDGE", raising=False)
    nb = _demo_notebook()
    originals = [c.source for c in nb.cells]
    nb, _ = RobustExecute(skip_demo_cells=True, defer_checks=True, timeout=60).preprocess(nb, {})
    assert [c.source for c in nb.cells] == originals and DEMO_PLACEHOLDER not in str(nb)
    assert nb.cells[2].outputs == [] and nb.cells[6].outputs == []
    assert [o.text for o in nb.cells[5].outputs] == ["1 autograde 1 2 3\n"]
    assert "COURSE_ISOLATED_JUDGE" not in __import__("os").environ  # restored after the kernel started


def test_isolated_verdict_fails_closed_when_the_judge_crashes(monkeypatch):
    def broken(*a, **kw):
        raise RuntimeError("worker would not start")
    monkeypatch.setattr(isolation, "load_judge", lambda: types.SimpleNamespace(judge=broken))
    nb = new_notebook(cells=[_graded_cell('check("x.ok", Foo)')])
    nb, _ = IsolatedVerdict(use_sandbox=False).preprocess(nb, {})
    assert nb.cells[0].outputs[0].ename == "IsolatedCheckFailed"
    assert "could not run" in nb.cells[0].outputs[0].evalue


def test_hide_hidden_tests_keeps_visible_lines_and_message():
    cell = _graded_cell('check("a.visible", A)\n    ### BEGIN HIDDEN TESTS\n'
                        'check("a.secret", A)\nassert 1 == 1\n    ### END HIDDEN TESTS')
    cell.outputs = [nbformat.NotebookNode(output_type="error", ename="CheckFailed", evalue="a.secret: wrong m",
                                          traceback=['----> 3 check("a.secret", A)'])]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert 'check("a.visible", A)' in cell.source and "# hidden test: a.secret" in cell.source
    assert 'check("a.secret"' not in cell.source and "assert 1 == 1" not in cell.source
    assert cell.outputs[0].traceback == ["CheckFailed: a.secret: wrong m"]


def test_limit_output_size_cuts_one_long_line():
    cell = new_code_cell("print('x' * 10**6)")
    cell.outputs = [nbformat.NotebookNode(output_type="stream", name="stdout", text="x" * 10**6)]
    cell, _ = LimitOutputSize(max_chars=1000).preprocess_cell(cell, {}, 0)
    assert len(cell.outputs[0].text) < 1200 and "truncated" in cell.outputs[0].text


def test_restore_metadata_after_copy_into_a_fresh_notebook():
    release = probe.source_notebook()
    student = probe.with_solutions(release, "def double(x):\n    return x + x")
    for cell in student.cells:
        cell.metadata = {}
        cell.pop("id", None)
    notes = restore_metadata(student, release)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in student.cells]
    assert ids == ["intro", None, "double", "test_double", None, "square", "test_square"]
    assert "restored" in notes[0]


@pytest.mark.skipif(not isolation.sandbox_status()[0], reason="the sandbox cannot run on this machine")
def test_sandboxed_batch(tmp_path):
    course, release = probe_course(tmp_path)
    settings = SETTINGS.__class__(timeout=5, sandbox=True)
    scratch.submit(course, "good", probe.ASSIGNMENT, probe.with_solutions(
        release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE), "probe.ipynb")
    scratch.submit(course, "exits", probe.ASSIGNMENT, probe.with_solutions(
        release, "import os\nos._exit(3)", probe.GOOD_SQUARE), "probe.ipynb")
    report = grade_course(course, settings, jobs=2, log=lambda _: None)
    rows = {r["student_id"]: (r["score"], r["status"]) for r in report.rows}
    assert rows == {"good": ("5.0", "graded"), "exits": ("0.0", "kernel_died")}
