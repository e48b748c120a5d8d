"""The reference ProjectedGD, soft_threshold and project_box agree with their closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from course_lib.projections import ProjectedGD, project_box, soft_threshold
from tests.strategies import (
    QUADRATIC_MIN,
    ROSENBROCK_MIN,
    boxes,
    descend,
    first_disagreement,
    quadratic,
    rosenbrock,
    tensors,
    thresholds,
)

HYPOTHESIS = settings(max_examples=50, deadline=None)


class NumpyProjectedGD:
    """Closed form in numpy, entry by entry: x <- P(x - lr g)."""

    def __init__(self, params, lr, constraint="none", threshold=0.0, box_min=None, box_max=None):
        self.params, self.lr, self.constraint = params, lr, constraint
        self.threshold, self.box_min, self.box_max = threshold, box_min, box_max

    def project(self, x):
        if self.constraint == "l1":
            return np.sign(x) * np.maximum(np.abs(x) - self.threshold, 0.0)
        if self.constraint == "box":
            low = -np.inf if self.box_min is None else self.box_min
            high = np.inf if self.box_max is None else self.box_max
            return np.minimum(np.maximum(x, low), high)
        return x

    def step(self):
        for p in self.params:
            if p.grad is not None:
                x = p.detach().numpy()  # shares memory with p
                x[...] = self.project(x - self.lr * p.grad.numpy())


SETTINGS = [
    dict(lr=0.1, constraint="none"),
    dict(lr=0.1, constraint="l1", threshold=0.05),
    dict(lr=0.5, constraint="l1", threshold=0.3),
    dict(lr=0.1, constraint="box", box_min=-0.5, box_max=0.7),
    dict(lr=0.1, constraint="box", box_min=None, box_max=0.2),
    dict(lr=0.1, constraint="box", box_min=-0.1, box_max=None),
]


@pytest.mark.parametrize("config", SETTINGS, ids=str)
def test_agrees_with_closed_form(config):
    ours = lambda params: ProjectedGD(params, **config)  # noqa: E731
    oracle = lambda params: NumpyProjectedGD(params, **config)  # noqa: E731
    assert first_disagreement(ours, oracle) is None


def test_no_constraint_agrees_with_torch_sgd():
    assert first_disagreement(lambda p: ProjectedGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)) is None


class ThresholdTimesLr(ProjectedGD):
    """Wrong: shrinks by lr * threshold instead of threshold."""

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-self.lr)
                p.copy_(self.soft_threshold(p, self.lr * self.threshold))


class ProjectBeforeStep(ProjectedGD):
    """Wrong: projects first, then takes the gradient step (can leave the box)."""

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.copy_(self.project_box(p, self.box_min, self.box_max))
                p.add_(p.grad, alpha=-self.lr)


@pytest.mark.parametrize("broken, config", [
    (ThresholdTimesLr, SETTINGS[1]),
    (ThresholdTimesLr, SETTINGS[2]),
    (ProjectBeforeStep, SETTINGS[3]),
], ids=str)
def test_agreement_check_catches_wrong_projection(broken, config):
    wrong = lambda params: broken(params, **config)  # noqa: E731
    assert first_disagreement(wrong, lambda params: NumpyProjectedGD(params, **config)) is not None


def test_soft_threshold_by_hand():
    x = torch.tensor([2.0, 0.5, 0.3, -0.4, -1.0, 0.0])
    out = soft_threshold(x, 0.5)
    assert torch.equal(out, torch.tensor([1.5, 0.0, 0.0, 0.0, -0.5, 0.0]))
    assert torch.equal(x, torch.tensor([2.0, 0.5, 0.3, -0.4, -1.0, 0.0]))  # input untouched
    assert torch.equal(ProjectedGD([x]).soft_threshold(x, 0.5), out)


def test_project_box_by_hand():
    x = torch.tensor([5.0, 0.0, -3.0, 2.0])
    assert torch.equal(project_box(x, -1.0, 3.0), torch.tensor([3.0, 0.0, -1.0, 2.0]))
    assert torch.equal(project_box(x, None, 1.0), torch.tensor([1.0, 0.0, -3.0, 1.0]))
    assert torch.equal(project_box(x, 0.0, None), torch.tensor([5.0, 0.0, 0.0, 2.0]))
    unbounded = project_box(x, None, None)
    assert torch.equal(unbounded, x) and unbounded.data_ptr() != x.data_ptr()
    assert torch.equal(ProjectedGD([x]).project_box(x, -1.0, 3.0), torch.tensor([3.0, 0.0, -1.0, 2.0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_updates_in_place_keeps_leaf_dtype_and_skips_missing_grads(dtype):
    a = torch.tensor([1.0, -1.0, 0.05], dtype=dtype, requires_grad=True)
    b = torch.full((2,), 9.0, dtype=dtype, requires_grad=True)
    opt = ProjectedGD([a, b], lr=0.5, constraint="box", box_min=-0.5, box_max=0.5)
    a.grad = torch.ones_like(a)
    storage = a.data_ptr()
    opt.step()
    assert a.is_leaf and a.requires_grad and a.dtype == dtype and a.data_ptr() == storage
    assert torch.equal(a.detach(), torch.tensor([0.5, -0.5, -0.45], dtype=dtype))
    assert torch.equal(b.detach(), torch.full((2,), 9.0, dtype=dtype))  # no gradient: left alone


# ---------------------------------------------------------------- convergence

def test_l1_reaches_the_lasso_solution():
    """min 1/2 sum a_i (x_i - c_i)^2 + lam |x|_1 has the solution sign(c) max(|c| - lam/a, 0);
    proximal gradient descent gets there with threshold = lr * lam."""
    a = torch.tensor([1.0, 2.0, 4.0, 1.0], dtype=torch.float64)
    c = torch.tensor([3.0, -0.2, 1.0, 0.5], dtype=torch.float64)
    lam, lr = 0.8, 0.2
    x = descend(lambda x: 0.5 * (a * (x - c) ** 2).sum(),
                lambda p: ProjectedGD(p, lr=lr, constraint="l1", threshold=lr * lam), [0.0] * 4, 200)
    expected = torch.sign(c) * torch.clamp(c.abs() - lam / a, min=0)  # (2.2, 0, 0.8, 0)
    torch.testing.assert_close(x, expected, atol=1e-10, rtol=0)
    assert (x == 0).sum() == 2  # exact zeros, not small numbers


def test_box_reaches_the_constrained_minimum_of_a_quadratic():
    """Separable quadratic: the minimum over the box is the clamped unconstrained minimum."""
    c = torch.tensor([2.0, -3.0, 0.1], dtype=torch.float64)
    x = descend(lambda x: ((x - c) ** 2).sum(),
                lambda p: ProjectedGD(p, lr=0.1, constraint="box", box_min=-1.0, box_max=1.0), [0.0] * 3, 200)
    torch.testing.assert_close(x, torch.tensor([1.0, -1.0, 0.1], dtype=torch.float64), atol=1e-10, rtol=0)


def test_reaches_the_minimum_of_a_quadratic():
    make = lambda p: ProjectedGD(p, lr=0.2, constraint="box", box_min=-5.0, box_max=5.0)  # noqa: E731
    x = descend(quadratic, make, [-3.0, 4.0], 300)
    torch.testing.assert_close(x, QUADRATIC_MIN, atol=1e-6, rtol=0)


def test_gets_close_on_rosenbrock():
    make = lambda p: ProjectedGD(p, lr=1.8e-3, constraint="box", box_min=-2.0, box_max=2.0)  # noqa: E731
    x = descend(rosenbrock, make, [-1.2, 1.0], 4000)
    assert torch.linalg.vector_norm(x - ROSENBROCK_MIN) < 0.1


# ---------------------------------------------------------------- properties

@HYPOTHESIS
@given(tensors(), thresholds, thresholds)
def test_soft_threshold_composes_and_keeps_its_zeros(x, tau, sigma):
    """Soft thresholding is a proximal map, not a projection: applied twice it shrinks
    twice, S_sigma(S_tau(x)) = S_(tau + sigma)(x), and its zeros stay zero."""
    once = soft_threshold(x, tau)
    twice = soft_threshold(once, sigma)
    torch.testing.assert_close(twice, soft_threshold(x, tau + sigma), rtol=0, atol=1e-12 * (1 + x.abs().max()))
    assert torch.all(twice[once == 0] == 0)
    assert torch.equal(soft_threshold(once, 0.0), once)  # S_0 is the identity


@HYPOTHESIS
@given(tensors(), thresholds)
def test_soft_threshold_shrinks_by_exactly_threshold_or_to_zero(x, tau):
    out = soft_threshold(x, tau)
    big = x.abs() > tau
    torch.testing.assert_close(out.abs()[big], x.abs()[big] - tau, rtol=0, atol=1e-12 * (1 + x.abs().max()))
    assert torch.all(out[~big] == 0)
    assert torch.all(torch.sign(out[big]) == torch.sign(x[big]))
    assert out.dtype == x.dtype and out.shape == x.shape


@HYPOTHESIS
@given(tensors(), boxes())
def test_project_box_is_idempotent_and_lands_in_the_box(x, box):
    low, high = box
    once = project_box(x, low, high)
    assert torch.equal(project_box(once, low, high), once)
    if low is not None:
        assert torch.all(once >= low)
    if high is not None:
        assert torch.all(once <= high)
    inside = torch.ones_like(x, dtype=torch.bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    assert torch.equal(once[inside], x[inside])  # points in the box do not move


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), r"lr must be >= 0, got -0\.1"),
    (dict(constraint="l2"), r"constraint must be one of 'none', 'l1', 'box', got 'l2'"),
    (dict(constraint="l1", threshold=-0.5), r"threshold must be >= 0, got -0\.5"),
    (dict(constraint="box", box_min=1.0, box_max=0.0), r"box_min must be <= box_max, got box_min=1\.0 > box_max=0\.0"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ProjectedGD([torch.zeros(2, requires_grad=True)], **kwargs)


def test_bad_function_arguments_raise():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match=r"threshold must be >= 0, got -1\.0"):
        soft_threshold(x, -1.0)
    with pytest.raises(ValueError, match=r"min_val must be <= max_val, got min_val=2\.0 > max_val=1\.0"):
        project_box(x, 2.0, 1.0)
