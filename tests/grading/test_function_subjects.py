"""Graded module-level functions (chapter 7) through both subjects: called by name with plain numbers,
given trusted closed-form schedules, and reported clearly when missing or of the wrong kind."""
from __future__ import annotations

import pytest

from course_lib.checks import CheckFailed, check
from course_grader.judge.trusted import judge_checks
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import CLOSED_FORMS, LocalSubject, closed_form

EXPONENTIAL = "def exponential_decay(step, base_lr, gamma):\n    return base_lr * gamma ** step\n"
WARMUP = '''
def with_warmup(schedule, warmup_steps, start_factor=0.0):
    def warmed_up(step):
        if step < warmup_steps:
            return schedule(0) * (start_factor + (1 - start_factor) * step / warmup_steps)
        return schedule(step - warmup_steps)
    return warmed_up
'''


def test_closed_forms_are_the_formulas_they_name() -> None:
    assert closed_form("constant", [0.3])(17) == 0.3
    assert closed_form("exponential", [0.1, 0.5])(3) == pytest.approx(0.0125)
    assert closed_form("step", [0.1, 0.5, 10])(25) == pytest.approx(0.025)
    assert closed_form("cosine", [0.1, 100.0, 0.01])(50) == pytest.approx(0.055)
    assert set(CLOSED_FORMS) == {"constant", "exponential", "step", "cosine"}


@pytest.mark.parametrize(("kind", "numbers"), [("os.system", [1.0]), ("cosine", ["0.1", 2, 3]),
                                               ("constant", [[0.1]]), ("constant", [0.1] * 9)])
def test_closed_forms_refuse_anything_but_known_kinds_of_plain_numbers(kind, numbers) -> None:
    with pytest.raises(ValueError):
        closed_form(kind, numbers)


def test_local_subject_calls_functions_and_builds_schedules() -> None:
    namespace: dict = {}
    exec(EXPONENTIAL + WARMUP, namespace)
    subject = LocalSubject(namespace["exponential_decay"], Trace("x"))
    assert subject.function_values([((2, 0.1, 0.5), {}), ((0,), {"base_lr": 1.0, "gamma": 0.3})]) == [0.025, 1.0]
    warm = LocalSubject(namespace["with_warmup"], Trace("x"))
    handle = warm.build(None, 4, closed_forms=[(0, "exponential", [0.1, 0.5])], start_factor=0.5)
    answers = warm.call_each(handle, "__call__", [((t,), {}) for t in (0, 2, 4, 5)])
    assert [value for value, _ in answers] == pytest.approx([0.05, 0.075, 0.1, 0.05])


def test_check_wants_the_function_itself() -> None:
    class exponential_decay:  # noqa: N801 - a class where a function is graded
        pass

    with pytest.raises(CheckFailed, match="pass the function itself"):
        check("zoo.exponential_decay", exponential_decay)


def test_judge_grades_functions_and_names_what_is_missing() -> None:
    sources = [EXPONENTIAL, WARMUP, "class polynomial_decay:\n    pass\n"]
    verdicts = judge_checks(sources, [("zoo.exponential_decay", "exponential_decay"),
                                      ("zoo.with_warmup", "with_warmup"),
                                      ("zoo.polynomial_decay", "polynomial_decay"),
                                      ("zoo.cyclic", "cyclic")], timeout=60.0)
    assert [v.passed for v in verdicts] == [True, True, False, False]
    assert "function polynomial_decay is not defined" in verdicts[2].message
    assert "function cyclic is not defined" in verdicts[3].message


def test_a_failing_call_names_its_arguments() -> None:
    source = "def cyclic(step, base_lr, max_lr, step_size_up, mode='triangular', gamma=1.0):\n    return 1 / 0\n"
    [verdict] = judge_checks([source], [("zoo.cyclic", "cyclic")], timeout=60.0)
    assert not verdict.passed
    assert "your cyclic(0, " in verdict.message and "raised ZeroDivisionError" in verdict.message
