"""Delegation is caught by what runs, and check inputs are secret at grading time.

Every attack in ``delegation_attacks.py`` earns full marks where torch's code is
reachable (shown here first, in this process), so these tests can fail. In the
judge's sandboxed worker the same sources earn nothing, while an honest correct
and an honest wrong student judged in the same worker keep their exact verdicts.
The batch at the end grades chapter 2 end to end through nbgrader.
"""

from __future__ import annotations

import math
import re

import nbformat
import numpy as np
import pytest
import torch

from course_grader.pipeline import scratch
from course_grader.pipeline.batch import grade_course
from course_grader.sandbox.bwrap import command_prefix
from course_grader.pipeline.submission import Settings
from course_lib.checks import CheckFailed
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.chapters._spec import secret_inputs
from course_grader.judge.trusted import judge_checks, worker_overlays
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject
from integrity import delegation_attacks as attacks
from integrity.integrity_helpers import GRADING_SEED, REPO, failing_cells, load_fixture_class
from integrity.test_hostile_batch import lean, read_results

pytestmark = pytest.mark.usefixtures("sandbox_available")

CLASS_OF = {"02_adam": "AdamOptimizer", "03_lr_schedules": "LRScheduler", "05_gradient_clipping": "ClippingOptimizer",
            "06_optimizer_zoo": "LionOptimizer"}
HONEST = {  # (correct, wrong) fixtures per chapter
    "02_adam": ("correct_in_place", "wrong_eps_inside_sqrt"),
    "03_lr_schedules": ("correct_math", "wrong_warmup_plus_one"),
    "05_gradient_clipping": ("correct_loops", "wrong_per_parameter_norm"),
    "06_optimizer_zoo": ("correct_lion_in_place", "wrong_lion_betas_swapped"),
}


def checks_of(class_name: str) -> list[str]:
    return [check_id for check_id, spec in REGISTRY.items() if spec.class_name == class_name]


def local_passes(source: str, class_name: str, seed: int | None = None) -> dict[str, bool]:
    """Run every check of ``class_name`` on ``source``'s class in this process (torch.optim present)."""
    namespace = {"torch": torch, "np": np, "math": math}
    exec(compile(source, "<attack>", "exec"), namespace)  # noqa: S102 - our own test sources
    cls = namespace[class_name]
    passes = {}
    for check_id in checks_of(class_name):
        try:
            with secret_inputs(seed):
                REGISTRY[check_id].func(LocalSubject(cls, Trace(check_id)))
            passes[check_id] = True
        except (CheckFailed, NotImplementedError):
            passes[check_id] = False
    return passes


def renamed(source: str, class_name: str, new_name: str) -> str:
    return re.sub(rf"\bclass {class_name}\b", f"class {new_name}", source)


def judge_with_honest_students(assignment: str, attack: str, tmp_path, added: tuple = (), spawn_for=None):
    """Judge the attack beside an honest correct and an honest wrong class, in one sandboxed worker.

    ``spawn_for``: the ``worker_spawn`` fixture (a cold worker, or one forked from the warm pool).
    """
    class_name = CLASS_OF[assignment]
    correct, wrong = (attacks.fixture(assignment, stem) for stem in HONEST[assignment])
    sources = [renamed(correct.read_text(), class_name, "HonestCorrect"),
               renamed(wrong.read_text(), class_name, "HonestWrong"), attack]
    ids = checks_of(class_name)
    checks = ([(c, "HonestCorrect") for c in ids] + [(c, "HonestWrong") for c in ids]
              + [(c, class_name) for c in ids])
    overlays = worker_overlays(checks)
    prefix = command_prefix(tmp_path, overlays=overlays)
    verdicts = judge_checks(sources, checks, command_prefix=prefix, timeout=60, cwd=str(tmp_path),
                            seed=GRADING_SEED, added=added, spawn=spawn_for(overlays) if spawn_for else None)
    n = len(ids)
    honest_correct, honest_wrong, attacked = verdicts[:n], verdicts[n:2 * n], verdicts[2 * n:]
    assert all(v.passed for v in honest_correct), [v.message for v in honest_correct if not v.passed]
    wrong_class = load_fixture_class(wrong, class_name)
    expected_failures = set()
    for check_id in ids:
        try:
            with secret_inputs(GRADING_SEED):
                REGISTRY[check_id].func(LocalSubject(wrong_class, Trace(check_id)))
        except CheckFailed:
            expected_failures.add(check_id)
    assert expected_failures and {v.check_id for v in honest_wrong if not v.passed} == expected_failures
    return attacked


