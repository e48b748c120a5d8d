"""The chapter's source notebook: markup, the solutions against every check, mistakes the visible tests catch.

Chapter 7 grades seven units (six functions and one class), each in its own solution cell, so it
does not use the one-class ChapterNotebookTests; the same properties are checked here per unit.
"""
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

SOURCE = ROOT / "solutions" / "07_schedule_zoo" / "schedule_zoo.ipynb"
UNITS = ["exponential_decay", "polynomial_decay", "cosine_with_restarts", "cyclic", "one_cycle", "with_warmup",
         "ReduceLROnPlateau"]
CHECK_IDS = [
    ("zoo.exponential_decay", "exponential_decay"),
    ("zoo.polynomial_decay", "polynomial_decay"),
    ("zoo.cosine_with_restarts", "cosine_with_restarts"),
    ("zoo.cyclic", "cyclic"),
    ("zoo.one_cycle", "one_cycle"),
    ("zoo.one_cycle_edges", "one_cycle"),
    ("zoo.with_warmup", "with_warmup"),
    ("zoo.plateau_basics", "ReduceLROnPlateau"),
    ("zoo.plateau_cooldown_eps", "ReduceLROnPlateau"),
    ("zoo.plateau_modes_negative", "ReduceLROnPlateau"),
]
MUTANTS = [
    ("exponential_off_by_one", "base_lr * gamma ** step", "base_lr * gamma ** (step + 1)"),
    ("polynomial_no_clamp", "1.0 - min(step, total_steps) / total_steps", "1.0 - step / total_steps"),
    ("restarts_mult_ignored", "cycle_length *= cycle_mult", "cycle_length *= 1"),
    ("triangular2_halves_first_cycle", "scale = 0.5 ** (cycle - 1)", "scale = 0.5 ** cycle"),
    ("one_cycle_peak_rounded", "peak = pct_start * total_steps - 1", "peak = round(pct_start * total_steps) - 1"),
    ("one_cycle_final_from_max", "final_lr = initial_lr / final_div_factor", "final_lr = max_lr / final_div_factor"),
    ("warmup_not_shifted", "return float(schedule(step - warmup_steps))", "return float(schedule(step))"),
    ("warmup_ignores_start_factor", "(start_factor + (1 - start_factor) * step / warmup_steps)",
     "(step / warmup_steps)"),
    ("plateau_no_eps_rule", "if self.lr - new_lr > self.eps:", "if True:"),
    ("plateau_patience_reached", "if self.num_bad_epochs > self.patience:", "if self.num_bad_epochs >= self.patience:"),
    ("measure_one_epoch_late", "            return epoch\n", "            return epoch + 1\n"),
]


def notebook_cells() -> list:
    nb = nbformat.read(SOURCE, as_version=4)
    return [(c, c.metadata.get("nbgrader", {})) for c in nb.cells]


def solution_sources() -> list[str]:
    return [c.source for c, meta in notebook_cells() if meta.get("solution") and c.cell_type == "code"]


def visible_tests() -> list[tuple[str, str]]:
    return [(meta["grade_id"], c.source) for c, meta in notebook_cells()
            if meta.get("grade") and c.cell_type == "code" and "BEGIN HIDDEN TESTS" not in c.source]


def solved_namespace(sources: list[str]) -> dict:
    """What the grader's worker starts from (torch, np, math and typing names), then the solution cells."""
    namespace = {"__name__": "__main__", "torch": torch, "np": np, "numpy": np, "math": math}
    for name in ("List", "Optional", "Tuple", "Sequence", "Iterable", "Union", "Dict", "Callable", "Any"):
        namespace[name] = getattr(typing, name)
    for number, source in enumerate(sources):
        exec(compile(source, f"<solution cell {number}>", "exec"), namespace)
    return namespace


def test_markup_points_and_hidden_checks() -> None:
    cells = notebook_cells()
    assert all(meta.get("grade_id") for _, meta in cells), "every cell needs nbgrader metadata"
    assert all(meta.get("locked") for _, meta in cells if not meta.get("solution")), "prose and demos are read-only"
    sources = solution_sources()
    for unit in UNITS:
        kind = "class" if unit[0].isupper() else "def"
        defining = [s for s in sources if re.search(rf"^{kind} {unit}\b", s, re.MULTILINE)]
        assert len(defining) == 1 and defining[0].startswith(f"{kind} {unit}"), f"one solution cell starts with {unit}"
        others = [u for u in UNITS if u != unit and re.search(rf"^(class|def) {u}\b", defining[0], re.MULTILINE)]
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


@pytest.mark.parametrize(("check_id", "unit"), CHECK_IDS, ids=[c for c, _ in CHECK_IDS])
def test_solution_passes_check(check_id, unit) -> None:
    namespace = solved_namespace(solution_sources())
    REGISTRY[check_id].func(LocalSubject(namespace[unit]))


def run_visible_tests(namespace: dict) -> int:
    failures = 0
    for grade_id, source in visible_tests():
        try:
            exec(compile(source, f"<{grade_id}>", "exec"), dict(namespace, check=check))
        except AssertionError:
            failures += 1
    return failures


def test_visible_tests_pass_on_solution(capsys) -> None:
    assert run_visible_tests(solved_namespace(solution_sources())) == 0
    out = capsys.readouterr().out
    assert "both delays agree with the closed form" in out
    assert out.count("✓ zoo.") == len(CHECK_IDS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_visible_tests_catch_mistake(mutant) -> None:
    name, old, new = mutant
    sources = solution_sources()
    assert sum(s.count(old) for s in sources) == 1, f"mutant {name!r} no longer applies to the solution"
    mutated = [s.replace(old, new) for s in sources]
    assert run_visible_tests(solved_namespace(mutated)) > 0, f"no visible test fails with the mistake {name!r}"
