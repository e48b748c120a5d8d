"""Chapter 8: torch's optimizers work in the judge's sandbox, someone else's range test does not.

The chapter's checks forbid only a learning-rate finder someone else wrote (torch-lr-finder):
in one sandboxed worker, an honest correct and an honest wrong student keep their verdicts
(so torch.optim, which the exercise drives on purpose, is really there), while a solution that
wraps ``torch_lr_finder.LRFinder`` earns nothing, although it passes every check where the
package can run.
"""
from __future__ import annotations

import contextlib
import io
import math
import re

import numpy as np
import pytest
import torch

from course_grader.sandbox.bwrap import command_prefix
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.chapters._spec import secret_inputs
from course_grader.judge.trusted import judge_checks, worker_overlays
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject
from integrity.integrity_helpers import GRADING_SEED, REPO

pytestmark = pytest.mark.usefixtures("sandbox_available")

FIXTURES = REPO / "tests" / "fixtures" / "implementations" / "08_lr_finder" / "lr_range_test"
UNIT = "lr_range_test"
WRAPS_THE_PACKAGE = '''
import torch_lr_finder


def lr_range_test(model, loss_fn, batches, optimizer, start_lr=1e-7, end_lr=10.0, num_steps=100,
                  smooth_factor=0.05, diverge_threshold=5.0):
    modes = [module.training for module in model.modules()]
    finder = torch_lr_finder.LRFinder(model, optimizer, loss_fn)
    finder.range_test(torch_lr_finder.lr_finder.TrainDataLoaderIter(batches), start_lr=start_lr, end_lr=end_lr,
                      num_iter=num_steps, step_mode="exp", smooth_f=smooth_factor, diverge_th=diverge_threshold)
    finder.reset()
    for module, mode in zip(model.modules(), modes):
        module.training = mode
    return finder.history["lr"], finder.history["loss"]
'''


def checks_of_unit() -> list[str]:
    return [check_id for check_id, spec in REGISTRY.items() if spec.class_name == UNIT]


def renamed(source: str, new_name: str) -> str:
    return re.sub(rf"^def {UNIT}\b", f"def {new_name}", source, flags=re.MULTILINE)


def test_wrapping_torch_lr_finder_passes_where_it_runs_and_earns_nothing_in_the_judge(tmp_path) -> None:
    namespace = {"torch": torch, "np": np, "math": math}
    exec(compile(WRAPS_THE_PACKAGE, "<attack>", "exec"), namespace)  # noqa: S102 - our own test source
    for check_id in checks_of_unit():
        with secret_inputs(GRADING_SEED), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            REGISTRY[check_id].func(LocalSubject(namespace[UNIT], Trace(check_id)))

    sources = [renamed((FIXTURES / "correct_deepcopy.py").read_text(), "HonestCorrect"),
               renamed((FIXTURES / "wrong_linear_spacing.py").read_text(), "HonestWrong"), WRAPS_THE_PACKAGE]
    ids = checks_of_unit()
    checks = [(c, "HonestCorrect") for c in ids] + [(c, "HonestWrong") for c in ids] + [(c, UNIT) for c in ids]
    prefix = command_prefix(tmp_path, overlays=worker_overlays(checks))
    verdicts = judge_checks(sources, checks, command_prefix=prefix, timeout=120, cwd=str(tmp_path),
                            seed=GRADING_SEED)
    n = len(ids)
    honest_correct, honest_wrong, attacked = verdicts[:n], verdicts[n:2 * n], verdicts[2 * n:]
    assert all(v.passed for v in honest_correct), [v.message for v in honest_correct if not v.passed]
    assert all(not v.passed for v in honest_wrong), "linear spacing fails every range-test check"
    assert not any(v.passed for v in attacked)
    assert any("torch_lr_finder" in v.message for v in attacked), [v.message for v in attacked]
