"""Solutions that try to game the grader get a failed verdict from the judge, with the reason,
and leave the other checks and classes of the notebook unaffected."""

from __future__ import annotations

import pytest

from course_grader.judge.trusted import judge, judge_checks
from grading.grading_helpers import FIXTURES, checks_for

CORRECT_SCHEDULER = (FIXTURES / "03_lr_schedules" / "correct_math.py").read_text()
CORRECT_PROJECTION = (FIXTURES / "04_projected_gd" / "correct_torch.py").read_text()

SGD_HEADER = '''
import torch
from typing import List


class GradientDescentOptimizer:
    def __init__(self, params: List[torch.Tensor], lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
'''


def sgd(step_body: str, prelude: str = "") -> str:
    """A GradientDescentOptimizer whose step() has the given body (8-space indented)."""
    return prelude + SGD_HEADER + "\n    def step(self):\n" + step_body


PLAIN_STEP = '''        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad
'''

POLICY_CASES = {
    "patches torch.allclose": sgd("        torch.allclose = lambda *a, **k: True\n" + PLAIN_STEP),
    "patches numpy.testing": sgd("        np.testing.assert_allclose = lambda *a, **k: None\n" + PLAIN_STEP,
                                 prelude="import numpy as np\n"),
    "patches builtins.abs": sgd("        builtins.abs = lambda x: 0\n" + PLAIN_STEP, prelude="import builtins\n"),
    "replaces the grading helper": sgd("        course_lib.checks.check = lambda *a: print('ok')\n" + PLAIN_STEP,
                                       prelude="import course_lib.checks\n"),
    "imports the reference": "from course_lib.gradient_descent import GradientDescentOptimizer\n",
    "subclasses torch.optim.SGD": '''import torch


class GradientDescentOptimizer(torch.optim.SGD):
    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov)
''',
    "wraps optim.SGD": sgd("        self.inner.step()\n", prelude="from torch import optim\n").replace(
        "        self.nesterov = nesterov\n",
        "        self.nesterov = nesterov\n        self.inner = optim.SGD(params, lr=lr, momentum=momentum)\n"),
    "setattr on torch": sgd("        setattr(torch, 'allclose', lambda *a, **k: True)\n" + PLAIN_STEP),
    "uses exec": sgd("        exec('pass')\n" + PLAIN_STEP),
}


@pytest.mark.parametrize("case", sorted(POLICY_CASES))
def test_policy_violations_fail_without_running(case: str) -> None:
    verdicts = judge([POLICY_CASES[case]], [("gradient_descent.vanilla", "GradientDescentOptimizer")], timeout=5)
    verdict = verdicts["gradient_descent.vanilla"]
    assert not verdict.passed
    assert "earns no points" in verdict.message and "line " in verdict.message, verdict.message


CLIP_NORM_CALL = '''import torch
from typing import List, Optional


class ClippingOptimizer:
    def __init__(self, params, lr=0.01, clip_norm=None, clip_value=None, kl_penalty=0.0):
        self.params = params
        self.lr = lr
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.kl_penalty = kl_penalty
        self.grad_norms = []

    def compute_grad_norm(self):
        return torch.nn.utils.clip_grad_norm_(self.params, float("inf"))
'''


def test_clip_grad_norm_call_is_rejected() -> None:
    verdicts = judge([CLIP_NORM_CALL], [("clipping.grad_norm", "ClippingOptimizer")], timeout=5)
    assert not verdicts["clipping.grad_norm"].passed
    assert "clip_grad_norm_" in verdicts["clipping.grad_norm"].message


EXITS = sgd("        import os\n        os._exit(0)\n")
SYS_EXIT = '''import sys
import torch


class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params = params

    def step(self):
        sys.exit(0)
'''


def test_exiting_worker_fails_its_checks_only() -> None:
    checks = [("gradient_descent.vanilla", "GradientDescentOptimizer"), ("adam.first_step", "AdamOptimizer")]
    checks += [(check_id, "LRScheduler") for check_id in checks_for("LRScheduler")]
    noisy_scheduler = "print('{\"id\": \"1\", \"ok\": false}')\n" + CORRECT_SCHEDULER.replace(
        "        self.current_step += 1", "        self.current_step += 1\n        print('{\"cells\": []}')")
    verdicts = judge([EXITS, SYS_EXIT, noisy_scheduler], checks, timeout=30)
    exited = verdicts["gradient_descent.vanilla"]
    assert not exited.passed and "the grader's worker stopped" in exited.message
    assert "exited with code 0" in exited.message
    system_exit = verdicts["adam.first_step"]
    assert not system_exit.passed and "your step() raised SystemExit" in system_exit.message
    for check_id in checks_for("LRScheduler"):
        assert verdicts[check_id].passed, verdicts[check_id].message


FAKE_PROTOCOL = '''import torch
print('{"cells": [{"ok": true, "error": ""}]}')
print('{"id": "1", "ok": true, "value": {"t": "none"}}')


class ProjectedGD:
    def __init__(self, params, lr=0.01, constraint="none", threshold=0.0, box_min=None, box_max=None):
        self.params = params
        self.lr = lr

    def soft_threshold(self, x, threshold):
        print('{"id": "2", "ok": true, "value": {"t": "float", "v": "0x1.0p+0"}}', flush=True)
        import os
        os.write(1, b'{"ok": true, "value": {"t": "none"}}\\n')
        return x

    def project_box(self, x, min_val, max_val):
        return x

    def step(self):
        print("step done", flush=True)
'''

