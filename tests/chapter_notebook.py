"""Shared tests of a chapter's source notebook: grading markup, the solution against every
check, and visible tests that catch plausible mistakes.

Fast (about a second): the solution cell and the test cells are executed in-process in a
namespace holding only what the setup cell provides, as the isolated grader does.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import ClassVar, List, Optional, Tuple

import nbformat
import numpy as np
import torch

from course_lib.checks import check
from course_lib.checks.chapters import REGISTRY
from course_grader.judge.trusted import find_checks
from course_lib.checks.subjects import LocalSubject

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(
    r'### BEGIN HIDDEN TESTS\n'
    r'check\("(?P<id>[a-z_]+\.[a-z_0-9]+)", (?P<cls>\w+)\)\n'
    r'### END HIDDEN TESTS\s*$')


def cells(source: Path) -> list:
    """(cell, nbgrader metadata) pairs, read afresh so each test sees the notebook on disk."""
    nb = nbformat.read(source, as_version=4)
    return [(c, c.metadata.get("nbgrader", {})) for c in nb.cells]


def solution_source(source: Path, exercises: tuple[str, ...] = ()) -> str:
    """The graded classes' solution cells, joined (one cell for a chapter with one class)."""
    sources = [c.source for c, meta in cells(source)
               if meta.get("solution") and c.cell_type == "code" and meta["grade_id"] not in exercises]
    assert sources, f"{source.name} has no solution cell"
    return "\n\n".join(sources)


def visible_tests(source: Path) -> list[tuple[str, str]]:
    return [(meta["grade_id"], c.source) for c, meta in cells(source)
            if meta.get("grade") and c.cell_type == "code" and "BEGIN HIDDEN TESTS" not in c.source]


def solved_namespace(solution: str, cls: str) -> dict:
    """Only what the setup cell provides, so a missing import fails here as in grading
    (plus ``check``, which the visible test cells call)."""
    namespace = {"torch": torch, "math": math, "np": np,
                 "List": List, "Optional": Optional, "Tuple": Tuple, "check": check}
    exec(compile(solution, f"<{cls} solution>", "exec"), namespace)
    return namespace


class ChapterNotebookTests:
    """Base of each chapter's `Test...Notebook` class; no Test prefix, so pytest skips it.

    A chapter without mutants sets `test_visible_tests_catch_mistake = None`, which pytest skips
    silently; an empty MUTANTS would instead show up as a skipped empty parametrization.
    """

    SOURCE: ClassVar[Path]
    CLASS: ClassVar[str]
    CHECK_IDS: ClassVar[list[str]]
    # A chapter that grades several classes lists them here, in the order of their solution cells
    # (one class per cell); CLASS is then unused.
    CLASSES: ClassVar[list[str]] = []
    # grade_ids of solution cells that are not a graded class (an ungraded exercise: a decision).
    EXERCISES: ClassVar[tuple[str, ...]] = ()
    # Plausible wrong solutions, as (name, text in the solution, replacement):
    # the visible tests must fail on each.
    MUTANTS: ClassVar[list[tuple[str, str, str]]] = []
    # Text the visible tests must print when they pass on the solution; None checks nothing.
    VISIBLE_OUTPUT: ClassVar[Optional[str]] = "✓ "

    def pytest_generate_tests(self, metafunc):
        cls = metafunc.cls
        if "check_id" in metafunc.fixturenames:
            metafunc.parametrize("check_id", cls.CHECK_IDS)
        if "mutant" in metafunc.fixturenames:
            metafunc.parametrize("mutant", cls.MUTANTS, ids=[m[0] for m in cls.MUTANTS])

    def test_markup_points_and_hidden_checks(self):
        all_cells = cells(self.SOURCE)
        assert all(meta.get("grade_id") for _, meta in all_cells), (
            "every cell needs nbgrader metadata")
        assert all(meta.get("locked") for _, meta in all_cells if not meta.get("solution")), (
            "prose and demos are read-only")
        classes = self.graded_classes()
        solutions = [c for c, meta in all_cells
                     if meta.get("solution") and c.cell_type == "code" and meta["grade_id"] not in self.EXERCISES]
        assert len(solutions) == len(classes)
        assert all(c.source.startswith(f"class {cls}") for c, cls in zip(solutions, classes))
        exercises = [meta["grade_id"] for c, meta in all_cells if meta.get("solution") and meta["grade_id"] in self.EXERCISES]
        assert exercises == list(self.EXERCISES)
        assert all(not meta.get("grade") for _, meta in all_cells if meta.get("grade_id") in self.EXERCISES)
        graded = [(c, meta) for c, meta in all_cells if meta.get("grade") and c.cell_type == "code"]  # answers: by hand
        hidden = [HIDDEN.search(c.source) for c, _ in graded if "BEGIN HIDDEN TESTS" in c.source]
        assert all(hidden), "a hidden cell must hold exactly one check(\"<id>\", <Class>) call"
        expected = [(cid, REGISTRY[cid].class_name) for cid in self.CHECK_IDS]
        assert {cls for _, cls in expected} == set(classes)
        assert [(m["id"], m["cls"]) for m in hidden] == expected
        # the points, whatever solutions/ sets them to, all come from the hidden checks
        hidden_points = sum(meta["points"] for c, meta in graded if "BEGIN HIDDEN TESTS" in c.source)
        assert hidden_points == sum(meta["points"] for _, meta in graded) > 0
        assert all(c.source.lstrip().startswith("#")
                   for c, _ in graded if "BEGIN HIDDEN TESTS" in c.source), (
            "each hidden cell starts with a sentence saying what it checks")
        visible = [pair for c, meta in graded if "BEGIN HIDDEN TESTS" not in c.source for pair in find_checks(c.source)]
        assert visible == expected, (
            "each graded check is called by the visible cells too, once, in the same order, for 0 points")
        assert all(not c.get("outputs") for c, _ in all_cells if c.cell_type == "code"), (
            "commit sources without outputs")

    def graded_classes(self) -> list[str]:
        return list(self.CLASSES) or [self.CLASS]

    def test_solution_passes_check(self, check_id):
        namespace = solved_namespace(solution_source(self.SOURCE, self.EXERCISES), REGISTRY[check_id].class_name)
        REGISTRY[check_id].func(LocalSubject(namespace[REGISTRY[check_id].class_name]))

    def test_visible_tests_pass_on_solution(self, capsys):
        namespace = solved_namespace(solution_source(self.SOURCE, self.EXERCISES), self.graded_classes()[0])
        for grade_id, source in visible_tests(self.SOURCE):
            exec(compile(source, f"<{grade_id}>", "exec"), dict(namespace))
        if self.VISIBLE_OUTPUT is not None:
            assert self.VISIBLE_OUTPUT in capsys.readouterr().out

    def test_visible_tests_catch_mistake(self, mutant):
        name, old, new = mutant
        solution = solution_source(self.SOURCE, self.EXERCISES)
        # With several classes joined, a mutant must name the one place it changes.
        applies = solution.count(old) == 1 if self.CLASSES else old in solution
        assert applies, f"mutant {name!r} no longer applies to the solution"
        namespace = solved_namespace(solution.replace(old, new), self.graded_classes()[0])
        failures = 0
        for grade_id, source in visible_tests(self.SOURCE):
            try:
                exec(compile(source, f"<{grade_id}>", "exec"), dict(namespace))
            except AssertionError:
                failures += 1
        assert failures, f"no visible test fails when the solution has the mistake {name!r}"
