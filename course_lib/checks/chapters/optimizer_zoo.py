"""Checks for chapter 6's optimizers: Adagrad, RMSprop, AdamW, Lion and LAMB.

Each check drives one class over many steps on random problems (several shapes,
float32 and float64, unusual settings) and compares every parameter after every
step with an oracle in float64:

- ``AdagradOptimizer``: ``torch.optim.Adagrad`` (no step-dependent term, so it is
  an oracle even when some parameters have no gradient).
- ``RMSpropOptimizer``: ``torch.optim.RMSprop`` (likewise).
- ``AdamWOptimizer``: ``torch.optim.AdamW`` where every parameter has a gradient on
  every step; otherwise the closed form with one shared step count :math:`t`
  (``torch.optim.AdamW`` counts steps per parameter).
- ``LionOptimizer``: the closed form of Chen et al. (2023),
  :math:`c = \\beta_1 m + (1-\\beta_1) g`,
  :math:`\\theta \\leftarrow \\theta(1-\\eta\\lambda) - \\eta\\,\\mathrm{sign}(c)`,
  :math:`m \\leftarrow \\beta_2 m + (1-\\beta_2) g` (the test suite checks it against
  the authors' ``lion-pytorch``).
- ``LAMBOptimizer``: the closed form of You et al. (2020), Algorithm 2, with a trust
  ratio :math:`\\lVert\\theta\\rVert / \\lVert r\\rVert` per tensor (1 when either norm is 0).
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch

from course_lib.checks.chapters._spec import CheckSpec, expect_params, random_arrays, rng_for
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject

HINT_SKIP = ("a parameter whose .grad is None is skipped entirely: its value (no weight decay either) and its "
             "state stay as they are")

HINT_ADAGRAD = ("s ← s + g² (a running sum, kept per parameter across steps and starting at "
                "initial_accumulator_value), then p ← p − lr·g/(√s + eps), with eps outside the square root "
                "and the new s")
HINT_RMSPROP = ("s ← α·s + (1 − α)·g² (α multiplies the old average), then p ← p − lr·g/(√s + eps), eps outside "
                "the square root, no bias correction")
HINT_RMSPROP_MORE = ("centered: ḡ ← α·ḡ + (1 − α)·g and the denominator is √(s − ḡ²) + eps; momentum: "
                     "b ← μ·b + g/denominator (no (1 − μ) factor) and p ← p − lr·b")
HINT_ADAMW = ("decoupled weight decay: first p ← p·(1 − lr·λ), then the Adam step of chapter 2 with the gradient "
              "itself (λ·p is never added to g, so it never enters m or v)")
HINT_ADAMW_T = ("t counts step() calls, once per call and shared by all parameters; " + HINT_SKIP)
HINT_LION = ("c = β₁·m + (1 − β₁)·g with the OLD m, then p ← p·(1 − lr·λ) − lr·sign(c), and only then "
             "m ← β₂·m + (1 − β₂)·g (β₁ for the update, β₂ for the memory)")
HINT_LAMB = ("r = m̂/(√v̂ + eps) + λ·p with Adam's bias-corrected m̂ and v̂; φ = ‖p‖/‖r‖ per parameter tensor "
             "(plain L2 norms, no eps, no clamp); p ← p − lr·φ·r")
HINT_LAMB_EDGES = ("the trust ratio is 1 when ‖p‖ = 0 or ‖r‖ = 0 (a zero-initialised bias must still move); "
                   "t counts step() calls, shared by all parameters; " + HINT_SKIP)


def _sometimes(i: int, step: int) -> bool:
    """Parameter 0 always has a gradient, 1 every third step, 2 never."""
    return i == 0 or (i == 1 and step % 3 == 0)


def _all_but_last(i: int, step: int) -> bool:
    """Parameters 0 and 1 always have a gradient, 2 every third step, 3 never."""
    return i < 2 or (i == 2 and step % 3 == 0)


@oracle
class _TorchOptimizer:
    """A torch.optim class on float64 copies of the parameters."""

    def __init__(self, initial: list[np.ndarray], factory: Callable, **hyper) -> None:
        self.tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in initial]
        self.optimizer = factory(self.tensors, **hyper)

    def step(self, grads: list[np.ndarray | None]) -> list[np.ndarray]:
        for tensor, grad in zip(self.tensors, grads):
            tensor.grad = None if grad is None else torch.tensor(grad, dtype=torch.float64)
        self.optimizer.step()
        return [t.detach().numpy().copy() for t in self.tensors]


@oracle
class _TorchAdagrad(_TorchOptimizer):
    name = "torch.optim.Adagrad"

    def __init__(self, initial, **hyper) -> None:
        super().__init__(initial, torch.optim.Adagrad, foreach=False, **hyper)


@oracle
class _TorchRMSprop(_TorchOptimizer):
    name = "torch.optim.RMSprop"

    def __init__(self, initial, **hyper) -> None:
        super().__init__(initial, torch.optim.RMSprop, foreach=False, **hyper)


@oracle
class _TorchAdamW(_TorchOptimizer):
    name = "torch.optim.AdamW"

    def __init__(self, initial, **hyper) -> None:
        super().__init__(initial, torch.optim.AdamW, foreach=False, **hyper)


@oracle
class _ClosedFormAdamW:
    """AdamW in float64 numpy, one shared t; parameters without a gradient untouched."""

    name = "AdamW formula with one shared t, float64"

    def __init__(self, initial, lr: float, betas: tuple, eps: float, weight_decay: float) -> None:
        self.params = [a.astype(np.float64) for a in initial]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, (self.beta1, self.beta2), self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0

    def step(self, grads):
        self.t += 1
        for i, grad in enumerate(grads):
            if grad is None:
                continue
            g = grad.astype(np.float64)
            self.params[i] = self.params[i] * (1 - self.lr * self.weight_decay)
            self.m[i] = self.beta1 * self.m[i] + (1 - self.beta1) * g
            self.v[i] = self.beta2 * self.v[i] + (1 - self.beta2) * g * g
            m_hat = self.m[i] / (1 - self.beta1 ** self.t)
            v_hat = self.v[i] / (1 - self.beta2 ** self.t)
            self.params[i] = self.params[i] - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return [p.copy() for p in self.params]


@oracle
class _ClosedFormLion:
    """Lion (Chen et al., 2023, Program 1) in float64 numpy."""

    name = "Lion formula (Chen et al., 2023), float64"

    def __init__(self, initial, lr: float, betas: tuple, weight_decay: float) -> None:
        self.params = [a.astype(np.float64) for a in initial]
        self.m = [np.zeros_like(p) for p in self.params]
        self.lr, (self.beta1, self.beta2), self.weight_decay = lr, betas, weight_decay

    def step(self, grads):
        for i, grad in enumerate(grads):
            if grad is None:
                continue
            g = grad.astype(np.float64)
            c = self.beta1 * self.m[i] + (1 - self.beta1) * g
            self.params[i] = self.params[i] * (1 - self.lr * self.weight_decay) - self.lr * np.sign(c)
            self.m[i] = self.beta2 * self.m[i] + (1 - self.beta2) * g
        return [p.copy() for p in self.params]


@oracle
class _ClosedFormLAMB:
    """LAMB (You et al., 2020, Algorithm 2) in float64 numpy, one shared t."""

    name = "LAMB formula (You et al., 2020), float64"

    def __init__(self, initial, lr: float, betas: tuple, eps: float, weight_decay: float) -> None:
        self.params = [a.astype(np.float64) for a in initial]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, (self.beta1, self.beta2), self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0

    def step(self, grads):
        self.t += 1
        for i, grad in enumerate(grads):
            if grad is None:
                continue
            g = grad.astype(np.float64)
            self.m[i] = self.beta1 * self.m[i] + (1 - self.beta1) * g
            self.v[i] = self.beta2 * self.v[i] + (1 - self.beta2) * g * g
            m_hat = self.m[i] / (1 - self.beta1 ** self.t)
            v_hat = self.v[i] / (1 - self.beta2 ** self.t)
            r = m_hat / (np.sqrt(v_hat) + self.eps) + self.weight_decay * self.params[i]
            param_norm, r_norm = np.linalg.norm(self.params[i]), np.linalg.norm(r)
            ratio = param_norm / r_norm if param_norm > 0 and r_norm > 0 else 1.0
            self.params[i] = self.params[i] - self.lr * ratio * r
        return [p.copy() for p in self.params]


def _run(subject: Subject, rng: np.random.Generator, oracle_class: type, *, hyper: dict, dtype: str,
         shapes: list[tuple], steps: int, hint: str, grad_scale: float = 1.0, param_scale: float = 1.0,
         has_grad: Callable[[int, int], bool] | None = None, zero_params: tuple = ()) -> None:
    subject.trace.begin(steps=steps, **hyper, dtype=dtype, shapes=shapes)
    initial = random_arrays(rng, shapes, dtype, scale=param_scale)
    for i in zero_params:
        initial[i] = np.zeros_like(initial[i])
        subject.trace.setting["zero_initialised"] = list(zero_params)
    handle = subject.new(initial, dtype=dtype, **hyper)
    oracle = oracle_class(initial, **hyper)
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


def _check(check_id: str, runs: list[tuple[type, list[dict], str]],
           then: Callable[[Subject, np.random.Generator], None] | None = None):
    """Run every (oracle, settings, hint) in order, all problems drawn from rng_for(check_id);
    then ``then(subject, rng)`` (defaults, edge values, arguments that must be refused)."""
    def run(subject: Subject) -> None:
        rng = rng_for(check_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for oracle_class, settings, hint in runs:
                for setting in settings:
                    _run(subject, rng, oracle_class, hint=hint, **setting)
            if then is not None:
                then(subject, rng)
    return run


def _refuses(subject: Subject, rng: np.random.Generator, cases: list[tuple[dict, str, str]]) -> None:
    """Each ``(kwargs, name, rule)``: the constructor must raise ValueError whose message names ``name``."""
    params = random_arrays(rng, [(3,)], "float64")
    for kwargs, name, rule in cases:
        subject.trace.begin(**kwargs)
        argument = next(iter(kwargs))
        hint = (f"check the arguments at the start of __init__ and raise ValueError with a message that names the "
                f"argument, its value and what is allowed, e.g. raise ValueError(f\"{rule}, got {{{argument}}}\")")
        subject.expect_error("new", params=params, names=(name,), rule=rule, hint=hint, **kwargs)


def _defaults(subject: Subject, rng: np.random.Generator, oracle_class: type, defaults: dict, hint: str,
              steps: int = 10, grad_scale: float = 1.0) -> None:
    """The class built with no hyperparameter at all takes the oracle's steps at ``defaults`` (gradients of
    size ``grad_scale``: tiny ones make a wrong default eps show)."""
    shapes = [(4,), (2, 3)]
    subject.trace.begin(steps=steps, defaults="all", dtype="float64", shapes=shapes,
                        **({"gradient_scale": grad_scale} if grad_scale != 1.0 else {}))
    initial = random_arrays(rng, shapes, "float64")
    handle = subject.new(initial, dtype="float64")
    oracle = oracle_class(initial, **defaults)
    previous = [a.copy() for a in initial]
    for step in range(1, steps + 1):
        subject.trace.step = step
        grads = random_arrays(rng, shapes, "float64", scale=grad_scale)
        subject.set_grads(handle, grads)
        subject.call(handle, "step")
        expected = oracle.step(grads)
        expect_params(subject, handle, expected, "float64", hint=hint, oracle=oracle.name + " with "
                      + ", ".join(f"{k}={v}" for k, v in defaults.items()), before=previous)
        previous = expected


ADAGRAD = [
    dict(hyper=dict(lr=0.1, eps=1e-10, initial_accumulator_value=0.0), dtype="float64",
         shapes=[(4,), (2, 3)], steps=30),
    dict(hyper=dict(lr=0.5, eps=0.1, initial_accumulator_value=0.0), dtype="float64", shapes=[(5,)], steps=30,
         grad_scale=0.3),
    dict(hyper=dict(lr=0.05, eps=1e-6, initial_accumulator_value=0.5), dtype="float32", shapes=[(3, 3)],
         steps=30),
    dict(hyper=dict(lr=0.01, eps=1e-10, initial_accumulator_value=0.0), dtype="float32",
         shapes=[(5,), (1,)], steps=30, grad_scale=10.0),
]
ADAGRAD_MORE = [
    dict(hyper=dict(lr=0.2, eps=1e-10, initial_accumulator_value=0.1), dtype="float64",
         shapes=[(3,), (2, 2), (4,)], steps=100, has_grad=_sometimes),
    dict(hyper=dict(lr=0.05, eps=1.0, initial_accumulator_value=0.0), dtype="float32",
         shapes=[(2,), (3,), (1, 2)], steps=100, has_grad=_sometimes),
]

RMSPROP = [
    dict(hyper=dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False), dtype="float64",
         shapes=[(4,), (2, 3)], steps=30),
    dict(hyper=dict(lr=0.05, alpha=0.5, eps=0.1, momentum=0.0, centered=False), dtype="float64",
         shapes=[(5,)], steps=30, grad_scale=0.3),
    dict(hyper=dict(lr=0.002, alpha=0.9, eps=1e-6, momentum=0.0, centered=False), dtype="float32",
         shapes=[(3, 3), (1,)], steps=30, grad_scale=10.0),
]
RMSPROP_MORE = [
    dict(hyper=dict(lr=0.01, alpha=0.9, eps=1e-8, momentum=0.9, centered=False), dtype="float64",
         shapes=[(4,), (2, 2)], steps=40),
    dict(hyper=dict(lr=0.01, alpha=0.8, eps=1e-3, momentum=0.0, centered=True), dtype="float64",
         shapes=[(3,), (2, 3)], steps=40),
    dict(hyper=dict(lr=0.003, alpha=0.95, eps=1e-4, momentum=0.5, centered=True), dtype="float32",
         shapes=[(3,), (2, 2), (4,)], steps=40, has_grad=_sometimes),
    dict(hyper=dict(lr=0.02, alpha=0.99, eps=1e-8, momentum=0.3, centered=False), dtype="float32",
         shapes=[(2,), (3,), (1, 2)], steps=40, has_grad=_sometimes),
]

ADAMW = [
    dict(hyper=dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), dtype="float64",
         shapes=[(4,), (2, 3)], steps=30),
    dict(hyper=dict(lr=0.1, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.5), dtype="float64",
         shapes=[(5,)], steps=30),
    dict(hyper=dict(lr=0.05, betas=(0.5, 0.6), eps=1e-3, weight_decay=0.2), dtype="float32",
         shapes=[(3, 3)], steps=30, param_scale=3.0),
    dict(hyper=dict(lr=0.002, betas=(0.95, 0.99), eps=1e-8, weight_decay=0.0), dtype="float32",
         shapes=[(5,), (1,)], steps=30, grad_scale=10.0),
]
ADAMW_SHARED_T = [
    dict(hyper=dict(lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.3), dtype="float64",
         shapes=[(3,), (2, 2), (4,)], steps=60, has_grad=_sometimes),
    dict(hyper=dict(lr=0.02, betas=(0.7, 0.8), eps=1e-6, weight_decay=0.1), dtype="float32",
         shapes=[(2,), (3,), (1, 2)], steps=60, has_grad=_sometimes),
]
ADAMW_MANY = [
    dict(hyper=dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05), dtype="float64",
         shapes=[(3,), (2, 2)], steps=100),
]

LION = [
    dict(hyper=dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.0), dtype="float64",
         shapes=[(4,), (2, 3)], steps=30),
    dict(hyper=dict(lr=0.03, betas=(0.5, 0.9), weight_decay=1.0), dtype="float64", shapes=[(6,)], steps=30),
    dict(hyper=dict(lr=0.001, betas=(0.95, 0.98), weight_decay=0.1), dtype="float32",
         shapes=[(3, 3), (2,)], steps=30, param_scale=3.0),
    dict(hyper=dict(lr=0.1, betas=(0.2, 0.6), weight_decay=0.5), dtype="float32", shapes=[(5,)], steps=30,
         grad_scale=0.01),
]
LION_MORE = [
    dict(hyper=dict(lr=0.02, betas=(0.9, 0.99), weight_decay=0.3), dtype="float64",
         shapes=[(3,), (2, 2), (4,)], steps=100, has_grad=_sometimes),
    dict(hyper=dict(lr=0.005, betas=(0.8, 0.95), weight_decay=1.0), dtype="float32",
         shapes=[(2,), (3,), (1, 2)], steps=100, has_grad=_sometimes),
]

LAMB = [
    dict(hyper=dict(lr=0.01, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0), dtype="float64",
         shapes=[(4,), (2, 3)], steps=30),
    dict(hyper=dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1), dtype="float64",
         shapes=[(5, 5), (3,)], steps=30, param_scale=5.0),
    dict(hyper=dict(lr=0.02, betas=(0.9, 0.99), eps=0.1, weight_decay=0.01), dtype="float64",
         shapes=[(6,)], steps=20, grad_scale=0.3),
    dict(hyper=dict(lr=0.01, betas=(0.5, 0.6), eps=1e-6, weight_decay=0.05), dtype="float32",
         shapes=[(3, 3), (4,)], steps=20),
]
LAMB_EDGES = [
    dict(hyper=dict(lr=0.02, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01), dtype="float64",
         shapes=[(3,), (4,), (2, 2), (3,)], steps=30, has_grad=_all_but_last, zero_params=(1,)),
    dict(hyper=dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.0), dtype="float32",
         shapes=[(2, 3), (3,), (2,), (4,)], steps=30, has_grad=_all_but_last, zero_params=(1,)),
]

HINT_DEFAULTS = "keep the defaults of the signature given in the task: "


def _adagrad_then(subject: Subject, rng: np.random.Generator) -> None:
    _refuses(subject, rng, [(dict(lr=-0.1), "lr", "lr must be >= 0"), (dict(eps=-1e-10), "eps", "eps must be >= 0"),
                            (dict(initial_accumulator_value=-0.5), "initial_accumulator_value",
                             "initial_accumulator_value must be >= 0")])


def _rmsprop_then(subject: Subject, rng: np.random.Generator) -> None:
    _defaults(subject, rng, _TorchRMSprop, dict(lr=0.01, alpha=0.99, eps=1e-8),
              HINT_DEFAULTS + "lr=0.01, alpha=0.99, eps=1e-8 (torch.optim.RMSprop's); " + HINT_RMSPROP)
    _refuses(subject, rng, [(dict(alpha=1.0), "alpha", "alpha must be in [0, 1)"), (dict(alpha=-0.1), "alpha",
                                                                            "alpha must be in [0, 1)"),
                            (dict(lr=-0.01), "lr", "lr must be >= 0"), (dict(eps=-1e-8), "eps", "eps must be >= 0"),
                            (dict(momentum=-0.9), "momentum", "momentum must be >= 0")])


def _adamw_then(subject: Subject, rng: np.random.Generator) -> None:
    params = random_arrays(rng, [(3,)], "float64")
    subject.trace.begin(lr=0.0)
    subject.expect_no_error("new", params=params, lr=0.0, rule="lr must be >= 0: lr = 0 is allowed (a frozen run)",
                            hint="refuse only lr < 0: lr = 0 is a legal learning rate (torch.optim.AdamW "
                                 "accepts it too)")
    _refuses(subject, rng, [(dict(lr=-0.001), "lr", "lr must be >= 0"),
                            (dict(betas=(0.9, 1.0)), "beta", "betas must each be in [0, 1)"),
                            (dict(betas=(-0.1, 0.999)), "beta", "betas must each be in [0, 1)"),
                            (dict(eps=-1e-8), "eps", "eps must be >= 0"),
                            (dict(weight_decay=-0.01), "weight_decay", "weight_decay must be >= 0")])


HINT_LION_ZERO = ("sign(0) = 0 (torch.sign): an entry whose c = β₁·m + (1 − β₁)·g is exactly 0 does not move, "
                  "apart from the decay p·(1 − lr·λ)")


def _lion_then(subject: Subject, rng: np.random.Generator) -> None:
    """Zero gradients on zero momenta: c = 0 exactly, so those entries only decay."""
    hyper = dict(lr=0.05, betas=(0.9, 0.99), weight_decay=0.2)
    shapes = [(6,), (2, 3)]
    subject.trace.begin(steps=3, **hyper, dtype="float64", shapes=shapes, zero_gradients="some entries")
    initial = random_arrays(rng, shapes, "float64")
    handle = subject.new(initial, dtype="float64", **hyper)
    oracle = _ClosedFormLion(initial, **hyper)
    previous = [a.copy() for a in initial]
    masks = [rng.random(shape) < 0.5 for shape in shapes]
    for step in range(1, 4):
        subject.trace.step = step
        if step == 2:  # no gradient at all: the entries never touched keep m = 0 and c = 0
            grads = [np.zeros(shape) for shape in shapes]
        else:
            grads = [np.where(mask, 0.0, g) for mask, g in zip(masks, random_arrays(rng, shapes, "float64"))]
        subject.set_grads(handle, grads)
        subject.call(handle, "step")
        expected = oracle.step(grads)
        expect_params(subject, handle, expected, "float64", hint=HINT_LION_ZERO, oracle=oracle.name,
                      before=previous)
        previous = expected
    _refuses(subject, rng, [(dict(betas=(0.9, 1.0)), "beta", "betas must each be in [0, 1)"),
                            (dict(betas=(1.0, 0.99)), "beta", "betas must each be in [0, 1)"),
                            (dict(lr=-1e-4), "lr", "lr must be >= 0"),
                            (dict(weight_decay=-0.1), "weight_decay", "weight_decay must be >= 0")])


def _lamb_then(subject: Subject, rng: np.random.Generator) -> None:
    _defaults(subject, rng, _ClosedFormLAMB, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0),
              HINT_DEFAULTS + "lr=1e-3, betas=(0.9, 0.999), eps=1e-6 (not Adam's 1e-8), weight_decay=0.0; "
              + HINT_LAMB, grad_scale=1e-6)
    params = random_arrays(rng, [(3,)], "float64")
    subject.trace.begin(lr=0.0)
    subject.expect_no_error("new", params=params, lr=0.0, rule="lr must be >= 0: lr = 0 is allowed (a frozen run)",
                            hint="refuse only lr < 0: lr = 0 is a legal learning rate")
    _refuses(subject, rng, [(dict(lr=-0.001), "lr", "lr must be >= 0"),
                            (dict(betas=(0.9, 1.0)), "beta", "betas must each be in [0, 1)"),
                            (dict(betas=(-0.1, 0.999)), "beta", "betas must each be in [0, 1)"),
                            (dict(eps=-1e-6), "eps", "eps must be >= 0"),
                            (dict(weight_decay=-0.01), "weight_decay", "weight_decay must be >= 0")])


HINT_LAMB_ZERO_R = ("a parameter whose gradients have all been 0 (with weight_decay = 0) has r = 0, so ‖r‖ = 0: "
                    "the trust ratio is then 1 (not ‖p‖/0), and the parameter does not move")


def _lamb_edges_then(subject: Subject, rng: np.random.Generator) -> None:
    """‖r‖ = 0: parameter 0 only ever gets zero gradients (m = v = 0, no decay), the others random ones."""
    hyper = dict(lr=0.02, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0)
    shapes = [(4,), (2, 3)]
    subject.trace.begin(steps=3, **hyper, dtype="float64", shapes=shapes, zero_gradients="parameter 0")
    initial = random_arrays(rng, shapes, "float64")
    handle = subject.new(initial, dtype="float64", **hyper)
    oracle = _ClosedFormLAMB(initial, **hyper)
    previous = [a.copy() for a in initial]
    for step in range(1, 4):
        subject.trace.step = step
        grads = [np.zeros(shapes[0])] + random_arrays(rng, shapes[1:], "float64")
        subject.set_grads(handle, grads)
        subject.call(handle, "step")
        expected = oracle.step(grads)
        expect_params(subject, handle, expected, "float64", hint=HINT_LAMB_ZERO_R, oracle=oracle.name,
                      before=previous)
        previous = expected


CHECKS = [
    CheckSpec("adagrad.matches_torch", "AdagradOptimizer",
              "matches torch.optim.Adagrad over 30 steps at 4 settings (float32 and float64); refuses a "
              "negative lr, eps or initial_accumulator_value with ValueError",
              _check("adagrad.matches_torch", [(_TorchAdagrad, ADAGRAD, HINT_ADAGRAD)], _adagrad_then)),
    CheckSpec("adagrad.no_grad_many_steps", "AdagradOptimizer",
              "matches torch.optim.Adagrad over 100 steps with parameters that have no gradient",
              _check("adagrad.no_grad_many_steps", [(_TorchAdagrad, ADAGRAD_MORE, HINT_ADAGRAD + "; " + HINT_SKIP)])),
    CheckSpec("rmsprop.matches_torch", "RMSpropOptimizer",
              "matches torch.optim.RMSprop (no momentum, not centred) over 30 steps at 3 settings and with its "
              "defaults; refuses alpha outside [0, 1) and negative lr, eps or momentum with ValueError",
              _check("rmsprop.matches_torch", [(_TorchRMSprop, RMSPROP, HINT_RMSPROP)], _rmsprop_then)),
    CheckSpec("rmsprop.momentum_centered", "RMSpropOptimizer",
              "matches torch.optim.RMSprop with momentum and/or centred over 40 steps, some parameters without "
              "gradient",
              _check("rmsprop.momentum_centered",
                     [(_TorchRMSprop, RMSPROP_MORE, HINT_RMSPROP_MORE + "; " + HINT_SKIP)])),
    CheckSpec("adamw.matches_torch", "AdamWOptimizer",
              "matches torch.optim.AdamW over 30 steps at 4 settings (float32 and float64); accepts lr = 0, "
              "refuses a negative lr, eps or weight_decay and betas outside [0, 1) with ValueError",
              _check("adamw.matches_torch", [(_TorchAdamW, ADAMW, HINT_ADAMW)], _adamw_then)),
    CheckSpec("adamw.shared_timestep", "AdamWOptimizer",
              "one t per step() with parameters that have no gradient (60 steps), then 100 steps against "
              "torch.optim.AdamW",
              _check("adamw.shared_timestep", [(_ClosedFormAdamW, ADAMW_SHARED_T, HINT_ADAMW_T),
                                               (_TorchAdamW, ADAMW_MANY, HINT_ADAMW)])),
    CheckSpec("lion.matches_paper", "LionOptimizer",
              "matches the Lion update of Chen et al. (2023) over 30 steps at 4 settings (float32 and float64), "
              "sign(0) = 0 included; refuses betas outside [0, 1) and a negative lr or weight_decay with "
              "ValueError",
              _check("lion.matches_paper", [(_ClosedFormLion, LION, HINT_LION)], _lion_then)),
    CheckSpec("lion.no_grad_many_steps", "LionOptimizer",
              "matches Lion over 100 steps with weight decay and parameters that have no gradient",
              _check("lion.no_grad_many_steps", [(_ClosedFormLion, LION_MORE, HINT_LION + "; " + HINT_SKIP)])),
    CheckSpec("lamb.matches_paper", "LAMBOptimizer",
              "matches LAMB (You et al., 2020, Algorithm 2) over 20-30 steps at 4 settings (float32 and float64) "
              "and with its defaults; accepts lr = 0, refuses a negative lr, eps or weight_decay and betas outside "
              "[0, 1) with ValueError",
              _check("lamb.matches_paper", [(_ClosedFormLAMB, LAMB, HINT_LAMB)], _lamb_then)),
    CheckSpec("lamb.trust_ratio_edges", "LAMBOptimizer",
              "trust ratio 1 for a zero-initialised parameter and for r = 0 (zero gradients), one shared t, "
              "parameters without gradient skipped",
              _check("lamb.trust_ratio_edges", [(_ClosedFormLAMB, LAMB_EDGES, HINT_LAMB_EDGES)], _lamb_edges_then)),
]