ALWAYS_EQUAL = '''import torch


class AlwaysEqual(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __sub__(self, other):
        return AlwaysEqual(0.0)

    def __abs__(self):
        return AlwaysEqual(0.0)


class ClippingOptimizer:
    def __init__(self, params, lr=0.01, clip_norm=None, clip_value=None, kl_penalty=0.0):
        self.params = params

    def compute_grad_norm(self):
        return AlwaysEqual(123.0)
'''

SNEAKY_OPTIM = '''import torch


class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.inner = getattr(torch, "op" + "tim").Adam(params, lr=lr, betas=betas, eps=eps)

    def step(self):
        self.inner.step()
'''


SNEAKY_REFERENCE = '''import torch


class GradientDescentOptimizer:
    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False):
        loader = getattr(globals()["__builtins__"], "__imp" + "ort__")
        self.inner = loader("course_lib.gradient_descent").GradientDescentOptimizer(params, lr, momentum, nesterov)

    def step(self):
        self.inner.step()
'''

SNEAKY_CLIP = '''import torch


class ClippingSneaky:
    def __init__(self, params, lr=0.01, clip_norm=None, clip_value=None, kl_penalty=0.0):
        self.params = params

    def compute_grad_norm(self):
        return getattr(torch.nn.utils, "clip_grad_" + "norm_")(self.params, float("inf"))
'''


def test_fake_output_subclasses_and_hidden_imports_fail() -> None:
    """Runtime defences: what the static scan cannot see still fails, in one worker."""
    checks = [("projections.soft_threshold", "ProjectedGD"), ("projections.step_l1", "ProjectedGD"),
              ("clipping.grad_norm", "ClippingOptimizer"), ("adam.first_step", "AdamOptimizer"),
              ("gradient_descent.vanilla", "GradientDescentOptimizer"), ("clipping.grad_norm", "ClippingSneaky")]
    results = judge_checks([FAKE_PROTOCOL, ALWAYS_EQUAL, SNEAKY_OPTIM, SNEAKY_REFERENCE, SNEAKY_CLIP], checks,
                           timeout=30)
    reference, clip = results[4], results[5]
    assert not reference.passed and "course_lib is not available to graded code" in reference.message
    assert not clip.passed and "ran torch.nn.utils.clip_grad_norm_" in clip.message
    assert "someone else's implementation" in clip.message
    verdicts = {v.check_id: v for v in results[:4]}
    assert not verdicts["projections.soft_threshold"].passed
    assert "differs from the expected values" in verdicts["projections.soft_threshold"].message
    assert not verdicts["projections.step_l1"].passed
    grad_norm = verdicts["clipping.grad_norm"]
    assert not grad_norm.passed and "must return a number" in grad_norm.message and "AlwaysEqual" in grad_norm.message
    sneaky = verdicts["adam.first_step"]
    assert not sneaky.passed and "ran torch.optim.Adam" in sneaky.message, sneaky.message


SLEEPS = sgd("        import time\n        while True:\n            time.sleep(1)\n")


def test_endless_step_times_out_and_the_next_class_still_passes() -> None:
    checks = [("gradient_descent.vanilla", "GradientDescentOptimizer"),
              ("projections.soft_threshold", "ProjectedGD"), ("projections.step_box", "ProjectedGD")]
    verdicts = judge_checks([SLEEPS, CORRECT_PROJECTION], checks, timeout=2.0, startup_timeout=60.0)
    assert not verdicts[0].passed and "no answer within 2 s" in verdicts[0].message
    assert verdicts[1].passed and verdicts[2].passed, (verdicts[1].message, verdicts[2].message)


def test_endless_cell_stops_every_check_once() -> None:
    source = "while True:\n    pass\n"
    checks = [("gradient_descent.vanilla", "GradientDescentOptimizer"), ("gradient_descent.momentum", "GradientDescentOptimizer")]
    verdicts = judge_checks([source], checks, timeout=1.0, startup_timeout=1.0)
    assert [v.passed for v in verdicts] == [False, False]
    assert all("while running your solution cells" in v.message for v in verdicts)


def test_missing_class_and_not_implemented() -> None:
    broken = "import torch\nraise RuntimeError('boom')\n"
    todo = '''class LRScheduler:
    def __init__(self, base_lr, warmup_steps=0, total_steps=1000):
        self.current_step = 0

    def step_decay(self, decay_rate=0.5, decay_steps=100):
        raise NotImplementedError("step_decay")
'''
    starter = "class ProjectedGD:\n    def __init__(self, params, **kwargs):\n        raise NotImplementedError\n"
    checks = [("adam.first_step", "AdamOptimizer"), ("schedules.step_decay", "LRScheduler"),
              ("projections.step_l1", "ProjectedGD")]
    verdicts = judge([broken, todo, starter], checks, timeout=30)
    bare = verdicts["projections.step_l1"]
    assert not bare.passed and bare.message.startswith("NotImplementedError: your ProjectedGD(")
    missing = verdicts["adam.first_step"]
    assert not missing.passed and "class AdamOptimizer is not defined" in missing.message
    assert "RuntimeError: boom" in missing.message
    todo_verdict = verdicts["schedules.step_decay"]
    assert not todo_verdict.passed and todo_verdict.message.startswith("NotImplementedError")


def test_bad_timeout_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0 seconds, got 0"):
        judge([], [], timeout=0)
