"""The reference AdamOptimizer and AdamWOptimizer agree with torch.optim and converge."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.adam import AdamOptimizer, AdamWOptimizer
from tests.strategies import (
    QUADRATIC_MIN,
    ROSENBROCK_MIN,
    descend,
    first_disagreement,
    quadratic,
    rosenbrock,
)

# grad_scale 1e-3 makes v ~ 1e-6, where eps = 1e-3 decides the step: this setting
# tells eps outside the square root from eps inside it.
SETTINGS = [
    dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, grad_scale=1.0),
    dict(lr=0.1, betas=(0.5, 0.9), eps=1e-8, grad_scale=10.0),
    dict(lr=0.01, betas=(0.9, 0.999), eps=1e-3, grad_scale=1e-3),
]


def split(settings):
    hyper = {k: v for k, v in settings.items() if k != "grad_scale"}
    return hyper, settings["grad_scale"]


def adam_disagreement(cls, settings, oracle=torch.optim.Adam, **extra):
    hyper, scale = split(settings)
    return first_disagreement(
        lambda params: cls(params, **hyper, **extra),
        lambda params: oracle(params, **hyper, **extra),
        grad_scale=scale,
    )


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_agrees_with_torch_adam(settings):
    assert adam_disagreement(AdamOptimizer, settings) is None


@pytest.mark.parametrize("weight_decay", [0.01, 0.5])
@pytest.mark.parametrize("settings", SETTINGS[:2], ids=str)
def test_adamw_agrees_with_torch_adamw(settings, weight_decay):
    found = adam_disagreement(AdamWOptimizer, settings, torch.optim.AdamW, weight_decay=weight_decay)
    assert found is None


class NumpyAdam:
    """Closed-form Adam in numpy with ONE step count shared by all parameters."""

    def __init__(self, params, lr, betas, eps):
        self.params, self.lr, (self.b1, self.b2), self.eps = params, lr, betas, eps
        self.t = 0
        self.m = [np.zeros(p.shape) for p in params]
        self.v = [np.zeros(p.shape) for p in params]

    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad.numpy()
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g**2
            m_hat = m / (1 - self.b1**self.t)
            v_hat = v / (1 - self.b2**self.t)
            x = p.detach().numpy()  # shares memory with p
            x -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def sometimes(step, index, count):
    """Parameter i misses its gradient every third step (staggered); the last never has one."""
    return index < count - 1 and (step + index) % 3 != 0


def shared_t_disagreement(make_ours, settings):
    hyper, scale = split(settings)
    return first_disagreement(make_ours, lambda params: NumpyAdam(params, **hyper),
                              grad_scale=scale, has_grad=sometimes)


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_missing_gradients_share_one_step_count(settings):
    hyper, _ = split(settings)
    assert shared_t_disagreement(lambda params: AdamOptimizer(params, **hyper), settings) is None


def test_numpy_oracle_agrees_with_torch_when_every_parameter_has_a_gradient():
    hyper, scale = split(SETTINGS[1])
    assert first_disagreement(lambda params: NumpyAdam(params, **hyper),
                              lambda params: torch.optim.Adam(params, **hyper), grad_scale=scale) is None


def test_torch_counts_steps_per_parameter():
    """Why torch cannot be the oracle when gradients are missing: it keeps a step per parameter."""
    hyper, _ = split(SETTINGS[1])
    assert shared_t_disagreement(lambda params: torch.optim.Adam(params, **hyper), SETTINGS[1]) is not None


class NoBiasCorrection(AdamOptimizer):
    @torch.no_grad()
    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is not None:
                m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)
                v.mul_(self.beta2).add_(p.grad**2, alpha=1 - self.beta2)
                p.add_(m / (v.sqrt() + self.eps), alpha=-self.lr)


class EpsInsideSqrt(AdamOptimizer):
    @torch.no_grad()
    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is not None:
                m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)
                v.mul_(self.beta2).add_(p.grad**2, alpha=1 - self.beta2)
                m_hat, v_hat = m / (1 - self.beta1**self.t), v / (1 - self.beta2**self.t)
                p.add_(m_hat / torch.sqrt(v_hat + self.eps), alpha=-self.lr)


class StepCountPerParameter(AdamOptimizer):
    """Counts steps per parameter, like torch: differs only when gradients go missing."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.counts = [0] * len(self.params)

    @torch.no_grad()
    def step(self):
        self.t += 1
        for i, (p, m, v) in enumerate(zip(self.params, self.m, self.v)):
            if p.grad is not None:
                self.counts[i] += 1
                t = self.counts[i]
                m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)
                v.mul_(self.beta2).add_(p.grad**2, alpha=1 - self.beta2)
                m_hat, v_hat = m / (1 - self.beta1**t), v / (1 - self.beta2**t)
                p.add_(m_hat / (v_hat.sqrt() + self.eps), alpha=-self.lr)


