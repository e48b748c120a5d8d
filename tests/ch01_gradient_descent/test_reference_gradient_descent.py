"""The reference GradientDescentOptimizer agrees with torch.optim.SGD and converges."""
from __future__ import annotations

import pytest
import torch

from course_lib.gradient_descent import GradientDescentOptimizer
from tests.strategies import (
    QUADRATIC_MIN,
    ROSENBROCK_MIN,
    descend,
    first_disagreement,
    quadratic,
    rosenbrock,
)

SETTINGS = [
    dict(lr=0.1, momentum=0.0, nesterov=False),
    dict(lr=0.05, momentum=0.9, nesterov=False),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.3, momentum=0.5, nesterov=True),
]


def torch_sgd(settings):
    return lambda params: torch.optim.SGD(params, dampening=0.0, **settings)


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_agrees_with_torch_sgd(settings):
    ours = lambda params: GradientDescentOptimizer(params, **settings)  # noqa: E731
    assert first_disagreement(ours, torch_sgd(settings)) is None


class DampenedMomentum(GradientDescentOptimizer):
    """Wrong: v = mu v + (1 - mu) g (an exponential average, torch's dampening=mu)."""

    @torch.no_grad()
    def step(self):
        for p, v in zip(self.params, self.velocities):
            if p.grad is not None:
                v.mul_(self.momentum).add_(p.grad, alpha=1 - self.momentum)
                p.add_(p.grad + self.momentum * v if self.nesterov else v, alpha=-self.lr)


class StaleNesterov(GradientDescentOptimizer):
    """Wrong: the Nesterov direction uses the velocity from before this step."""

    @torch.no_grad()
    def step(self):
        for p, v in zip(self.params, self.velocities):
            if p.grad is not None:
                direction = p.grad + self.momentum * v
                v.mul_(self.momentum).add_(p.grad)
                p.add_(direction if self.nesterov else v, alpha=-self.lr)


@pytest.mark.parametrize("broken, settings", [
    (DampenedMomentum, SETTINGS[1]),
    (DampenedMomentum, SETTINGS[2]),
    (StaleNesterov, SETTINGS[2]),
], ids=str)
def test_agreement_check_catches_wrong_momentum(broken, settings):
    wrong = lambda params: broken(params, **settings)  # noqa: E731
    assert first_disagreement(wrong, torch_sgd(settings)) is not None


def test_one_step_by_hand():
    p = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = GradientDescentOptimizer([p], lr=0.1, momentum=0.9, nesterov=True)
    for grad in ([1.0, 1.0], [2.0, 0.0]):
        p.grad = torch.tensor(grad, dtype=torch.float64)
        opt.step()
    # v1 = (1, 1), p1 = p0 - 0.1 (g1 + 0.9 v1) = (0.81, -2.19)
    # v2 = (2.9, 0.9), p2 = p1 - 0.1 (g2 + 0.9 v2) = (0.81 - 0.461, -2.19 - 0.081)
    torch.testing.assert_close(opt.velocities[0], torch.tensor([2.9, 0.9], dtype=torch.float64))
    torch.testing.assert_close(p.detach(), torch.tensor([0.349, -2.271], dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_updates_in_place_keeps_leaf_dtype_and_skips_missing_grads(dtype):
    a = torch.ones(3, dtype=dtype, requires_grad=True)
    b = torch.ones(2, 2, dtype=dtype, requires_grad=True)
    opt = GradientDescentOptimizer([a, b], lr=0.5, momentum=0.9)
    a.grad = torch.ones_like(a)
    storage = a.data_ptr()
    opt.step()
    assert a.is_leaf and a.requires_grad and a.dtype == dtype and a.data_ptr() == storage
    assert torch.equal(a.detach(), torch.full((3,), 0.5, dtype=dtype))
    assert torch.equal(b.detach(), torch.ones(2, 2, dtype=dtype)) and b.grad is None
    assert [v.shape for v in opt.velocities] == [a.shape, b.shape]
    assert all(v.dtype == dtype for v in opt.velocities)
    opt.zero_grad()
    assert torch.equal(a.grad, torch.zeros_like(a))


def test_plain_sgd_leaves_the_velocities_at_zero():
    p = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt = GradientDescentOptimizer([p], lr=0.5)
    p.grad = torch.tensor([1.0, -2.0], dtype=torch.float64)
    opt.step()
    assert torch.equal(p.detach(), torch.tensor([0.5, 2.0], dtype=torch.float64))
    assert torch.equal(opt.velocities[0], torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("settings", SETTINGS[:3], ids=str)
def test_reaches_the_minimum_of_a_quadratic(settings):
    x = descend(quadratic, lambda p: GradientDescentOptimizer(p, **settings), [-3.0, 4.0], 300)
    torch.testing.assert_close(x, QUADRATIC_MIN, atol=1e-6, rtol=0)


@pytest.mark.parametrize("lr, momentum, nesterov, steps, tol", [
    (1.8e-3, 0.0, False, 4000, 0.1),  # plain GD crawls along the valley
    (1e-3, 0.9, False, 2000, 1e-3),
    (1e-3, 0.9, True, 2000, 1e-3),
])
def test_gets_close_on_rosenbrock(lr, momentum, nesterov, steps, tol):
    make = lambda p: GradientDescentOptimizer(p, lr=lr, momentum=momentum, nesterov=nesterov)  # noqa: E731
    x = descend(rosenbrock, make, [-1.2, 1.0], steps)
    assert torch.linalg.vector_norm(x - ROSENBROCK_MIN) < tol


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), r"lr must be >= 0, got -0\.1"),
    (dict(momentum=-0.5), r"momentum must be >= 0, got -0\.5"),
    (dict(lr=float("nan")), r"lr must be >= 0, got nan"),
])
def test_bad_arguments_raise(kwargs, match):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        GradientDescentOptimizer([p], **kwargs)


def test_empty_params_raise():
    with pytest.raises(ValueError, match="params"):
        GradientDescentOptimizer([])
