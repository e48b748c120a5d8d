"""course_lib.sophia.SophiaOptimizer: Algorithm 3 of Liu et al. (2023), checked by hand."""
from __future__ import annotations

import pytest
import torch

from course_lib.sophia import SophiaOptimizer


def _one_step(theta, grad, hessian, **settings):
    param = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    opt = SophiaOptimizer([param], **settings)
    opt.update_hessian([torch.tensor(hessian, dtype=torch.float64)])
    param.grad = torch.tensor(grad, dtype=torch.float64)
    opt.step()
    return param.detach().tolist(), opt


def test_one_step_by_hand():
    # beta1 = 0.5: m = g / 2; beta2 = 0: h = the estimate; gamma = 1; lr = 0.1; weight decay 0.5.
    # coordinate 0: m/h = 2/4 = 0.5, not clipped; coordinate 1: m/h = 3/1 = 3, clipped to 1;
    # coordinate 2: h < 0, so the denominator is eps and the step is lr * sign(m) = -0.1 (m < 0).
    theta, opt = _one_step([1.0, 1.0, 1.0], [4.0, 6.0, -2.0], [4.0, 1.0, -5.0],
                           lr=0.1, betas=(0.5, 0.0), gamma=1.0, weight_decay=0.5)
    decayed = 1.0 * (1 - 0.1 * 0.5)
    assert theta == pytest.approx([decayed - 0.1 * 0.5, decayed - 0.1, decayed + 0.1], rel=1e-12)
    assert opt.clipped_fraction == pytest.approx(2 / 3)


def test_hessian_is_a_running_average():
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = SophiaOptimizer([param], betas=(0.9, 0.9))
    for estimate in (10.0, 20.0):
        opt.update_hessian([torch.tensor([estimate], dtype=torch.float64)])
    assert opt.hessian[0].item() == pytest.approx(0.9 * 0.1 * 10.0 + 0.1 * 20.0, rel=1e-12)


def test_parameters_without_gradient_are_left_alone():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    opt = SophiaOptimizer([a, b], lr=0.1, weight_decay=0.1)
    a.grad = torch.ones(2)
    opt.step()
    assert b.tolist() == [1.0, 1.0] and opt.exp_avg[1].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": -1.0}, "lr must be >= 0, got -1.0"),
    ({"gamma": 0.0}, "gamma must be > 0, got 0.0"),
    ({"eps": 0.0}, "eps must be > 0, got 0.0"),
    ({"weight_decay": -0.1}, "weight_decay must be >= 0, got -0.1"),
    ({"betas": (1.0, 0.99)}, "betas[0] must be in [0.0, 1.0), got 1.0"),
])
def test_arguments_out_of_range_raise(kwargs, message):
    with pytest.raises(ValueError) as error:
        SophiaOptimizer([torch.zeros(2, requires_grad=True)], **kwargs)
    assert str(error.value) == message


def test_one_estimate_per_parameter():
    opt = SophiaOptimizer([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="estimates must hold one tensor per parameter"):
        opt.update_hessian([])