ROUTES = {
    "subclass_walk_to_torch_adam": ("02_adam", attacks.SUBCLASS_WALK_ADAM),
    "native_fused_adam_kernel": ("02_adam", attacks.FUSED_KERNEL_ADAM),
    "torch_schedulers_on_a_bare_optimizer": ("03_lr_schedules", attacks.SCHEDULER_ON_BARE_OPTIMIZER),
    "private_helpers_of_clip_grad": ("05_gradient_clipping", attacks.CLIP_PRIVATE_HELPERS),
    "lion_from_a_test_only_package": ("06_optimizer_zoo", attacks.LION_FROM_TEST_PACKAGE),
}


@pytest.mark.parametrize("route", ROUTES)
def test_delegation_route_earns_nothing(route: str, tmp_path, worker_spawn) -> None:
    assignment, source = ROUTES[route]
    class_name = CLASS_OF[assignment]
    assert all(local_passes(source, class_name).values()), "the attack must work where torch's code runs"
    added = (2,) if route.startswith("lion") else ()  # as a cell the student added: not scanned, only run
    attacked = judge_with_honest_students(assignment, source, tmp_path, added=added, spawn_for=worker_spawn)
    assert not any(v.passed for v in attacked), [v.check_id for v in attacked if v.passed]
    # the walk finds only refusing stubs, with no module globals to reach into: the cell fails
    said = ("someone else's implementation", "is not defined") if route.startswith("subclass") else (
        "someone else's implementation",)
    if route.startswith("lion"):  # the package's file is a stub there: the code it looks for is gone
        said = ("someone else's implementation", "substring not found")
    assert all(any(text in v.message for text in said) for v in attacked), attacked[0].message


def test_replay_table_of_the_public_checks_earns_nothing(tmp_path) -> None:
    """Answers recorded against the public inputs: full marks locally, nothing from the grader."""
    correct = load_fixture_class(attacks.fixture("02_adam", "correct_in_place"), "AdamOptimizer")
    source = attacks.adam_replay_source(attacks.record_adam_table(correct))
    assert all(local_passes(source, "AdamOptimizer").values())
    assert not any(local_passes(source, "AdamOptimizer", seed=GRADING_SEED).values())
    attacked = judge_with_honest_students("02_adam", source, tmp_path)
    assert not any(v.passed for v in attacked)


def test_replay_table_of_the_public_schedules_earns_nothing(tmp_path) -> None:
    """Schedules take no random arrays: the grader's draws of settings defeat the table."""
    correct = load_fixture_class(attacks.fixture("03_lr_schedules", "correct_math"), "LRScheduler")
    source = attacks.schedule_replay_source(attacks.record_schedule_table(correct))
    assert all(local_passes(source, "LRScheduler").values())
    attacked = judge_with_honest_students("03_lr_schedules", source, tmp_path)
    assert not any(v.passed for v in attacked), [v.check_id for v in attacked if v.passed]


