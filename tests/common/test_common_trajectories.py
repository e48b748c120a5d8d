"""run_optimizer against closed forms of gradient descent on quadratics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.problems import quadratic, quadratic_matrix, rosenbrock
from course_lib.trajectories import Trajectory, get_learning_rate, run_optimizer, set_learning_rate


class PlainGD:
    """The smallest object with the course optimizers' interface: lr attribute, zero_grad, step."""

    def __init__(self, params, lr):
        self.params = list(params)
        self.lr = lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad


def _gd_closed_form(A: np.ndarray, x0: np.ndarray, lrs: list[float]) -> np.ndarray:
    points = [x0]
    for lr in lrs:
        points.append((np.eye(2) - lr * A) @ points[-1])
    return np.array(points)


KAPPA, ANGLE, X0 = 10.0, 0.3, np.array([1.5, -0.8])


def _check_against_closed_form(trajectory: Trajectory, lrs: list[float]) -> None:
    A = quadratic_matrix(KAPPA, ANGLE).numpy()
    expected = _gd_closed_form(A, X0, lrs)
    np.testing.assert_allclose(trajectory.points, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(trajectory.losses, 0.5 * np.einsum("ti,ij,tj->t", expected, A, expected), rtol=1e-12)
    np.testing.assert_allclose(trajectory.grad_norms, np.linalg.norm(expected[:-1] @ A.T, axis=1), rtol=1e-12)


def test_torch_sgd_follows_the_closed_form():
    trajectory = run_optimizer(lambda p: torch.optim.SGD(p, lr=0.05), quadratic(KAPPA, ANGLE), 60, x0=X0)
    assert trajectory.points.shape == (61, 2) and trajectory.losses.shape == (61,) and trajectory.grad_norms.shape == (60,)
    _check_against_closed_form(trajectory, [0.05] * 60)
    assert not trajectory.diverged
    assert trajectory.steps == 60
    np.testing.assert_array_equal(trajectory.final_point, trajectory.points[-1])
    assert trajectory.final_loss == trajectory.losses[-1] < 1e-3 * trajectory.losses[0]


def schedule(t: int) -> float:
    return 0.15 / (1.0 + 0.5 * t)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        pytest.param(lambda p: torch.optim.SGD(p, lr=123.0), id="torch-param-groups"),
        pytest.param(lambda p: PlainGD(p, lr=123.0), id="lr-attribute"),
    ],
)
def test_lr_schedule_is_applied_before_every_step(make_optimizer):
    trajectory = run_optimizer(make_optimizer, quadratic(KAPPA, ANGLE), 25, x0=X0, lr_schedule=schedule)
    _check_against_closed_form(trajectory, [schedule(t) for t in range(25)])


def test_divergence_stops_early_and_keeps_the_finite_part():
    trajectory = run_optimizer(lambda p: torch.optim.SGD(p, lr=1e3), rosenbrock(), 200)
    assert trajectory.diverged
    assert 1 < len(trajectory.points) < 201
    assert len(trajectory.losses) == len(trajectory.points) == len(trajectory.grad_norms) + 1
    assert np.all(np.isfinite(trajectory.points)) and np.all(np.isfinite(trajectory.losses))


def test_default_start_zero_steps_and_untouched_start():
    problem = rosenbrock()
    start = np.array([0.2, 0.3])
    trajectory = run_optimizer(lambda p: torch.optim.SGD(p, lr=1e-3), problem, 0)
    np.testing.assert_array_equal(trajectory.points, [problem.x0])
    assert trajectory.grad_norms.shape == (0,)
    run_optimizer(lambda p: torch.optim.SGD(p, lr=1e-3), problem, 5, x0=start)
    np.testing.assert_array_equal(start, [0.2, 0.3])


def test_optimizer_receives_one_float64_leaf_of_shape_2():
    seen = []

    def make(params):
        seen.extend(params)
        return torch.optim.SGD(params, lr=0.01)

    run_optimizer(make, quadratic(), 1)
    (x,) = seen
    assert x.dtype == torch.float64 and x.shape == (2,) and x.is_leaf and x.requires_grad


def test_lbfgs_gets_a_closure_and_solves_a_quadratic():
    trajectory = run_optimizer(lambda p: torch.optim.LBFGS(p, lr=1.0, max_iter=20), quadratic(25.0, 0.5), 3)
    assert trajectory.final_loss < 1e-12


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        run_optimizer(lambda p: torch.optim.SGD(p, lr=0.1), quadratic(), -1)
    with pytest.raises(ValueError, match="x0 must have shape"):
        run_optimizer(lambda p: torch.optim.SGD(p, lr=0.1), quadratic(), 3, x0=[1.0, 2.0, 3.0])


def test_set_and_get_learning_rate():
    x = torch.zeros(2, requires_grad=True)
    torch_opt = torch.optim.SGD([{"params": [x]}, {"params": [torch.zeros(1, requires_grad=True)]}], lr=0.1)
    set_learning_rate(torch_opt, 0.5)
    assert [g["lr"] for g in torch_opt.param_groups] == [0.5, 0.5]
    assert get_learning_rate(torch_opt) == 0.5
    plain = PlainGD([x], lr=0.1)
    set_learning_rate(plain, 0.25)
    assert plain.lr == get_learning_rate(plain) == 0.25
    with pytest.raises(TypeError, match="neither param_groups nor an lr"):
        set_learning_rate(object(), 0.1)
