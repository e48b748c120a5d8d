"""The chapter's source notebook: grading markup, the solution against every check, and
visible tests that catch plausible mistakes.

Fast (about a second): the solution cell and the test cells are executed in-process in a
namespace holding only what the setup cell provides, as the isolated grader does.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import List, Optional, Tuple

import nbformat
import numpy as np
import pytest
import torch

from course_lib.grading.checks import REGISTRY
from course_lib.grading.subjects import LocalSubject

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "solutions" / "01_gradient_descent" / "gradient_descent.ipynb"
CLASS = "GradientDescentOptimizer"
CHECK_IDS = [
    'gradient_descent.vanilla',
    'gradient_descent.momentum',
    'gradient_descent.nesterov',
    'gradient_descent.multiple_params',
]
# Plausible wrong solutions, as (name, text in the solution, replacement): the visible tests must fail on each.
MUTANTS = [
    ('nesterov_ignored', 'p -= self.lr * (g + self.momentum * v)', 'p -= self.lr * v'),
    ('averaged_velocity', 'v.mul_(self.momentum).add_(g)', 'v.mul_(self.momentum).add_((1 - self.momentum) * g)'),
    ('velocity_not_in_place', 'v.mul_(self.momentum).add_(g)', 'v = self.momentum * v + g'),
    ('none_grad_not_skipped', 'if p.grad is None:\n                    continue', 'if p.grad is None:\n                    p.grad = torch.ones_like(p)'),
    ('momentum_ignored', 'p -= self.lr * v\n', 'p -= self.lr * g\n'),
]
HIDDEN = re.compile(
    r'### BEGIN HIDDEN TESTS\ncheck\("(?P<id>[a-z_]+\.[a-z_0-9]+)", (?P<cls>\w+)\)\n### END HIDDEN TESTS\s*$')


def _cells():
    nb = nbformat.read(SOURCE, as_version=4)
    return [(c, c.metadata.get("nbgrader", {})) for c in nb.cells]


def _solution_source() -> str:
    (source,) = [c.source for c, meta in _cells() if meta.get("solution")]
    return source


def _visible_tests() -> list[tuple[str, str]]:
    return [(meta["grade_id"], c.source) for c, meta in _cells()
            if meta.get("grade") and "BEGIN HIDDEN TESTS" not in c.source]


def _namespace(solution: str) -> dict:
    namespace = {"torch": torch, "math": math, "np": np, "List": List, "Optional": Optional, "Tuple": Tuple}
    exec(compile(solution, f"<{CLASS} solution>", "exec"), namespace)
    return namespace


def test_markup_points_and_hidden_checks():
    cells = _cells()
    assert all(meta.get("grade_id") for _, meta in cells), "every cell needs nbgrader metadata"
    assert all(meta.get("locked") for _, meta in cells if not meta.get("solution")), "prose and demos are read-only"
    assert _solution_source().startswith(f"class {CLASS}")
    graded = [(c, meta) for c, meta in cells if meta.get("grade")]
    hidden = [HIDDEN.search(c.source) for c, _ in graded if "BEGIN HIDDEN TESTS" in c.source]
    assert all(hidden), "a hidden cell must hold exactly one check(\"<id>\", <Class>) call"
    assert [(m["id"], m["cls"]) for m in hidden] == [(cid, CLASS) for cid in CHECK_IDS]
    assert sum(meta["points"] for _, meta in graded) == 10  # visible tests carry 0 points
    assert all(c.source.lstrip().startswith("#") for c, _ in graded if "BEGIN HIDDEN TESTS" in c.source)
    assert all(not c.get("outputs") for c, _ in cells if c.cell_type == "code"), "commit sources without outputs"


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_solution_passes_check(check_id):
    REGISTRY[check_id].func(LocalSubject(_namespace(_solution_source())[CLASS]))


def test_visible_tests_pass_on_solution():
    namespace = _namespace(_solution_source())
    for grade_id, source in _visible_tests():
        exec(compile(source, f"<{grade_id}>", "exec"), dict(namespace))


@pytest.mark.parametrize("name, old, new", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_visible_tests_catch_mistake(name, old, new):
    solution = _solution_source()
    assert old in solution, f"mutant {name!r} no longer applies to the solution"
    namespace = _namespace(solution.replace(old, new))
    failures = 0
    for grade_id, source in _visible_tests():
        try:
            exec(compile(source, f"<{grade_id}>", "exec"), dict(namespace))
        except AssertionError:
            failures += 1
    assert failures, f"no visible test fails when the solution has the mistake {name!r}"
