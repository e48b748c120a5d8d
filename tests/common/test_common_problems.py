"""2-D test problems: gradients, minima and curvature against independent computations."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from course_lib.problems import (
    ALL_PROBLEMS,
    Problem,
    get_problem,
    himmelblau,
    quadratic,
    quadratic_matrix,
    rosenbrock,
    saddle,
)

FACTORIES = {
    **ALL_PROBLEMS,
    "quadratic_rotated": lambda: quadratic(10.0, 0.7),
    "rosenbrock_a2_b50": lambda: rosenbrock(a=2.0, b=50.0),
}
PROBLEMS = [pytest.param(make, id=name) for name, make in FACTORIES.items()]


def _random_points(problem: Problem, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    (x_min, x_max), (y_min, y_max) = problem.bounds
    return np.column_stack([rng.uniform(x_min, x_max, n), rng.uniform(y_min, y_max, n)])


def _python_value(problem: Problem, x: float, y: float) -> float:
    return float(problem.f(torch.tensor([x, y], dtype=torch.float64)))


@pytest.mark.parametrize("make", PROBLEMS)
def test_gradient_matches_central_difference(make):
    problem = make()
    h = 1e-6
    for x, y in _random_points(problem, 8, seed=1):
        g = problem.grad(torch.tensor([x, y], dtype=torch.float64)).numpy()
        fd = np.array([
            (_python_value(problem, x + h, y) - _python_value(problem, x - h, y)) / (2 * h),
            (_python_value(problem, x, y + h) - _python_value(problem, x, y - h)) / (2 * h),
        ])
        scale = max(1.0, abs(_python_value(problem, x, y)))
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("make", PROBLEMS)
def test_minima_have_min_value_zero_gradient_and_psd_hessian(make):
    problem = make()
    assert problem.minima
    for point in problem.minima:
        x = torch.tensor(point, dtype=torch.float64)
        assert float(problem.value(x)) == pytest.approx(problem.min_value, abs=1e-9 * max(1.0, abs(problem.min_value)))
        assert float(torch.linalg.vector_norm(problem.grad(x))) < 1e-6
        hessian = torch.autograd.functional.hessian(problem.f, x)
        assert torch.allclose(hessian, hessian.T)
        assert float(torch.linalg.eigvalsh(hessian).min()) > -1e-8


@pytest.mark.parametrize("make", PROBLEMS)
def test_no_grid_point_beats_the_declared_global_minimum(make):
    """A local minimum listed as global, or a wrong min_value, shows up here."""
    problem = make()
    _, _, Z = problem.grid(301)
    assert np.all(np.isfinite(Z))
    assert Z.min() >= problem.min_value - 1e-9 * max(1.0, abs(problem.min_value))


@pytest.mark.parametrize("make", PROBLEMS)
def test_demo_start_and_minima_lie_inside_the_plot_window(make):
    problem = make()
    (x_min, x_max), (y_min, y_max) = problem.bounds
    assert x_min < x_max and y_min < y_max
    for x, y in (problem.x0, *problem.minima):
        assert x_min <= x <= x_max and y_min <= y <= y_max
    assert problem.distance_to_minimum(problem.x0) > 0.1  # the demo has somewhere to go


@pytest.mark.parametrize("make", PROBLEMS)
def test_f_maps_batches_to_batch_shape(make):
    problem = make()
    points = torch.tensor(_random_points(problem, 12, seed=2)).reshape(3, 4, 2)
    values = problem.value(points)
    assert values.shape == (3, 4)
    assert problem.value(points[1, 2]).shape == ()
    assert float(values[1, 2]) == pytest.approx(float(problem.value(points[1, 2])), rel=1e-12)
    grads = problem.grad(points)
    assert grads.shape == (3, 4, 2)
    torch.testing.assert_close(grads[2, 3], problem.grad(points[2, 3]))
    X, Y, Z = problem.grid(7)
    assert X.shape == Y.shape == Z.shape == (7, 7)
    assert Z[2, 5] == pytest.approx(_python_value(problem, X[2, 5], Y[2, 5]), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kappa", [1.0, 4.0, 25.0, 1000.0])
@pytest.mark.parametrize("angle", [0.0, 0.4, -1.2])
def test_quadratic_has_the_requested_condition_number_and_axes(kappa, angle):
    problem = quadratic(kappa, angle)
    hessian = torch.autograd.functional.hessian(problem.f, torch.tensor([0.3, -0.2], dtype=torch.float64))
    eigenvalues, eigenvectors = torch.linalg.eigh(hessian)
    torch.testing.assert_close(eigenvalues, torch.tensor([1.0, kappa], dtype=torch.float64))
    torch.testing.assert_close(hessian, quadratic_matrix(kappa, angle))
    if kappa > 1.0:  # the flat direction is the x-axis rotated by `angle`
        flat = eigenvectors[:, 0]
        assert abs(float(flat @ torch.tensor([math.cos(angle), math.sin(angle)], dtype=torch.float64))) == pytest.approx(1.0)


def test_rosenbrock_minimum_moves_with_a():
    problem = rosenbrock(a=-0.5, b=10.0)
    assert problem.minima == ((-0.5, 0.25),)
    assert float(problem.value(torch.tensor([0.0, 0.0]))) == pytest.approx(0.25)


def test_saddle_has_a_saddle_at_the_origin():
    problem = saddle()
    origin = torch.zeros(2, dtype=torch.float64)
    assert float(torch.linalg.vector_norm(problem.grad(origin))) == 0.0
    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(problem.f, origin))
    torch.testing.assert_close(eigenvalues, torch.tensor([-2.0, 2.0], dtype=torch.float64))


def test_himmelblau_has_four_distinct_minima_and_distance_is_to_the_nearest():
    problem = himmelblau()
    assert len(set(problem.minima)) == 4
    assert problem.distance_to_minimum([3.3, 2.4]) == pytest.approx(0.5)
    assert problem.distance_to_minimum(np.array(problem.minima[2])) == pytest.approx(0.0, abs=1e-12)


def test_value_and_grad_accept_lists_arrays_and_float32():
    problem = rosenbrock()
    expected = torch.tensor([-2 * (1 - 0.5) - 400 * 0.5 * (1 - 0.25), 200 * (1 - 0.25)], dtype=torch.float64)
    torch.testing.assert_close(problem.grad([0.5, 1.0]), expected)
    torch.testing.assert_close(problem.grad(np.array([0.5, 1.0])), expected)
    assert problem.grad(torch.tensor([0.5, 1.0])).dtype == torch.float32
    assert float(problem.value((0.5, 1.0))) == pytest.approx(0.25 + 100 * 0.75**2)


def test_problem_is_frozen():
    problem = quadratic()
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.x0 = (0.0, 0.0)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: quadratic(0.5), ["condition_number", "0.5", ">= 1"]),
        (lambda: quadratic(float("nan")), ["condition_number", "nan"]),
        (lambda: rosenbrock(b=-1.0), ["b", "-1.0", "> 0"]),
        (lambda: get_problem("banana"), ["name", "banana", "rosenbrock"]),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_registry_builds_every_problem():
    for name, make in ALL_PROBLEMS.items():
        assert isinstance(make(), Problem)
        assert get_problem(name).minima == make().minima
