"""IsolatedVerdict records every check's verdict in its test cell, whatever decided it."""
from __future__ import annotations

import types

from nbformat.v4 import new_code_cell, new_notebook, new_output

from course_grader.pipeline import check_outcomes, isolation
from course_grader.pipeline.preprocessors import IsolatedVerdict


def _graded_cell(source, grade_id):
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                       "grade_id": grade_id, "points": 1}})


def _notebook():
    crashed = _graded_cell('check("x.ok", Foo)', "t3")
    crashed.outputs = [new_output("error", ename="NameError", evalue="name 'Foo' is not defined", traceback=[])]
    return new_notebook(cells=[
        new_code_cell("class Foo: pass", metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "s"}}),
        _graded_cell('check("x.ok", Foo)\ncheck("x.bad", Foo)', "t1"), _graded_cell('check("x.gone", Foo)', "t2"),
        crashed])


def test_verdicts_kernel_errors_and_missing_verdicts_are_recorded(monkeypatch):
    verdict = types.SimpleNamespace
    bad = "x.bad failed: parameter 0 differs\n  at step 2 of 4\n  expected: [1.0]\nHint: add the momentum first"
    fake = types.SimpleNamespace(judge=lambda sources, checks, **kw: {
        "x.ok": verdict(passed=True, message="fine"), "x.bad": verdict(passed=False, message=bad)})
    monkeypatch.setattr(isolation, "load_judge", lambda: fake)
    nb, _ = IsolatedVerdict(use_sandbox=False).preprocess(_notebook(), {"metadata": {"path": "."}})
    recorded = list(check_outcomes.read(nb))
    assert [(grade_id, o.check, o.passed) for grade_id, o in recorded] == [
        ("t1", "x.ok", True), ("t1", "x.bad", False), ("t2", "x.gone", False), ("t3", "x.ok", False)]
    assert recorded[1][1].hint == "add the momentum first" and recorded[1][1].headline == "parameter 0 differs"
    assert recorded[2][1].message == "no verdict for x.gone"
    assert recorded[3][1].message == "NameError: name 'Foo' is not defined"


def test_a_judge_that_cannot_run_fails_every_check_in_the_record(monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("worker did not start")
    monkeypatch.setattr(isolation, "load_judge", lambda: types.SimpleNamespace(judge=crash))
    nb, _ = IsolatedVerdict(use_sandbox=False).preprocess(_notebook(), {"metadata": {"path": "."}})
    recorded = [o for _, o in check_outcomes.read(nb)]
    assert len(recorded) == 4 and not any(o.passed for o in recorded)
    assert "the isolated judge could not run" in recorded[0].message
