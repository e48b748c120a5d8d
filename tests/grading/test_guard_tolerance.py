"""Clipping by norm: torch's guard clip_norm / (norm + 1e-6) is correct; a larger one is not."""

from __future__ import annotations

import re

import pytest

from course_lib.checks import CheckFailed
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.chapters._spec import secret_inputs
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject
from grading.grading_helpers import FIXTURES

GUARDED = FIXTURES / "05_gradient_clipping" / "correct_torch_guard.py"
CHECKS = ["clipping.clip_by_norm", "clipping.step", "clipping.step_with_constraint"]


def with_guard(guard: str) -> type:
    source = re.sub(r"\(norm \+ 1e-6\)", f"(norm + {guard})", GUARDED.read_text())
    namespace: dict = {}
    exec(compile(source, str(GUARDED), "exec"), namespace)  # noqa: S102 - a fixture of ours
    return namespace["ClippingOptimizer"]


def passes(cls: type, check_id: str, seed: int | None) -> bool:
    try:
        with secret_inputs(seed):
            REGISTRY[check_id].func(LocalSubject(cls, Trace(check_id)))
        return True
    except CheckFailed:
        return False


@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4])
@pytest.mark.parametrize("guard", ["1e-6", "1e-7", "0.0"])
def test_negligible_guards_pass(guard: str, seed: int | None) -> None:
    cls = with_guard(guard)
    assert all(passes(cls, check_id, seed) for check_id in CHECKS)


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_a_guard_that_changes_the_result_fails(seed: int | None) -> None:
    assert not passes(with_guard("1e-3"), "clipping.clip_by_norm", seed)
