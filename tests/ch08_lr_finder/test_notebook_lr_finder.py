"""The chapter's source notebook: markup, the solutions against every check, mistakes the visible tests catch.

Chapter 8 grades two functions, each in its own solution cell; the exercise cell (which runs range tests on the
digits through the setup cell's helpers) is not part of what the grader's worker needs.
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
from course_lib.training import torch_threads

SOURCE = ROOT / "solutions" / "08_lr_finder" / "lr_finder.ipynb"
UNITS = ["lr_range_test", "suggest_lr"]
CHECK_IDS = [
    ("lr_finder.range_sgd_diverges", "lr_range_test"),
    ("lr_finder.range_adam_never_diverges", "lr_range_test"),
    ("lr_finder.range_batch_norm_restore", "lr_range_test"),
    ("lr_finder.range_defaults_and_edges", "lr_range_test"),
    ("lr_finder.suggest_matches_package", "suggest_lr"),
    ("lr_finder.suggest_edges", "suggest_lr"),
]
MUTANTS = [
    ("reference_kept", "model_state = copy.deepcopy(model.state_dict())", "model_state = model.state_dict()"),
    ("optimizer_reference_kept", "optimizer_state = copy.deepcopy(optimizer.state_dict())",
     "optimizer_state = optimizer.state_dict()"),
    ("no_restore", "        model.load_state_dict(model_state)\n", ""),
    ("modes_not_restored", "            module.training = mode\n", "            pass\n"),
    ("linear_spacing", "lr = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))",
     "lr = start_lr + (end_lr - start_lr) * i / (num_steps - 1)"),
    ("spacing_over_num_steps", "(i / (num_steps - 1))", "(i / num_steps)"),
    ("no_smoothing", "if i > 0 and smooth_factor > 0:", "if False:"),
    ("zero_factor_freezes", "if i > 0 and smooth_factor > 0:", "if i > 0:"),
    ("stop_one_late", "            if value > diverge_threshold * best:\n                break",
     "            if len(losses) > 1 and losses[-2] > diverge_threshold * min(losses[:-1]):\n                break"),
    ("no_train_mode", "        model.train()\n", ""),
    ("batches_not_cycled", "batches[i % len(batches)]", "batches[min(i, len(batches) - 1)]"),
    ("suggest_no_trim", "np.asarray(losses[skip_start:end], dtype=np.float64)", "np.asarray(losses, dtype=np.float64)"),
    ("suggest_forward_difference", "slopes = np.gradient(", "slopes = np.diff("),
    ("suggest_minimum", "int(np.argmin(slopes))", "int(np.argmin(losses[skip_start:end]))"),
    ("minimum_over_ten_is_minimum", "return float(lrs[int(np.argmin(losses))]) / 10",
     "return float(lrs[int(np.argmin(losses))])"),
]


def notebook_cells() -> list:
    nb = nbformat.read(SOURCE, as_version=4)
    return [(c, c.metadata.get("nbgrader", {})) for c in nb.cells]


def solution_sources() -> list[str]:
    return [c.source for c, meta in notebook_cells() if meta.get("solution") and c.cell_type == "code"]


def unit_sources(sources: list[str]) -> list[str]:
    """The cells that define a graded unit (what the visible checks need)."""
    return [s for s in sources if re.search(r"^def (lr_range_test|suggest_lr)\b", s, re.MULTILINE)]


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
        defining = [s for s in sources if re.search(rf"^def {unit}\b", s, re.MULTILINE)]
        assert len(defining) == 1, f"one solution cell defines {unit}"
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


@pytest.mark.parametrize(("check_id", "unit"), CHECK_IDS, ids=[c for c, _ in CHECK_IDS])
def test_solution_passes_check(check_id, unit) -> None:
    namespace = solved_namespace(unit_sources(solution_sources()))
    REGISTRY[check_id].func(LocalSubject(namespace[unit]))


def _exercise_namespace(namespace: dict) -> dict:
    """The setup cell's helpers (the exercise runs range tests on the digits through them)."""
    (setup,) = [c.source for c, meta in notebook_cells() if meta.get("grade_id") == "setup"]
    kept = "\n".join(line for line in setup.splitlines() if not line.startswith("%"))
    exec(compile(kept, "<setup cell>", "exec"), namespace)
    return namespace


def run_visible_tests(sources: list[str]) -> int:
    failures = 0
    with torch_threads(1):
        namespace = solved_namespace(unit_sources(sources))
        namespace = _exercise_namespace(namespace)
        for source in [s for s in sources if s not in unit_sources(sources)]:
            try:
                exec(compile(source, "<exercise cell>", "exec"), namespace)
            except Exception:  # noqa: BLE001 - the visible test below reports it
                pass
        for grade_id, source in visible_tests():
            try:
                exec(compile(source, f"<{grade_id}>", "exec"), dict(namespace, check=check))
            except (AssertionError, Exception):  # noqa: BLE001 - a failing check, assert, or a crash
                failures += 1
    return failures


def test_visible_tests_pass_on_solution(capsys) -> None:
    assert run_visible_tests(solution_sources()) == 0
    out = capsys.readouterr().out
    assert "section 3's example and the error message are right" in out
    assert out.count("✓ lr_finder.") == len(CHECK_IDS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_visible_tests_catch_mistake(mutant) -> None:
    name, old, new = mutant
    sources = solution_sources()
    assert sum(s.count(old) for s in sources) == 1, f"mutant {name!r} no longer applies to the solution"
    mutated = [s.replace(old, new) for s in sources]
    assert run_visible_tests(mutated) > 0, f"no visible test fails with the mistake {name!r}"
