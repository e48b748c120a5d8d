"""Checks for ``GradientDescentOptimizer`` (chapter 1): SGD, heavy ball, Nesterov.

Oracle: ``torch.optim.SGD`` (``dampening=0``) on its own float64 copies of the
parameters, fed the same gradients. With velocity :math:`v` per parameter:

.. math::
    v \\leftarrow \\mu v + g, \\qquad
    \\theta \\leftarrow \\theta - \\eta v \\;\\text{(heavy ball)}, \\qquad
    \\theta \\leftarrow \\theta - \\eta (g + \\mu v) \\;\\text{(Nesterov)}

and :math:`\\theta \\leftarrow \\theta - \\eta g` when :math:`\\mu = 0`.
Parameters whose ``.grad`` is ``None`` are skipped.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.optim import SGD

from course_lib.checks.chapters._spec import CheckSpec, expect_params, random_arrays, rng_for
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject

CLASS = "GradientDescentOptimizer"
ORACLE = "torch.optim.SGD"

HINT_VANILLA = ("with momentum=0 the update is plain gradient descent, p ← p − lr·g, done in place "
                "(p.data -= lr * p.grad, or p -= lr * p.grad inside torch.no_grad())")
HINT_MOMENTUM = ("heavy ball keeps one velocity per parameter that persists across step() calls: "
                 "v ← momentum·v + g (no (1 − momentum) factor on g), then p ← p − lr·v")
HINT_NESTEROV = ("Nesterov first updates v ← momentum·v + g, then steps with p ← p − lr·(g + momentum·v) "
                 "(the new v), not with v alone as heavy ball does")
HINT_DEFAULTS = ("keep the defaults of the signature given in the task: lr=0.01, momentum=0.0, nesterov=False "
                 "(the graders also build the class with no hyperparameter at all)")
HINT_MULTIPLE = ("keep a separate velocity for each parameter (zeros of the same shape), and skip "
                 "parameters whose .grad is None: they must stay unchanged")


@oracle
class _TorchSGD:
    """torch.optim.SGD (``dampening=0``) on float64 copies of the parameters."""

    def __init__(self, initial: list[np.ndarray], lr: float, momentum: float, nesterov: bool) -> None:
        self.tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in initial]
        self.optimizer = SGD(self.tensors, lr=lr, momentum=momentum, nesterov=nesterov, dampening=0.0,
                             foreach=False)

    def step(self, grads: list[np.ndarray | None]) -> list[np.ndarray]:
        for tensor, grad in zip(self.tensors, grads):
            tensor.grad = None if grad is None else torch.tensor(grad, dtype=torch.float64)
        self.optimizer.step()
        return [t.detach().numpy().copy() for t in self.tensors]


def _sgd_run(subject: Subject, rng: np.random.Generator, *, lr: float, momentum: float, nesterov: bool,
             dtype: str, shapes: list[tuple], steps: int, hint: str, no_grad: tuple = (),
             defaults: bool = False) -> None:
    """Run the student's optimizer and torch.optim.SGD side by side; compare after each step.

    ``defaults``: the student's class is built with no hyperparameter (``lr``, ``momentum`` and
    ``nesterov`` are then the signature's defaults, which the oracle is given)."""
    hyper = dict(lr=lr, momentum=momentum, nesterov=nesterov)
    subject.trace.begin(steps=steps, **({"defaults": "all"} if defaults else hyper), dtype=dtype, shapes=shapes)
    initial = random_arrays(rng, shapes, dtype)
    handle = subject.new(initial, dtype=dtype) if defaults else subject.new(initial, dtype=dtype, **hyper)
    if defaults:
        hint = HINT_DEFAULTS + "; " + hint
    sgd = _TorchSGD(initial, lr, momentum, nesterov)
    previous = [a.astype(np.float64) for a in initial]
    for step in range(1, steps + 1):
        subject.trace.step = step
        grads = [None if i in no_grad else rng.standard_normal(shape).astype(dtype)
                 for i, shape in enumerate(shapes)]
        subject.set_grads(handle, grads)
        subject.call(handle, "step")
        expected = sgd.step(grads)
        expect_params(subject, handle, expected, dtype, hint=hint, oracle=ORACLE, before=previous)
        previous = expected


def _settings_run(check_id: str, settings: list[dict], hint: str):
    def run(subject: Subject) -> None:
        rng = rng_for(check_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for setting in settings:
                _sgd_run(subject, rng, hint=hint, **setting)
    return run


VANILLA = [
    dict(lr=0.1, momentum=0.0, nesterov=False, dtype="float64", shapes=[(5,)], steps=20),
    dict(lr=0.03, momentum=0.0, nesterov=False, dtype="float32", shapes=[(3, 4), (2,)], steps=20),
    dict(lr=1.5, momentum=0.0, nesterov=False, dtype="float64", shapes=[(2, 3)], steps=20),
    dict(lr=0.01, momentum=0.0, nesterov=False, dtype="float64", shapes=[(4,), (2, 3)], steps=10, defaults=True),
]
MOMENTUM = [
    dict(lr=0.1, momentum=0.9, nesterov=False, dtype="float64", shapes=[(4,)], steps=30),
    dict(lr=0.05, momentum=0.5, nesterov=False, dtype="float32", shapes=[(3, 2), (5,)], steps=30),
    dict(lr=0.01, momentum=0.99, nesterov=False, dtype="float64", shapes=[(6,)], steps=30),
]
NESTEROV = [dict(setting, nesterov=True) for setting in MOMENTUM]
MULTIPLE = [
    dict(lr=0.1, momentum=0.9, nesterov=False, dtype="float32", shapes=[(3,), (2, 4), (3,), (5,)],
         steps=25, no_grad=(2,)),
    dict(lr=0.05, momentum=0.8, nesterov=True, dtype="float64", shapes=[(3,), (2, 4), (3,), (5,)],
         steps=25, no_grad=(2,)),
    dict(lr=0.1, momentum=0.0, nesterov=False, dtype="float64", shapes=[(4,), (4,), (2, 2)],
         steps=10, no_grad=(0,)),
]

CHECKS = [
    CheckSpec("gradient_descent.vanilla", CLASS,
              f"momentum=0 matches {ORACLE} over 20 steps at 3 settings (float32 and float64) and with the "
              "defaults (lr=0.01, momentum=0, nesterov=False)",
              _settings_run("gradient_descent.vanilla", VANILLA, HINT_VANILLA)),
    CheckSpec("gradient_descent.momentum", CLASS,
              f"heavy-ball momentum matches {ORACLE} over 30 steps at 3 settings",
              _settings_run("gradient_descent.momentum", MOMENTUM, HINT_MOMENTUM)),
    CheckSpec("gradient_descent.nesterov", CLASS,
              f"Nesterov momentum matches {ORACLE}(nesterov=True) over 30 steps at 3 settings",
              _settings_run("gradient_descent.nesterov", NESTEROV, HINT_NESTEROV)),
    CheckSpec("gradient_descent.multiple_params", CLASS,
              f"several parameters (one without a gradient) match {ORACLE} at 3 settings",
              _settings_run("gradient_descent.multiple_params", MULTIPLE, HINT_MULTIPLE)),
]
