"""The reference LAMBOptimizer and LARSOptimizer agree with float64 closed forms of their papers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.lamb import LAMBOptimizer
from course_lib.lars import LARSOptimizer
from tests.strategies import QUADRATIC_MIN, descend, first_disagreement, quadratic


class ClosedFormLAMB:
    """You et al. (2020), Algorithm 2, in float64 numpy: one trust ratio per tensor, one shared t."""

    def __init__(self, params, lr, betas, eps, weight_decay):
        self.params, self.lr, (self.b1, self.b2), self.eps, self.wd = params, lr, betas, eps, weight_decay
        self.t = 0
        self.m = [np.zeros(p.shape) for p in params]
        self.v = [np.zeros(p.shape) for p in params]

    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad.numpy().astype(np.float64)
            x = p.detach().numpy().astype(np.float64)
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g**2
            r = (m / (1 - self.b1**self.t)) / (np.sqrt(v / (1 - self.b2**self.t)) + self.eps) + self.wd * x
            w_norm, r_norm = np.sqrt(np.sum(x * x)), np.sqrt(np.sum(r * r))
            ratio = w_norm / r_norm if w_norm > 0 and r_norm > 0 else 1.0
            p.data.copy_(torch.from_numpy(x - self.lr * ratio * r))


SETTINGS = [
    dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0),
    dict(lr=0.01, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01),
    dict(lr=0.05, betas=(0.8, 0.9), eps=0.1, weight_decay=0.1),
    dict(lr=0.01, betas=(0.5, 0.6), eps=1e-8, weight_decay=1.0),
]
# Each step moves a tensor by lr·‖θ‖, so float32 rounding compounds; 60 steps keep two correct
# implementations within 1e-5 of each other.
PRECISIONS = [(torch.float64, 200, 1e-9, 1e-12), (torch.float32, 60, 1e-5, 1e-6)]


def sometimes(step, index, count):
    """Parameter i misses its gradient every third step (staggered); the last never has one."""
    return index < count - 1 and (step + index) % 3 != 0


@pytest.mark.parametrize("dtype, steps, rtol, atol", PRECISIONS, ids=["float64", "float32"])
@pytest.mark.parametrize("grad_scale", [1.0, 1e-3])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_lamb_agrees_with_the_closed_form(settings, grad_scale, dtype, steps, rtol, atol):
    found = first_disagreement(lambda p: LAMBOptimizer(p, **settings), lambda p: ClosedFormLAMB(p, **settings),
                               steps=steps, grad_scale=grad_scale, dtype=dtype, rtol=rtol, atol=atol,
                               has_grad=sometimes)
    assert found is None, found


def test_each_tensor_moves_by_lr_times_its_norm():
    gen = torch.Generator().manual_seed(1)
    params = [torch.randn(shape, dtype=torch.float64, generator=gen).requires_grad_(True)
              for shape in ((4, 3), (7,), (2, 2, 2))]
    opt = LAMBOptimizer(params, lr=0.02, weight_decay=0.1)
    for _ in range(30):
        before = [p.detach().clone() for p in params]
        for i, p in enumerate(params):
            p.grad = (10.0 ** i) * torch.randn(p.shape, dtype=torch.float64, generator=gen)
        opt.step()
        for p, b in zip(params, before):
            assert torch.linalg.vector_norm(p.detach() - b).item() == pytest.approx(
                0.02 * torch.linalg.vector_norm(b).item(), rel=1e-12)


def test_zero_parameter_uses_ratio_one_and_frozen_parameter_stays():
    # First step from theta = 0 with g = (3, -4): m_hat = g, v_hat = g², r = sign(g) (eps aside), phi = 1.
    bias = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    frozen = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = LAMBOptimizer([bias, frozen], lr=0.1, eps=0.0, weight_decay=0.5)
    bias.grad = torch.tensor([3.0, -4.0], dtype=torch.float64)
    opt.step()
    assert bias.tolist() == pytest.approx([-0.1, 0.1], abs=1e-15)
    assert frozen.tolist() == [1.0, 1.0, 1.0] and opt.t == 1
    assert not opt.m[1].any() and not opt.v[1].any()


def test_lamb_converges_on_the_quadratic():
    # The step is a fixed fraction lr of ‖θ‖, so the lr must decay for LAMB to settle; with a
    # constant lr it hovers at a distance of order lr·‖θ*‖ from the minimum.
    x = descend(quadratic, lambda p: LAMBOptimizer(p, lr=0.01), [-3.0, 4.0], 3000)
    assert torch.allclose(x, QUADRATIC_MIN, atol=0.1)


class ClosedFormLARS:
    """You, Gitman & Ginsburg (2017) in float64 numpy."""

    def __init__(self, params, lr, momentum, weight_decay, trust_coefficient):
        self.params, self.lr, self.mu, self.wd, self.tau = params, lr, momentum, weight_decay, trust_coefficient
        self.b = [np.zeros(p.shape) for p in params]

    def step(self):
        for p, b in zip(self.params, self.b):
            if p.grad is None:
                continue
            g = p.grad.numpy().astype(np.float64)
            x = p.detach().numpy().astype(np.float64)
            w_norm, g_norm = np.linalg.norm(x), np.linalg.norm(g)
            ratio = self.tau * w_norm / (g_norm + self.wd * w_norm) if w_norm > 0 and g_norm > 0 else 1.0
            b[...] = self.mu * b + self.lr * ratio * (g + self.wd * x)
            p.data.copy_(torch.from_numpy(x - b))


@pytest.mark.parametrize("settings", [
    dict(lr=1.0, momentum=0.9, weight_decay=0.0, trust_coefficient=0.001),
    dict(lr=5.0, momentum=0.0, weight_decay=1e-4, trust_coefficient=0.01),
    dict(lr=0.5, momentum=0.5, weight_decay=0.1, trust_coefficient=0.02),
], ids=str)
def test_lars_agrees_with_the_closed_form(settings):
    found = first_disagreement(lambda p: LARSOptimizer(p, **settings), lambda p: ClosedFormLARS(p, **settings),
                               steps=150, has_grad=sometimes, rtol=1e-9, atol=1e-12)
    assert found is None, found


@pytest.mark.parametrize("cls, kwargs, message", [
    (LAMBOptimizer, dict(lr=-0.1), "lr must be >= 0, got -0.1"),
    (LAMBOptimizer, dict(eps=-1e-3), "eps must be >= 0, got -0.001"),
    (LAMBOptimizer, dict(weight_decay=-0.01), "weight_decay must be >= 0, got -0.01"),
    (LAMBOptimizer, dict(betas=(0.9, 1.0)), r"betas\[1\] must be in \[0.0, 1.0\), got 1.0"),
    (LARSOptimizer, dict(lr=-1.0), "lr must be >= 0, got -1.0"),
    (LARSOptimizer, dict(momentum=-0.9), "momentum must be >= 0, got -0.9"),
    (LARSOptimizer, dict(weight_decay=-0.1), "weight_decay must be >= 0, got -0.1"),
    (LARSOptimizer, dict(trust_coefficient=0.0), "trust_coefficient must be > 0, got 0.0"),
])
def test_bad_arguments_raise_value_error(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls([torch.zeros(2, requires_grad=True)], **kwargs)
