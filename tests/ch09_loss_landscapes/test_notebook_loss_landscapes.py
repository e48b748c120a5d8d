"""The chapter's source notebook: markup, the solutions against every check, mistakes the visible tests catch.

Chapter 9 grades three functions, each in its own solution cell; the properties of the one-class
ChapterNotebookTests are checked here per unit (as for chapter 7). The solution cells run in a namespace
holding only what the grader's worker provides (torch, np, math, typing names)."""
from __future__ import annotations

import math
import re
import typing

import nbformat
import numpy as np
import pytest
import torch
from chapter_notebook import HIDDEN, ROOT

from course_lib.checks import check
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.subjects import LocalSubject

SOURCE = ROOT / "solutions" / "09_loss_landscapes" / "loss_landscapes.ipynb"
UNITS = ["filter_normalized_direction", "loss_along_line", "loss_surface"]
CHECK_IDS = [
    ("landscapes.direction_mlp", "filter_normalized_direction"),
    ("landscapes.direction_convnet", "filter_normalized_direction"),
    ("landscapes.line_values", "loss_along_line"),
    ("landscapes.line_eval_and_restore", "loss_along_line"),
    ("landscapes.surface_values", "loss_surface"),
    ("landscapes.surface_eval_and_restore", "loss_surface"),
]
MUTANTS = [
    ("per_tensor", "d[i] = d[i] * p[i].detach().norm() / (d[i].norm() + 1e-10)",
     "d[i] = d[i] * p.detach().norm() / (d.norm() + 1e-10)"),
    ("biases_not_zeroed", "            d = torch.zeros_like(d)\n", "            d = d\n"),
    ("line_reversed", "p.copy_((1 - alpha) * s + alpha * e)", "p.copy_(alpha * s + (1 - alpha) * e)"),
    ("surface_directions_swapped", "p.copy_(c + alpha * d1 + beta * d2)", "p.copy_(c + beta * d1 + alpha * d2)"),
    ("surface_axes_swapped", "Z = np.empty((len(betas), len(alphas)))", "Z = np.empty((len(alphas), len(betas)))"),
    ("surface_not_restored", "for t, value in zip(params + buffers, centre + saved_buffers):",
     "for t, value in zip([], []):"),
    ("sharpness_one_side", "rises.append((values[0] + values[2]) / 2 - values[1])",
     "rises.append(values[2] - values[1])"),
]


def notebook_cells() -> list:
    nb = nbformat.read(SOURCE, as_version=4)
    return [(c, c.metadata.get("nbgrader", {})) for c in nb.cells]


def solution_sources() -> list[str]:
    return [c.source for c, meta in notebook_cells() if meta.get("solution") and c.cell_type == "code"]


def visible_tests() -> list[tuple[str, str]]:
    return [(meta["grade_id"], c.source) for c, meta in notebook_cells()
            if meta.get("grade") and c.cell_type == "code" and "BEGIN HIDDEN TESTS" not in c.source]


def worker_namespace() -> dict:
    """What the grader's worker starts from (torch, np, math and typing names)."""
    namespace = {"__name__": "__main__", "torch": torch, "np": np, "numpy": np, "math": math}
    for name in ("List", "Optional", "Tuple", "Sequence", "Iterable", "Union", "Dict", "Callable", "Any"):
        namespace[name] = getattr(typing, name)
    return namespace


def solved_namespace(sources: list[str]) -> dict:
    """The worker's namespace after the unit cells (the exercise cell needs the demo's networks: left out)."""
    namespace = worker_namespace()
    for number, source in enumerate(sources):
        if source.startswith("def sharpness("):
            continue
        exec(compile(source, f"<solution cell {number}>", "exec"), namespace)
    return namespace


