"""The chapter's source notebook: grading markup, and its solution against every check.

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
SOURCE = ROOT / "solutions" / "05_gradient_clipping" / "gradient_clipping.ipynb"
CLASS = "ClippingOptimizer"
CHECK_IDS = [
    "clipping.grad_norm",
    "clipping.clip_by_norm",
    "clipping.clip_by_value",
    "clipping.step",
    "clipping.step_with_constraint",
]
HIDDEN = re.compile(
    r'### BEGIN HIDDEN TESTS\ncheck\("(?P<id>[a-z_]+\.[a-z_0-9]+)", (?P<cls>\w+)\)\n### END HIDDEN TESTS\s*$')


def _cells():
    nb = nbformat.read(SOURCE, as_version=4)
    return [(c, c.metadata.get("nbgrader", {})) for c in nb.cells]


def _namespace() -> dict:
    return {"torch": torch, "math": math, "np": np, "List": List, "Optional": Optional, "Tuple": Tuple}


def test_markup_points_and_hidden_checks():
    cells = _cells()
    assert all(meta.get("grade_id") for _, meta in cells), "every cell needs nbgrader metadata"
    solutions = [c for c, meta in cells if meta.get("solution")]
    assert len(solutions) == 1 and solutions[0].source.startswith(f"class {CLASS}")
    graded = [(c, meta) for c, meta in cells if meta.get("grade")]
    hidden = [HIDDEN.search(c.source) for c, _ in graded if "BEGIN HIDDEN TESTS" in c.source]
    assert all(hidden), "a hidden cell must hold exactly one check(\"<id>\", <Class>) call"
    assert [(m["id"], m["cls"]) for m in hidden] == [(cid, CLASS) for cid in CHECK_IDS]
    assert sum(meta["points"] for _, meta in graded) == 10  # visible tests carry 0 points
    assert all(c.source.lstrip().startswith("#") for c, _ in graded if "BEGIN HIDDEN TESTS" in c.source), (
        "each hidden cell starts with a sentence saying what it checks")
    assert all(not c.get("outputs") for c, _ in cells if c.cell_type == "code"), "commit sources without outputs"


@pytest.fixture(scope="module")
def solved() -> dict:
    namespace = _namespace()
    for cell, meta in _cells():
        if meta.get("solution"):
            exec(compile(cell.source, f"<{CLASS} solution>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_solution_passes_check(solved, check_id):
    REGISTRY[check_id].func(LocalSubject(solved[CLASS]))


def test_visible_tests_pass_on_solution(solved, capsys):
    for cell, meta in _cells():
        if meta.get("grade") and "BEGIN HIDDEN TESTS" not in cell.source:
            exec(compile(cell.source, f"<{meta['grade_id']}>", "exec"), dict(solved))
    assert "OK" in capsys.readouterr().out
