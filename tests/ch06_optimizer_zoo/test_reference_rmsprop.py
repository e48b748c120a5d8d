"""The reference RMSpropOptimizer agrees with torch.optim.RMSprop in every variant and converges."""
from __future__ import annotations

import pytest
import torch

from course_lib.rmsprop import RMSpropOptimizer
from tests.strategies import QUADRATIC_MIN, ROSENBROCK_MIN, descend, first_disagreement, quadratic, rosenbrock

VARIANTS = [
    dict(momentum=0.0, centered=False),
    dict(momentum=0.9, centered=False),
    dict(momentum=0.0, centered=True),
    dict(momentum=0.5, centered=True),
]
# eps = 0.1 with gradients of size 1e-3 makes the position of eps decide the step.
SETTINGS = [
    dict(lr=0.01, alpha=0.99, eps=1e-8, grad_scale=1.0),
    dict(lr=0.001, alpha=0.5, eps=1e-6, grad_scale=100.0),
    dict(lr=0.01, alpha=0.9, eps=0.1, grad_scale=1e-3),
]
# float32 rounding accumulates over the steps to about 1e-6 of the parameters' size.
PRECISIONS = [(torch.float64, 1e-9, 1e-12), (torch.float32, 1e-5, 1e-5)]


def sometimes(step, index, count):
    """Parameter i misses its gradient every third step (staggered); the last never has one."""
    return index < count - 1 and (step + index) % 3 != 0


@pytest.mark.parametrize("dtype, rtol, atol", PRECISIONS, ids=["float64", "float32"])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_agrees_with_torch_rmsprop(variant, settings, dtype, rtol, atol):
    hyper = {k: v for k, v in settings.items() if k != "grad_scale"} | variant
    found = first_disagreement(lambda p: RMSpropOptimizer(p, **hyper),
                               lambda p: torch.optim.RMSprop(p, **hyper, foreach=False),
                               steps=150, grad_scale=settings["grad_scale"], dtype=dtype, rtol=rtol, atol=atol,
                               has_grad=sometimes)
    assert found is None, found


@pytest.mark.parametrize("dtype, rtol, atol", PRECISIONS, ids=["float64", "float32"])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_short_memory_agrees_with_torch(momentum, alpha, dtype, rtol, atol):
    # Centred with alpha near 0, s - mean² cancels (a variance from one or two samples), so float32 runs
    # of two correct implementations part ways: the short memory is compared without centring.
    hyper = dict(lr=0.01, alpha=alpha, eps=1e-8, momentum=momentum)
    found = first_disagreement(lambda p: RMSpropOptimizer(p, **hyper),
                               lambda p: torch.optim.RMSprop(p, **hyper, foreach=False),
                               steps=150, dtype=dtype, rtol=rtol, atol=atol, has_grad=sometimes)
    assert found is None, found


def test_state_matches_torch_and_frozen_parameters_stay():
    hyper = dict(lr=0.01, alpha=0.9, eps=1e-8, momentum=0.9, centered=True)
    gen = torch.Generator().manual_seed(3)
    ours = torch.randn(4, 3, dtype=torch.float64, generator=gen).requires_grad_(True)
    theirs = ours.detach().clone().requires_grad_(True)
    frozen = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt, oracle = RMSpropOptimizer([ours, frozen], **hyper), torch.optim.RMSprop([theirs], **hyper)
    for _ in range(20):
        g = torch.randn(4, 3, dtype=torch.float64, generator=gen)
        ours.grad, theirs.grad = g.clone(), g.clone()
        opt.step()
        oracle.step()
    state = oracle.state[theirs]
    assert torch.allclose(opt.square_avg[0], state["square_avg"], rtol=1e-12)
    assert torch.allclose(opt.grad_avg[0], state["grad_avg"], rtol=1e-12)
    assert torch.allclose(opt.momentum_buffer[0], state["momentum_buffer"], rtol=1e-12)
    assert frozen.tolist() == [1.0, 1.0]
    assert not opt.square_avg[1].any() and not opt.grad_avg[1].any() and not opt.momentum_buffer[1].any()


def test_first_step_by_hand():
    # s = 0.01 * 4 = 0.04, sqrt(s) = 0.2, theta = 1 - 0.01 * 2 / (0.2 + 1e-8)
    p = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = RMSpropOptimizer([p], lr=0.01)
    p.grad = torch.tensor([2.0], dtype=torch.float64)
    opt.step()
    assert opt.square_avg[0].item() == pytest.approx(0.04, rel=1e-15)
    assert p.item() == pytest.approx(1 - 0.02 / (0.2 + 1e-8), rel=1e-14)


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_converges_on_the_test_problems(variant):
    x = descend(quadratic, lambda p: RMSpropOptimizer(p, lr=0.01, **variant), [-3.0, 4.0], 2000)
    assert torch.allclose(x, QUADRATIC_MIN, atol=0.02)
    x = descend(rosenbrock, lambda p: RMSpropOptimizer(p, lr=0.001, **variant), [-1.2, 1.0], 5000)
    assert torch.allclose(x, ROSENBROCK_MIN, atol=0.05)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-0.1), "lr must be >= 0, got -0.1"),
    (dict(eps=-1e-3), "eps must be >= 0, got -0.001"),
    (dict(momentum=-0.5), "momentum must be >= 0, got -0.5"),
    (dict(alpha=1.0), r"alpha must be in \[0.0, 1.0\), got 1.0"),
    (dict(alpha=-0.1), r"alpha must be in \[0.0, 1.0\), got -0.1"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RMSpropOptimizer([torch.zeros(2, requires_grad=True)], **kwargs)
