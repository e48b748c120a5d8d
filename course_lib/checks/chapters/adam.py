"""Checks for ``AdamOptimizer`` (chapter 2).

With one shared step counter :math:`t` (incremented once per ``step()``) and
per-parameter moments:

.. math::
    m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad
    v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, \\quad
    \\hat m = \\frac{m}{1-\\beta_1^t}, \\quad \\hat v = \\frac{v}{1-\\beta_2^t}, \\quad
    \\theta \\leftarrow \\theta - \\eta \\frac{\\hat m}{\\sqrt{\\hat v} + \\epsilon}

Oracles: ``torch.optim.Adam`` when every parameter has a gradient on every
step, and a float64 numpy implementation of the formula above (shared
:math:`t`, parameters without a gradient untouched) otherwise, because
``torch.optim.Adam`` counts steps per parameter.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch
from torch.optim import Adam

from course_lib.checks.chapters._spec import CheckSpec, expect_params, random_arrays, rng_for
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject

CLASS = "AdamOptimizer"
TORCH = "torch.optim.Adam"
CLOSED_FORM = "Adam formula with one shared t, float64"

HINT_FIRST = ("on the first step (t = 1) bias correction makes m̂ = g and v̂ = g², so the update is "
              "lr·g/(|g| + eps); check m̂ = m/(1 − β₁ᵗ) and v̂ = v/(1 − β₂ᵗ), and that t is 1 on the "
              "first call")
HINT_TORCH = ("m ← β₁·m + (1 − β₁)·g and v ← β₂·v + (1 − β₂)·g² (β₁ goes with m, β₂ with v, and v "
              "averages g², not g), m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), p ← p − lr·m̂/(√v̂ + eps), "
              "with m and v kept per parameter across steps")
HINT_EPS = "eps goes outside the square root: m_hat / (sqrt(v_hat) + eps)"
HINT_SHARED_T = ("t counts step() calls: increment it once per step(), before the loop over "
                 "parameters, and use the same t for every parameter; a parameter whose .grad is None "
                 "is skipped (its m, v and values stay as they are)")
HINT_DEFAULTS = ("keep the defaults of the signature given in the task: lr=0.001, betas=(0.9, 0.999), eps=1e-8 "
                 "(torch.optim.Adam's; Keras uses eps=1e-7), which matter when the gradients are tiny")
HINT_MANY = ("m and v must persist across step() calls (one pair per parameter) and t must keep "
             "growing: the bias corrections use β₁ᵗ and β₂ᵗ with the current t")


@oracle
class _TorchAdam:
    """torch.optim.Adam on float64 copies of the parameters."""

    name = TORCH

    def __init__(self, initial: list[np.ndarray], lr: float, betas: tuple, eps: float) -> None:
        self.tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in initial]
        self.optimizer = Adam(self.tensors, lr=lr, betas=betas, eps=eps, foreach=False)

    def step(self, grads: list[np.ndarray | None]) -> list[np.ndarray]:
        for tensor, grad in zip(self.tensors, grads):
            tensor.grad = None if grad is None else torch.tensor(grad, dtype=torch.float64)
        self.optimizer.step()
        return [t.detach().numpy().copy() for t in self.tensors]


@oracle
class _ClosedFormAdam:
    """The Adam formula in float64 numpy with one shared step counter."""

    name = CLOSED_FORM

    def __init__(self, initial: list[np.ndarray], lr: float, betas: tuple, eps: float) -> None:
        self.params = [a.astype(np.float64) for a in initial]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.t = 0

    def step(self, grads: list[np.ndarray | None]) -> list[np.ndarray]:
        self.t += 1
        for i, grad in enumerate(grads):
            if grad is None:
                continue
            g = grad.astype(np.float64)
            self.m[i] = self.beta1 * self.m[i] + (1 - self.beta1) * g
            self.v[i] = self.beta2 * self.v[i] + (1 - self.beta2) * g * g
            m_hat = self.m[i] / (1 - self.beta1 ** self.t)
            v_hat = self.v[i] / (1 - self.beta2 ** self.t)
            self.params[i] = self.params[i] - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return [p.copy() for p in self.params]


def _adam_run(subject: Subject, rng: np.random.Generator, oracle_class: type, *, lr: float,
              betas: tuple, eps: float, dtype: str, shapes: list[tuple], steps: int, hint: str,
              grad_scale: float = 1.0, has_grad: Callable[[int, int], bool] | None = None,
              defaults: bool = False) -> None:
    """``defaults``: the student's class is built with no hyperparameter (``lr``, ``betas`` and ``eps`` are
    then the signature's defaults, which the oracle is given)."""
    hyper = dict(lr=lr, betas=betas, eps=eps)
    subject.trace.begin(steps=steps, **({"defaults": "all", "gradient_scale": grad_scale} if defaults else hyper),
                        dtype=dtype, shapes=shapes)
    initial = random_arrays(rng, shapes, dtype)
    handle = subject.new(initial, dtype=dtype) if defaults else subject.new(initial, dtype=dtype, **hyper)
    if defaults:
        hint = HINT_DEFAULTS + "; " + hint
    oracle = oracle_class(initial, lr, betas, eps)
    previous = [a.astype(np.float64) for a in initial]
    for step in range(1, steps + 1):
        subject.trace.step = step
        grads = [(grad_scale * rng.standard_normal(shape)).astype(dtype)
                 if has_grad is None or has_grad(i, step) else None
                 for i, shape in enumerate(shapes)]
        subject.set_grads(handle, grads)
        subject.call(handle, "step")
        expected = oracle.step(grads)
        expect_params(subject, handle, expected, dtype, hint=hint, oracle=oracle.name, before=previous)
        previous = expected


