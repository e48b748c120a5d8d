"""The defaults, edge values and argument rules graded in chapters 1, 2, 3, 5, 6 (LAMB) and 9 do not depend on
the judge's seed: under several seeds every correct fixture keeps full marks and each wrong fixture written
for one of those rules still fails."""
from __future__ import annotations

import importlib
import zlib

import numpy as np
import pytest
from grading.grading_helpers import (
    FIXTURES,
    assignment_of,
    checks_for,
    fixture_id,
    fixtures_of,
    load_class,
    unit_of,
)

from course_lib.checks.chapters import REGISTRY
from course_lib.checks.errors import CheckFailed
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject

SEEDS = [11, 2024, 987654]
MODULE_OF = {"01_gradient_descent": "gradient_descent", "02_adam": "adam", "03_lr_schedules": "schedules",
             "05_gradient_clipping": "clipping", "06_optimizer_zoo": "optimizer_zoo",
             "09_loss_landscapes": "landscapes"}
#: the units of the chapters that also grade other units: the ones whose checks this round changed
ONLY = {"06_optimizer_zoo": ("LAMBOptimizer",), "09_loss_landscapes": ("loss_along_line", "loss_surface")}
CORRECT = [path for assignment in MODULE_OF for path in fixtures_of(assignment) if path.stem.startswith("correct_")
           and unit_of(path) in ONLY.get(assignment, (unit_of(path),))]
#: the wrong fixtures that break only a default, an edge value or an argument rule
WRONG = [FIXTURES / f"{name}.py" for name in (
    "01_gradient_descent/wrong_default_lr_torch", "02_adam/wrong_default_eps_keras",
    "03_lr_schedules/wrong_default_gamma_steplr", "05_gradient_clipping/wrong_min_scale_zero_norm",
    "05_gradient_clipping/wrong_clip_norm_none_unchecked", "05_gradient_clipping/wrong_clip_value_none_unchecked",
    "06_optimizer_zoo/wrong_lamb_no_validation", "06_optimizer_zoo/wrong_lamb_default_eps_adam",
    "06_optimizer_zoo/wrong_lamb_zero_r_nan", "09_loss_landscapes/loss_along_line/wrong_no_argument_checks",
    "09_loss_landscapes/loss_surface/wrong_assert_arguments")]


def passed_checks(path, seed: int, monkeypatch) -> dict[str, bool]:
    module = importlib.import_module(f"course_lib.checks.chapters.{MODULE_OF[assignment_of(path)]}")
    monkeypatch.setattr(module, "rng_for", lambda cid: np.random.default_rng(zlib.crc32(cid.encode()) ^ seed))
    unit = load_class(path)
    passed = {}
    for check_id in checks_for(unit_of(path)):
        try:
            REGISTRY[check_id].func(LocalSubject(unit, Trace(check_id)))
            passed[check_id] = True
        except CheckFailed:
            passed[check_id] = False
    return passed


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", CORRECT, ids=fixture_id)
def test_correct_fixtures_keep_full_marks_whatever_the_seed(path, seed, monkeypatch) -> None:
    passed = passed_checks(path, seed, monkeypatch)
    assert all(passed.values()), passed


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", WRONG, ids=fixture_id)
def test_wrong_fixtures_of_the_promises_fail_whatever_the_seed(path, seed, monkeypatch) -> None:
    assert not all(passed_checks(path, seed, monkeypatch).values()), f"{fixture_id(path)} passed with seed {seed}"
