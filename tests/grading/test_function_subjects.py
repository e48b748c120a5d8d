"""Graded module-level functions (chapter 7) through both subjects: called by name with plain numbers,
given trusted closed-form schedules, and reported clearly when missing or of the wrong kind."""
from __future__ import annotations

import numpy as np
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


ATTEMPTS = '''
class Hostile(ValueError):
    def __str__(self):
        raise RuntimeError("no message for you")

def picky(x, mode="a"):
    if mode == "exit":
        raise SystemExit(3)
    if mode == "hostile":
        raise Hostile()
    if mode == "subclass":
        raise type("MyError", (ValueError,), {})(f"x must be > 0, got {x}")
    if x < 0:
        raise ValueError(f"x must be >= 0, got {x}")
    if x == 0:
        raise IndexError("list index out of range")
    return x
'''


def test_worker_attempt_keeps_every_student_exception_as_plain_data() -> None:
    from course_grader.judge import protocol
    from course_grader.judge.worker import Server

    namespace: dict = {}
    exec(ATTEMPTS, namespace)
    server = Server(namespace)

    def attempt(*args, **kwargs):
        answer = server.handle({"op": "attempt", "kind": "function", "name": "picky", "dtype": "float64",
                                "params": protocol.encode(None), "args": protocol.encode(list(args)),
                                "kwargs": protocol.encode(list(kwargs.items())), "exception": "ValueError"})
        assert answer["ok"] is True, answer
        return protocol.decode(answer["value"])

    assert attempt(1.0) == {"raised": False, "matches": False, "type": "", "message": "", "where": "",
                            "call": "picky(1.0)"}
    refused = attempt(-1.0)
    assert refused["raised"] and refused["matches"] and refused["message"] == "x must be >= 0, got -1.0"
    assert not attempt(0.0)["matches"] and attempt(0.0)["type"] == "IndexError"
    assert attempt(1.0, mode="exit")["type"] == "SystemExit"
    assert attempt(1.0, mode="hostile")["matches"] and attempt(1.0, mode="hostile")["message"]
    assert attempt(1.0, mode="subclass")["matches"] and attempt(1.0, mode="subclass")["type"] == "MyError"


@pytest.mark.parametrize(("args", "kwargs", "names", "message"), [
    ((2.0,), {}, ("x",), "returned without raising ValueError"),
    ((0.0,), {}, ("x",), "raised IndexError instead of ValueError"),
    ((-1.0,), {}, ("y",), "does not name y"),
])
def test_expect_error_fails_clearly(args, kwargs, names, message) -> None:
    namespace: dict = {}
    exec(ATTEMPTS, namespace)
    subject = LocalSubject(namespace["picky"], Trace("x.check"))
    subject.expect_error("function", -1.0, names=("x",))
    with pytest.raises(CheckFailed, match=message):
        subject.expect_error("function", *args, names=names, **kwargs)
    subject.expect_no_error("function", 1.0)
    with pytest.raises(CheckFailed, match="but these arguments are allowed"):
        subject.expect_no_error("function", -1.0)


def test_worker_attempt_places_built_objects_and_refuses_them_for_a_constructor() -> None:
    """A graded function that takes a model (a built object) can be attempted: the object goes where ``objects``
    says, the call shows its type, and a constructor never receives one."""
    from course_grader.judge import protocol
    from course_grader.judge.worker import Server

    namespace: dict = {}
    exec("def sizes(model, start):\n"
         "    if len(start) != len(list(model.parameters())):\n"
         "        raise ValueError(f'start must have one tensor per parameter, got {len(start)}')\n"
         "    return len(start)\n", namespace)
    server = Server(namespace)
    model = server.handle({"op": "make", "kind": "mlp", "spec": protocol.encode(list(
        {"sizes": [2, 3, 1], "dtype": "float64", "batch_norm": False, "train": False,
         "weights": [np.zeros((3, 2)), np.zeros(3), np.zeros((1, 3)), np.zeros(1)]}.items()))})
    assert model["ok"] is True, model

    def attempt(start, kind="function"):
        return server.handle({"op": "attempt", "kind": kind, "name": "sizes", "dtype": "float64",
                              "params": protocol.encode(None), "args": protocol.encode([None, start]),
                              "kwargs": protocol.encode([]), "exception": "ValueError",
                              "objects": protocol.encode([[0, protocol.decode(model["value"])]])})

    refused = protocol.decode(attempt([np.zeros(1)])["value"])
    assert refused["raised"] and refused["matches"] and "start must have one tensor" in refused["message"]
    assert refused["call"].startswith("sizes(<Sequential>")
    accepted = protocol.decode(attempt([np.zeros(1)] * 4)["value"])
    assert not accepted["raised"]
    assert attempt([np.zeros(1)], kind="new")["ok"] is False
