"""The chapter's source notebook: markup, the solutions against every check, mistakes the visible tests catch.

Chapter 10 grades four functions, each in its own solution cell (like chapter 7); `fit` calls the
student's `train_step` and `param_groups`, which the grader's worker runs too (every solution cell).
"""
from __future__ import annotations

import re

import nbformat
import pytest
from chapter_notebook import HIDDEN, ROOT

from course_lib.checks import check
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.subjects import LocalSubject
from course_lib.training import torch_threads

SOURCE = ROOT / "solutions" / "10_training_loop" / "training_loop.ipynb"
UNITS = ["train_step", "adaptive_clip_grad_", "param_groups", "fit"]
CHECK_IDS = [
    ("training_loop.step_uneven", "train_step"),
    ("training_loop.step_no_grad", "train_step"),
    ("training_loop.agc_units", "adaptive_clip_grad_"),
    ("training_loop.agc_zero_init", "adaptive_clip_grad_"),
    ("training_loop.groups_weight_decay", "param_groups"),
    ("training_loop.groups_layer_decay", "param_groups"),
    ("training_loop.fit_settings", "fit"),
    ("training_loop.fit_defaults", "fit"),
]
MUTANTS = [
    ("step_equal_weights", "(loss * (size / total)).backward()", "(loss / len(micro_batches)).backward()"),
    ("step_norm_after_clip", "return loss_sum / total, float(norm)",
     "return loss_sum / total, min(float(norm), max_norm or math.inf)"),
    ("agc_no_eps", ".clamp(min=eps) * clip_factor", " * clip_factor"),
    ("agc_per_tensor", "dims = tuple(range(1, p.ndim)) if p.ndim > 1 else None", "dims = None"),
    ("groups_decay_reversed", "rate = lr * layer_decay ** (len(layers) - 1 - k)", "rate = lr * layer_decay ** k"),
    ("groups_decay_on_biases", '{"params": no_decay, "lr": rate, "weight_decay": 0.0}',
     '{"params": no_decay, "lr": rate, "weight_decay": weight_decay}'),
    ("fit_lr_at_step_k", "lr = rate(step + 1)", "lr = rate(step)"),
    ("fit_last_epoch_weights", "    model.load_state_dict(best_state)\n", "\n"),
    ("fit_warmup_floor", "warmup = max(1, round(warmup_fraction * total))",
     "warmup = max(1, int(warmup_fraction * total))"),
    ("fit_same_shuffle", "manual_seed(seed * 1000 + epoch)", "manual_seed(seed)"),
]


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def notebook_cells() -> list:
    nb = nbformat.read(SOURCE, as_version=4)
    return [(c, c.metadata.get("nbgrader", {})) for c in nb.cells]


def solution_sources() -> list[str]:
    return [c.source for c, meta in notebook_cells() if meta.get("solution") and c.cell_type == "code" and meta["grade_id"] != "exercise_solution"]


def visible_tests() -> list[tuple[str, str]]:
    return [(meta["grade_id"], c.source) for c, meta in notebook_cells()
            if meta.get("grade") and c.cell_type == "code" and "BEGIN HIDDEN TESTS" not in c.source and meta["grade_id"] != "test_exercise"]


def solved_namespace(sources: list[str]) -> dict:
    """The setup cell (imports, data, make_net), then the solution cells."""
    setup = next(c.source for c, meta in notebook_cells() if meta.get("grade_id") == "setup")
    namespace = {"__name__": "__main__"}
    exec(compile(setup.replace("%matplotlib inline", ""), "<setup>", "exec"), namespace)
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
        assert re.match(rf"((import |from ).*\n|\s*\n)*def {unit}\(", defining[0]), f"{unit}'s cell: imports, then def"
        others = [u for u in UNITS if u != unit and re.search(rf"^def {u}\b", defining[0], re.MULTILINE)]
        assert not others, f"the cell of {unit} also defines {others}"
    graded = [(c, meta) for c, meta in cells if meta.get("grade") and c.cell_type == "code"]  # the written answer: by hand
    hidden = [HIDDEN.search(c.source) for c, _ in graded if "BEGIN HIDDEN TESTS" in c.source]
    assert all(hidden), 'a hidden cell must hold exactly one check("<id>", <unit>) call'
    assert [(m["id"], m["cls"]) for m in hidden] == CHECK_IDS
    # the points, whatever solutions/ sets them to, all come from the hidden checks
    hidden_points = sum(meta["points"] for c, meta in graded if "BEGIN HIDDEN TESTS" in c.source)
    assert hidden_points == sum(meta["points"] for _, meta in graded) > 0
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
    assert capsys.readouterr().out.count("✓ training_loop.") == len(CHECK_IDS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_visible_tests_catch_mistake(mutant) -> None:
    name, old, new = mutant
    sources = solution_sources()
    assert sum(s.count(old) for s in sources) == 1, f"mutant {name!r} no longer applies to the solution"
    mutated = [s.replace(old, new) for s in sources]
    assert run_visible_tests(solved_namespace(mutated)) > 0, f"no visible test fails with the mistake {name!r}"
