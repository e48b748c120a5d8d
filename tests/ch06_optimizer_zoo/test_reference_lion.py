"""The reference LionOptimizer agrees with the authors' lion-pytorch and with the paper's closed form."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from lion_pytorch import Lion

from course_lib.lion import LionOptimizer
from tests.strategies import QUADRATIC_MIN, descend, first_disagreement, quadratic

SETTINGS = [
    dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0),
    dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1),
    dict(lr=0.003, betas=(0.5, 0.9), weight_decay=1.0),
    dict(lr=0.05, betas=(0.95, 0.98), weight_decay=0.0),
    dict(lr=0.02, betas=(0.0, 0.0), weight_decay=0.3),
]
# Every entry moves by exactly lr per step, so float32 runs agree to rounding of the parameters.
PRECISIONS = [(torch.float64, 1e-10, 1e-12), (torch.float32, 1e-5, 1e-6)]


def sometimes(step, index, count):
    """Parameter i misses its gradient every third step (staggered); the last never has one."""
    return index < count - 1 and (step + index) % 3 != 0


@pytest.mark.parametrize("dtype, rtol, atol", PRECISIONS, ids=["float64", "float32"])
@pytest.mark.parametrize("grad_scale", [1.0, 1e-3])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_agrees_with_lion_pytorch(settings, grad_scale, dtype, rtol, atol):
    found = first_disagreement(lambda p: LionOptimizer(p, **settings), lambda p: Lion(p, **settings),
                               steps=200, grad_scale=grad_scale, dtype=dtype, rtol=rtol, atol=atol, has_grad=sometimes)
    assert found is None, found


class ClosedFormLion:
    """Chen et al. (2023), Program 1, in float64 numpy."""

    def __init__(self, params, lr, betas, weight_decay):
        self.params, self.lr, (self.b1, self.b2), self.wd = params, lr, betas, weight_decay
        self.m = [np.zeros(p.shape) for p in params]

    def step(self):
        for p, m in zip(self.params, self.m):
            if p.grad is None:
                continue
            g = p.grad.numpy().astype(np.float64)
            x = p.detach().numpy().astype(np.float64)
            x = x * (1 - self.lr * self.wd) - self.lr * np.sign(self.b1 * m + (1 - self.b1) * g)
            m[...] = self.b2 * m + (1 - self.b2) * g
            p.data.copy_(torch.from_numpy(x))


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_agrees_with_the_closed_form(settings):
    found = first_disagreement(lambda p: LionOptimizer(p, **settings), lambda p: ClosedFormLion(p, **settings),
                               steps=200, has_grad=sometimes, rtol=1e-12, atol=1e-14)
    assert found is None, found


def test_every_entry_moves_by_exactly_lr_without_decay():
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(50, dtype=torch.float64, generator=gen).requires_grad_(True)
    opt = LionOptimizer([p], lr=0.01)
    for _ in range(20):
        before = p.detach().clone()
        p.grad = torch.randn(50, dtype=torch.float64, generator=gen)
        opt.step()
        assert torch.allclose((p.detach() - before).abs(), torch.full((50,), 0.01, dtype=torch.float64), rtol=1e-12)


def test_hand_computed_steps_and_frozen_parameter():
    # g = 2 then -1, betas (0.9, 0.99), lr 0.1, weight decay 0.5 (factor 1 - 0.05 = 0.95):
    #   step 1: c = 0.1*2 > 0 -> theta = 0.95*1 - 0.1 = 0.85;  m = 0.01*2 = 0.02
    #   step 2: c = 0.9*0.02 + 0.1*(-1) = -0.082 < 0 -> theta = 0.95*0.85 + 0.1 = 0.9075;  m = 0.99*0.02 - 0.01 = 0.0098
    p = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    frozen = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt = LionOptimizer([p, frozen], lr=0.1, weight_decay=0.5)
    for g in (2.0, -1.0):
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
    assert p.item() == pytest.approx(0.9075, abs=1e-15)
    assert opt.exp_avg[0].item() == pytest.approx(0.0098, abs=1e-15)
    assert frozen.tolist() == [1.0, 1.0] and opt.exp_avg[1].tolist() == [0.0, 0.0]


def test_converges_to_within_lr_on_the_quadratic():
    # A sign method never settles: it ends oscillating within about lr of the minimum.
    x = descend(quadratic, lambda p: LionOptimizer(p, lr=0.01), [-3.0, 4.0], 3000)
    assert torch.allclose(x, QUADRATIC_MIN, atol=0.05)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-0.1), "lr must be >= 0, got -0.1"),
    (dict(weight_decay=-0.01), "weight_decay must be >= 0, got -0.01"),
    (dict(betas=(1.0, 0.99)), r"betas\[0\] must be in \[0.0, 1.0\), got 1.0"),
    (dict(betas=(0.9, 1.5)), r"betas\[1\] must be in \[0.0, 1.0\), got 1.5"),
    (dict(betas=0.9), r"betas must be a pair \(beta1, beta2\), got 0.9"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LionOptimizer([torch.zeros(2, requires_grad=True)], **kwargs)