class CoupledWeightDecay(AdamWOptimizer):
    """Wrong AdamW: L2 regularisation added to the gradient (Adam with weight_decay)."""

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.add_(p, alpha=self.weight_decay)
        AdamOptimizer.step(self)


@pytest.mark.parametrize("broken, settings", [
    (NoBiasCorrection, SETTINGS[0]),
    (NoBiasCorrection, SETTINGS[1]),
    (EpsInsideSqrt, SETTINGS[2]),
], ids=str)
def test_agreement_check_catches_wrong_adam(broken, settings):
    assert adam_disagreement(broken, settings) is not None


def test_shared_step_check_catches_per_parameter_counts():
    hyper, _ = split(SETTINGS[1])
    make = lambda params: StepCountPerParameter(params, **hyper)  # noqa: E731
    assert first_disagreement(make, lambda params: torch.optim.Adam(params, **hyper)) is None
    assert shared_t_disagreement(make, SETTINGS[1]) is not None


def test_agreement_check_catches_coupled_weight_decay():
    assert adam_disagreement(CoupledWeightDecay, SETTINGS[0], torch.optim.AdamW, weight_decay=0.1) is not None


def test_first_step_moves_every_entry_by_lr():
    """With bias correction the first step is lr * g / (|g| + eps), about lr in magnitude."""
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = AdamOptimizer([p], lr=0.1, eps=0.0)
    p.grad = torch.tensor([5.0, -1e-4, 2.0], dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([-0.1, 0.1, -0.1], dtype=torch.float64))
    assert opt.t == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_state_attributes_dtype_and_missing_grads(dtype):
    a = torch.ones(3, dtype=dtype, requires_grad=True)
    b = torch.ones(2, 2, dtype=dtype, requires_grad=True)
    opt = AdamOptimizer([a, b], lr=0.1)
    assert opt.t == 0
    assert [m.shape for m in opt.m] == [a.shape, b.shape] == [v.shape for v in opt.v]
    opt.step()  # no gradient at all: the step count still advances
    assert opt.t == 1 and torch.equal(a.detach(), torch.ones(3, dtype=dtype))
    a.grad = torch.ones_like(a)
    opt.step()
    assert opt.t == 2
    assert a.is_leaf and a.requires_grad and a.dtype == dtype and opt.m[0].dtype == dtype
    assert torch.equal(b.detach(), torch.ones(2, 2, dtype=dtype))
    assert torch.equal(opt.m[1], torch.zeros(2, 2, dtype=dtype))
    assert torch.equal(opt.v[1], torch.zeros(2, 2, dtype=dtype))


@pytest.mark.parametrize("cls", [AdamOptimizer, AdamWOptimizer])
def test_reaches_the_minimum_of_a_quadratic(cls):
    extra = {"weight_decay": 0.0} if cls is AdamWOptimizer else {}
    x = descend(quadratic, lambda p: cls(p, lr=0.05, **extra), [-3.0, 4.0], 1000)
    torch.testing.assert_close(x, QUADRATIC_MIN, atol=1e-4, rtol=0)


def test_gets_close_on_rosenbrock():
    x = descend(rosenbrock, lambda p: AdamOptimizer(p, lr=0.02), [-1.2, 1.0], 3000)
    assert torch.linalg.vector_norm(x - ROSENBROCK_MIN) < 5e-3


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), r"lr must be >= 0, got -0\.1"),
    (dict(betas=(1.0, 0.999)), r"betas\[0\] must be in \[0\.0, 1\.0\), got 1\.0"),
    (dict(betas=(0.9, -0.1)), r"betas\[1\] must be in \[0\.0, 1\.0\), got -0\.1"),
    (dict(betas=(0.9,)), r"betas must be a pair"),
    (dict(eps=-1e-8), r"eps must be >= 0, got -1e-08"),
])
def test_bad_arguments_raise(kwargs, match):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        AdamOptimizer([p], **kwargs)


def test_bad_weight_decay_raises():
    with pytest.raises(ValueError, match=r"weight_decay must be >= 0, got -0\.01"):
        AdamWOptimizer([torch.zeros(2, requires_grad=True)], weight_decay=-0.01)
