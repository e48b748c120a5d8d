"""Every point a chapter awards is decided by a check the isolated judge re-runs.

The autograder re-runs `check("<id>", <Class>)` calls in a process that student code
never runs in (docs/architecture.md). A graded cell that decides with plain asserts
in the student's kernel could be faked by patching those asserts, so visible tests
carry no points and each hidden cell holds exactly one check call.

The points themselves are the course's, read from solutions/ by
course_grader.pipeline.points (the one place a check's points are set, docs/instructors.md,
Customising the course); docs/instructors.md's table of them is checked in tests/term.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from course_grader.judge.trusted import find_checks
from course_grader.pipeline.points import course_points, markdown_table
from course_grader.pipeline.scratch import defined_classes
from course_lib.checks.chapters import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(ROOT.glob("solutions/*/*.ipynb"))
POINTS = course_points(ROOT / "solutions")


def _graded(path: Path):
    for cell in json.loads(path.read_text())["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and cell["cell_type"] == "code":
            yield "".join(cell["source"]), meta


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_points_come_only_from_judged_checks(path):
    judged = 0
    for source, meta in _graded(path):
        calls = find_checks(source)
        if meta["points"]:
            assert len(calls) == 1, f"{meta['grade_id']} awards points without exactly one check call"
            assert "BEGIN HIDDEN TESTS" in source, f"{meta['grade_id']}: graded checks are hidden"
            check_id, class_name = calls[0]
            assert REGISTRY[check_id].class_name == class_name
            judged += meta["points"]
    course = POINTS[path.parent.name]
    assert course.notebook == path.name and course.total > 0, f"{path.parent.name} awards no points"
    assert judged == course.autograded, f"{path.parent.name}: {course.autograded} points, {judged} from checks"
    assert all(cell.points >= 0 for cell in course.cells), f"{path.parent.name}: negative points"


def _solution_sources(path: Path) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
            if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution")]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_every_check_of_the_class_is_graded(path):
    """Every check of every graded unit (class or function) is graded, and the graded classes are
    exactly the classes the solution cells define, one per cell (chapters 1-5 grade one class)."""
    used = {find_checks(source)[0][0] for source, meta in _graded(path) if meta["points"]}
    units = {REGISTRY[c].class_name for c in used}
    expected = {c for c, spec in REGISTRY.items() if spec.class_name in units}
    assert used == expected, f"checks of {units} not graded: {sorted(expected - used)}"
    classes = {REGISTRY[c].class_name for c in used if REGISTRY[c].kind == "class"}
    per_cell = [names for names in map(defined_classes, _solution_sources(path)) if names]
    assert all(len(names) == 1 for names in per_cell), f"one class per solution cell, got {per_cell}"
    assert sorted(names[0] for names in per_cell) == sorted(classes), (per_cell, classes)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_each_graded_unit_is_defined_by_one_solution_cell(path):
    """The judge finds a unit by `^class Name` or `^def name` in the solution cells: exactly one cell, of the
    kind its checks drive (a class, or a module-level function called with plain numbers)."""
    used = {find_checks(source)[0][0] for source, meta in _graded(path) if meta["points"]}
    solutions = _solution_sources(path)
    for unit in {REGISTRY[c].class_name for c in used}:
        [kind] = {REGISTRY[c].kind for c in used if REGISTRY[c].class_name == unit}
        keyword = "class" if kind == "class" else "def"
        defining = [s for s in solutions if re.search(rf"^{keyword}\s+{re.escape(unit)}\b", s, re.MULTILINE)]
        assert len(defining) == 1, f"{path.parent.name}: {len(defining)} solution cells define {keyword} {unit}"


def _cell(source: str, points: float, grade_id: str, cell_type: str = "code") -> dict:
    return {"cell_type": cell_type, "source": source,
            "metadata": {"nbgrader": {"grade": True, "grade_id": grade_id, "points": points}}}


def test_course_points_sum_the_grade_cells_by_unit(tmp_path):
    folder = tmp_path / "01_x"
    folder.mkdir()
    cells = [_cell('check("a.one", Alpha)', 0, "visible"), _cell('check("a.one", Alpha)', 2, "hidden_one"),
             _cell('check("a.two", Alpha)', 1.5, "hidden_two"), _cell('check("b.one", beta)', 3, "hidden_three"),
             _cell("Explain.", 1, "written", "markdown")]
    (folder / "x.ipynb").write_text(json.dumps({"cells": cells}))
    [(assignment, points)] = course_points(tmp_path).items()
    assert (assignment, points.notebook, points.total) == ("01_x", "x.ipynb", 7.5)
    assert points.units() == {"Alpha": (3.5, 2), "beta": (3.0, 1), "": (1.0, 1)}
    assert markdown_table({assignment: points}).splitlines()[2] == (
        "| `01_x` | `x.ipynb` | `Alpha` 3.5 (2), `beta` 3 (1), cells without a check 1 (1) | 7.5 |")
    (folder / "y.ipynb").write_text(json.dumps({"cells": []}))
    with pytest.raises(ValueError, match=r"assignment='01_x' has 2 notebooks \['x.ipynb', 'y.ipynb'\]"):
        course_points(tmp_path)