def _check(check_id: str, oracle_class: type, settings: list[dict], hint: str):
    def run(subject: Subject) -> None:
        rng = rng_for(check_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for setting in settings:
                _adam_run(subject, rng, oracle_class, hint=hint, **setting)
    return run


def _sometimes(i: int, step: int) -> bool:
    """Parameter 0 always has a gradient, 1 every third step, 2 never."""
    return i == 0 or (i == 1 and step % 3 == 0)


FIRST_STEP = [
    dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8, dtype="float64", shapes=[(5,)], steps=1),
    dict(lr=0.01, betas=(0.5, 0.6), eps=1e-3, dtype="float32", shapes=[(2, 3), (4,)], steps=1),
    dict(lr=0.3, betas=(0.8, 0.9), eps=0.1, dtype="float64", shapes=[(3,)], steps=1, grad_scale=0.2),
]
MATCHES = [
    dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, dtype="float64", shapes=[(4,), (2, 3)], steps=30),
    dict(lr=0.05, betas=(0.5, 0.6), eps=1e-6, dtype="float32", shapes=[(3, 3)], steps=30),
    dict(lr=0.002, betas=(0.95, 0.99), eps=1e-8, dtype="float32", shapes=[(5,), (1,)], steps=30,
         grad_scale=10.0),
    dict(lr=0.001, betas=(0.9, 0.999), eps=1e-8, dtype="float64", shapes=[(4,), (2, 3)], steps=10,
         grad_scale=1e-6, defaults=True),
]
LARGE_EPS = [
    dict(lr=0.05, betas=(0.9, 0.999), eps=0.1, dtype="float64", shapes=[(4,)], steps=20, grad_scale=0.3),
    dict(lr=0.1, betas=(0.8, 0.99), eps=1.0, dtype="float32", shapes=[(2, 2), (3,)], steps=20),
    dict(lr=0.01, betas=(0.5, 0.6), eps=0.5, dtype="float64", shapes=[(6,)], steps=20, grad_scale=2.0),
]
SHARED_T = [
    dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, dtype="float64", shapes=[(3,), (2, 2), (4,)], steps=20,
         has_grad=_sometimes),
    dict(lr=0.05, betas=(0.5, 0.6), eps=1e-3, dtype="float32", shapes=[(2,), (3,), (1, 2)], steps=20,
         has_grad=_sometimes),
]
SHARED_T_ALL = [
    dict(lr=0.02, betas=(0.7, 0.8), eps=1e-8, dtype="float64", shapes=[(3,), (2, 2), (4,)], steps=10),
]
MANY = [
    dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, dtype="float64", shapes=[(3,), (2, 2)], steps=100),
    dict(lr=0.002, betas=(0.8, 0.999), eps=1e-8, dtype="float32", shapes=[(4,)], steps=100),
]


def _shared_timestep(subject: Subject) -> None:
    _check("adam.shared_timestep", _TorchAdam, SHARED_T_ALL, HINT_SHARED_T)(subject)
    _check("adam.shared_timestep.no_grad", _ClosedFormAdam, SHARED_T, HINT_SHARED_T)(subject)


CHECKS = [
    CheckSpec("adam.first_step", CLASS, f"the first step matches {TORCH} at 3 settings",
              _check("adam.first_step", _TorchAdam, FIRST_STEP, HINT_FIRST)),
    CheckSpec("adam.matches_torch", CLASS, f"matches {TORCH} over 30 steps at 3 settings (float32 and float64) and with the "
              "defaults (lr=0.001, betas=(0.9, 0.999), eps=1e-8) on tiny gradients",
              _check("adam.matches_torch", _TorchAdam, MATCHES, HINT_TORCH)),
    CheckSpec("adam.large_eps", CLASS, f"matches {TORCH} with eps = 0.1, 0.5 and 1 over 20 steps",
              _check("adam.large_eps", _TorchAdam, LARGE_EPS, HINT_EPS)),
    CheckSpec("adam.shared_timestep", CLASS,
              "one t per step() shared by 3 parameters (some without gradients) over 20 steps",
              _shared_timestep),
    CheckSpec("adam.many_steps", CLASS, f"matches {TORCH} over 100 steps at 2 settings",
              _check("adam.many_steps", _TorchAdam, MANY, HINT_MANY)),
]