def test_markup_points_and_hidden_checks() -> None:
    cells = notebook_cells()
    assert all(meta.get("grade_id") for _, meta in cells), "every cell needs nbgrader metadata"
    assert all(meta.get("locked") for _, meta in cells if not meta.get("solution")), "prose and demos are read-only"
    sources = solution_sources()
    for unit in UNITS:
        defining = [s for s in sources if re.search(rf"^def {unit}\b", s, re.MULTILINE)]
        assert len(defining) == 1 and defining[0].startswith(f"def {unit}("), f"one solution cell starts with {unit}"
        others = [u for u in UNITS if u != unit and re.search(rf"^def {u}\b", defining[0], re.MULTILINE)]
        assert not others, f"the cell of {unit} also defines {others}: the grader scans each unit's cell alone"
    graded = [(c, meta) for c, meta in cells if meta.get("grade") and c.cell_type == "code"]  # the written answer: by hand
    hidden = [HIDDEN.search(c.source) for c, _ in graded if "BEGIN HIDDEN TESTS" in c.source]
    assert all(hidden), 'a hidden cell must hold exactly one check("<id>", <unit>) call'
    assert [(m["id"], m["cls"]) for m in hidden] == CHECK_IDS
    # the points, whatever solutions/ sets them to, all come from the hidden checks
    hidden_points = sum(meta["points"] for c, meta in graded if "BEGIN HIDDEN TESTS" in c.source)
    assert hidden_points == sum(meta["points"] for _, meta in graded) > 0
    assert all(meta["points"] == 0 for c, meta in graded if "BEGIN HIDDEN TESTS" not in c.source)
    assert all(c.source.lstrip().startswith("#") for c, _ in graded), "each test cell starts with a sentence"
    assert all(not c.get("outputs") for c, _ in cells if c.cell_type == "code"), "commit sources without outputs"
    visible = "\n".join(source for _, source in visible_tests())
    for check_id, unit in CHECK_IDS:
        assert f'check("{check_id}", {unit})' in visible, f"no visible self-check runs {check_id}"
    text = "\n".join(c.source for c, _ in cells if c.cell_type == "markdown")
    for heading in ("In practice", "Summary", "Going further", "Your turn"):
        assert heading in text


@pytest.mark.parametrize(("check_id", "unit"), CHECK_IDS, ids=[c for c, _ in CHECK_IDS])
def test_solution_passes_check(check_id, unit) -> None:
    namespace = solved_namespace(solution_sources())
    REGISTRY[check_id].func(LocalSubject(namespace[unit]))


def run_unit_visible_tests(namespace: dict) -> int:
    """Run the visible tests of the three units (those of the exercise need the trained networks)."""
    failures = 0
    namespace = dict(namespace, check=check, nn=torch.nn)  # the setup cell's names, no demo cell's
    for grade_id, source in visible_tests():
        if grade_id == "test_exercise":
            continue
        try:
            exec(compile(source, f"<{grade_id}>", "exec"), namespace)
        except AssertionError:
            failures += 1
    return failures


def test_visible_tests_pass_on_solution(capsys) -> None:
    assert run_unit_visible_tests(solved_namespace(solution_sources())) == 0
    assert capsys.readouterr().out.count("✓ landscapes.") == len(CHECK_IDS)


def exercise_failures(sources: list[str]) -> int:
    """The exercise's visible test on a quadratic, with the measured values replaced by stand-ins."""
    namespace = dict(solved_namespace(sources), nn=torch.nn)
    [exercise] = [s for s in sources if s.startswith("def sharpness(")]
    exec(compile(exercise.split("### BEGIN SOLUTION\nsharpness_small")[0], "<exercise>", "exec"), namespace)
    namespace.update(sharpness_small=0.1, sharpness_large=0.3, flatter="small batch")
    [test] = [source for grade_id, source in visible_tests() if grade_id == "test_exercise"]
    try:
        exec(compile(test, "<test_exercise>", "exec"), namespace)
    except AssertionError:
        return 1
    return 0


def test_exercise_visible_test_passes_on_solution() -> None:
    assert exercise_failures(solution_sources()) == 0


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_visible_tests_catch_mistake(mutant) -> None:
    name, old, new = mutant
    sources = solution_sources()
    assert sum(s.count(old) for s in sources) == 1, f"mutant {name!r} no longer applies to the solution"
    mutated = [s.replace(old, new) for s in sources]
    failures = exercise_failures(mutated) if name.startswith("sharpness") else run_unit_visible_tests(
        solved_namespace(mutated))
    assert failures > 0, f"no visible test fails with the mistake {name!r}"