def test_stubs_leave_torch_importable_and_hold_no_implementation(tmp_path) -> None:
    """Inside the worker's sandbox torch imports, tensors work, and torch.optim's files are stubs."""
    from course_grader.judge.stubs import stub_overlays
    from course_lib.checks.forbidden import OPTIMIZER_IMPLEMENTATIONS
    import subprocess
    import sys

    probe = ("import torch, torch.optim.adam, torch.nn.utils.clip_grad\n"
             "print(torch.nn.Linear(2, 1)(torch.ones(1, 2)).shape)\n"
             "print('exp_avg_sq' in open(torch.optim.adam.__file__).read())\n"
             "print(open(torch.nn.utils.clip_grad.__file__).read().count('vector_norm'))\n")
    prefix = command_prefix(tmp_path, overlays=stub_overlays(OPTIMIZER_IMPLEMENTATIONS))
    result = subprocess.run(prefix + [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["torch.Size([1,", "1])", "False", "0"], result.stdout


# ---------------------------------------------------------------------------------------
# The same, end to end through nbgrader: one batch of chapter 2

ASSIGNMENT = "02_adam"


def with_added_cell(nb, source: str, before_solution: bool):
    """The notebook with a code cell the student added (no nbgrader metadata)."""
    nb = nbformat.from_dict(nb)
    index = next(i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))
    nb.cells.insert(index if before_solution else index + 1, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("delegation")
    source = root / "source"
    import shutil

    shutil.copytree(REPO / "solutions" / ASSIGNMENT, source / ASSIGNMENT)
    course = scratch.new_course(root / "course", source=source)
    name = next((source / ASSIGNMENT).glob("*.ipynb")).stem
    full = lean(scratch.source_notebook(course, ASSIGNMENT, name))
    correct = load_fixture_class(attacks.fixture(ASSIGNMENT, "correct_in_place"), "AdamOptimizer")
    fixture_text = {stem: attacks.fixture(ASSIGNMENT, stem).read_text()
                    for stem in ("correct_in_place", "wrong_eps_inside_sqrt")}
    submissions = {
        "honest_correct": scratch.with_class(full, "AdamOptimizer", fixture_text["correct_in_place"]),
        "honest_wrong": scratch.with_class(full, "AdamOptimizer", fixture_text["wrong_eps_inside_sqrt"]),
        "subclass_walk": scratch.with_class(full, "AdamOptimizer", attacks.SUBCLASS_WALK_ADAM),
        "fused_kernel": scratch.with_class(full, "AdamOptimizer", attacks.FUSED_KERNEL_ADAM),
        "replay_table": scratch.with_class(
            full, "AdamOptimizer", attacks.adam_replay_source(attacks.record_adam_table(correct))),
        "helper_in_added_cell": with_added_cell(
            scratch.with_class(full, "AdamOptimizer", attacks.CLASS_USING_HELPER), attacks.HELPER_CELL, True),
        "comparison_in_added_cell": with_added_cell(
            scratch.with_class(full, "AdamOptimizer", fixture_text["correct_in_place"]),
            attacks.COMPARISON_CELL, False),
    }
    for student, nb in submissions.items():
        scratch.submit(course, student, ASSIGNMENT, nb, f"{name}.ipynb")
    report = grade_course(course, Settings(timeout=30, sandbox=True, check_seed=GRADING_SEED), jobs=2,
                          log=lambda line: None)
    return {student: read_results(course, student, report) for student in submissions}


@pytest.mark.parametrize("student", ["honest_correct", "helper_in_added_cell", "comparison_in_added_cell"])
def test_honest_work_gets_full_marks(batch, student: str) -> None:
    graded = batch[student]
    assert graded.status == "graded", graded.reason
    assert graded.scores and graded.scores == graded.max_scores, graded.outputs[-2000:]


def test_honest_wrong_student_loses_exactly_what_the_checks_see(batch) -> None:
    graded = batch["honest_wrong"]
    lost = {cell for cell, score in graded.scores.items() if score < graded.max_scores[cell]}
    assert lost == failing_cells(ASSIGNMENT, attacks.fixture(ASSIGNMENT, "wrong_eps_inside_sqrt"),
                                 "AdamOptimizer")


@pytest.mark.parametrize("student", ["subclass_walk", "fused_kernel", "replay_table"])
def test_delegation_earns_nothing_end_to_end(batch, student: str) -> None:
    graded = batch[student]
    assert graded.scores and not any(graded.scores.values()), graded.scores
    if student == "fused_kernel":
        assert "someone else's implementation" in graded.outputs
