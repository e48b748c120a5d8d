"""Every point a chapter awards is decided by a check the isolated judge re-runs.

The autograder re-runs `check("<id>", <Class>)` calls in a process that student code
never runs in (docs/architecture.md). A graded cell that decides with plain asserts
in the student's kernel could be faked by patching those asserts, so visible tests
carry no points and each hidden cell holds exactly one check call.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib.autograding.scratch import defined_classes
from course_lib.grading.checks import REGISTRY
from course_lib.grading.judge import find_checks

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(ROOT.glob("solutions/*/*.ipynb"))


def _graded(path: Path):
    for cell in json.loads(path.read_text())["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and cell["cell_type"] == "code":
            yield "".join(cell["source"]), meta


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_points_come_only_from_judged_checks(path):
    total = 0
    for source, meta in _graded(path):
        calls = find_checks(source)
        if meta["points"]:
            assert len(calls) == 1, f"{meta['grade_id']} awards points without exactly one check call"
            assert "BEGIN HIDDEN TESTS" in source, f"{meta['grade_id']}: graded checks are hidden"
            check_id, class_name = calls[0]
            assert REGISTRY[check_id].class_name == class_name
        total += meta["points"]
    assert total == 10, f"each chapter is worth 10 points, {path.parent.name} awards {total}"


def _solution_classes(path: Path) -> list[list[str]]:
    """The top-level classes each solution cell defines (an ungraded exercise cell defines none)."""
    return [defined_classes("".join(cell["source"])) for cell in json.loads(path.read_text())["cells"]
            if cell["metadata"].get("nbgrader", {}).get("solution") and cell["cell_type"] == "code"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_every_check_of_the_class_is_graded(path):
    """Graded classes are exactly the solution cells' classes, one per cell, each with every one of its checks.

    Chapters 1-5 grade one class; a chapter may grade several, each in its own solution cell.
    """
    used = {find_checks(source)[0][0] for source, meta in _graded(path) if meta["points"]}
    class_names = {REGISTRY[c].class_name for c in used}
    per_cell = [names for names in _solution_classes(path) if names]
    assert all(len(names) == 1 for names in per_cell), f"one class per solution cell, got {per_cell}"
    assert per_cell and sorted(names[0] for names in per_cell) == sorted(class_names)
    expected = {c for c, spec in REGISTRY.items() if spec.class_name in class_names}
    assert used == expected, f"checks of {class_names} not graded: {sorted(expected - used)}"
