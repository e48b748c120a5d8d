"""The reference AdamWOptimizer (graded in chapter 6) agrees with torch.optim.AdamW and a closed form."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.adam import AdamWOptimizer
from tests.strategies import first_disagreement

SETTINGS = [
    dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
    dict(lr=0.1, betas=(0.5, 0.9), eps=1e-8, weight_decay=0.5),
    dict(lr=0.01, betas=(0.9, 0.99), eps=1e-3, weight_decay=0.0),
    dict(lr=0.05, betas=(0.0, 0.0), eps=1e-6, weight_decay=2.0),
]
PRECISIONS = [(torch.float64, 1e-9, 1e-12), (torch.float32, 1e-5, 1e-5)]


@pytest.mark.parametrize("dtype, rtol, atol", PRECISIONS, ids=["float64", "float32"])
@pytest.mark.parametrize("grad_scale", [1.0, 100.0])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_agrees_with_torch_adamw(settings, grad_scale, dtype, rtol, atol):
    found = first_disagreement(lambda p: AdamWOptimizer(p, **settings),
                               lambda p: torch.optim.AdamW(p, **settings, foreach=False),
                               steps=150, grad_scale=grad_scale, dtype=dtype, rtol=rtol, atol=atol)
    assert found is None, found


class ClosedFormAdamW:
    """AdamW in float64 numpy with ONE step count shared by all parameters."""

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
            x = p.detach().numpy().astype(np.float64) * (1 - self.lr * self.wd)
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g**2
            x -= self.lr * (m / (1 - self.b1**self.t)) / (np.sqrt(v / (1 - self.b2**self.t)) + self.eps)
            p.data.copy_(torch.from_numpy(x))


def sometimes(step, index, count):
    """Parameter i misses its gradient every third step (staggered); the last never has one."""
    return index < count - 1 and (step + index) % 3 != 0


@pytest.mark.parametrize("dtype, rtol, atol", PRECISIONS, ids=["float64", "float32"])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_shared_step_count_and_skipped_parameters_match_the_closed_form(settings, dtype, rtol, atol):
    found = first_disagreement(lambda p: AdamWOptimizer(p, **settings), lambda p: ClosedFormAdamW(p, **settings),
                               steps=100, has_grad=sometimes, dtype=dtype, rtol=rtol, atol=atol)
    assert found is None, found


def test_a_parameter_without_gradient_does_not_decay():
    frozen = torch.ones(3, requires_grad=True)
    live = torch.ones(2, requires_grad=True)
    opt = AdamWOptimizer([frozen, live], lr=0.1, weight_decay=0.5)
    for _ in range(5):
        live.grad = torch.ones(2)
        opt.step()
    assert frozen.tolist() == [1.0, 1.0, 1.0]
    assert opt.t == 5


def test_decay_alone_shrinks_by_one_minus_lr_times_lambda_per_step():
    # A zero gradient leaves m = v = 0, so only the decay acts: theta_t = (1 - lr*lambda)^t theta_0.
    p = torch.tensor([2.0, -4.0], dtype=torch.float64, requires_grad=True)
    opt = AdamWOptimizer([p], lr=0.1, weight_decay=0.2)
    for _ in range(10):
        p.grad = torch.zeros(2, dtype=torch.float64)
        opt.step()
    assert torch.allclose(p.detach(), torch.tensor([2.0, -4.0], dtype=torch.float64) * 0.98**10, rtol=1e-14)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-0.1), "lr must be >= 0, got -0.1"),
    (dict(eps=-1e-3), "eps must be >= 0, got -0.001"),
    (dict(weight_decay=-0.01), "weight_decay must be >= 0, got -0.01"),
    (dict(betas=(1.0, 0.999)), r"betas\[0\] must be in \[0.0, 1.0\), got 1.0"),
    (dict(betas=(0.9, -0.1)), r"betas\[1\] must be in \[0.0, 1.0\), got -0.1"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdamWOptimizer([torch.zeros(2, requires_grad=True)], **kwargs)
