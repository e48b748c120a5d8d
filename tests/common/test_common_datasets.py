"""Datasets: the bundled digits split and standardised correctly; the synthetic regression problem."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from course_lib.datasets import load_digits_tensors, make_regression_problem


@pytest.fixture(scope="module")
def digits():
    return load_digits_tensors()


def test_digits_shapes_dtypes_and_split(digits):
    X_train, y_train, X_test, y_test = digits
    assert X_train.dtype == X_test.dtype == torch.float32
    assert y_train.dtype == y_test.dtype == torch.int64
    assert X_train.shape[1] == X_test.shape[1] == 64
    assert len(X_train) == len(y_train) and len(X_test) == len(y_test)
    assert len(X_train) + len(X_test) == 1797
    assert len(X_test) == pytest.approx(0.25 * 1797, abs=1)
    assert set(y_train.tolist()) == set(y_test.tolist()) == set(range(10))
    # stratified: every class has (nearly) the same share in both parts
    train_share = torch.bincount(y_train, minlength=10) / len(y_train)
    test_share = torch.bincount(y_test, minlength=10) / len(y_test)
    assert torch.allclose(train_share, test_share, atol=0.01)


def test_digits_are_standardised_with_training_statistics_only(digits):
    X_train, y_train, X_test, y_test = digits
    assert torch.allclose(X_train.mean(0), torch.zeros(64), atol=1e-5)
    data = load_digits()
    raw_train, raw_test, label_train, label_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0, stratify=data.target
    )
    assert np.array_equal(label_train, y_train.numpy()) and np.array_equal(label_test, y_test.numpy())
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0)
    std[std == 0] = 1.0
    np.testing.assert_allclose(X_train.numpy(), (raw_train - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(X_test.numpy(), (raw_test - mean) / std, rtol=1e-5, atol=1e-5)
    # the test set was not standardised with its own statistics
    assert not torch.allclose(X_test.mean(0), torch.zeros(64), atol=1e-3)
    assert torch.all(torch.isfinite(X_train)) and torch.all(torch.isfinite(X_test))


def test_digits_split_is_deterministic_and_depends_on_the_seed(digits):
    again = load_digits_tensors(seed=0)
    for a, b in zip(digits, again):
        assert torch.equal(a, b)
    other = load_digits_tensors(seed=1)
    assert not torch.equal(digits[1], other[1])
    assert len(load_digits_tensors(test_fraction=0.5)[2]) == pytest.approx(898.5, abs=1)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_digits_rejects_bad_test_fraction(bad):
    with pytest.raises(ValueError, match=f"test_fraction must be in the open interval \\(0, 1\\), got {bad}"):
        load_digits_tensors(test_fraction=bad)


def test_regression_problem_shapes_determinism_and_noise():
    problem = make_regression_problem(n=100, d=5, noise=0.0, seed=3)
    X, y, w_true = problem
    assert X.shape == (100, 5) and y.shape == (100,) and w_true.shape == (5,)
    assert X.dtype == y.dtype == w_true.dtype == torch.float32
    torch.testing.assert_close(y, X @ w_true, rtol=1e-5, atol=1e-5)
    again = make_regression_problem(n=100, d=5, noise=0.0, seed=3)
    assert torch.equal(X, again.X) and torch.equal(y, again.y)
    assert not torch.equal(X, make_regression_problem(n=100, d=5, seed=4).X)


def test_least_squares_solution_solves_the_normal_equations():
    problem = make_regression_problem(n=256, d=10, noise=0.1, seed=0)
    w_star = problem.least_squares_solution()
    X = problem.X.double()
    y = problem.y.double()
    torch.testing.assert_close(X.T @ X @ w_star, X.T @ y, rtol=1e-9, atol=1e-9)
    assert torch.linalg.vector_norm(w_star - problem.w_true.double()) < 0.05
    w = w_star.clone().requires_grad_(True)
    problem.loss(w).backward()
    assert torch.linalg.vector_norm(w.grad) < 1e-10
    assert float(problem.loss(w_star)) == pytest.approx(0.5 * float(((X @ w_star - y) ** 2).mean()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": 0}, "n must be an integer >= 1, got 0"), ({"d": 2.5}, "d must be an integer >= 1, got 2.5"),
     ({"noise": -1.0}, "noise must be a finite number >= 0, got -1.0")],
)
def test_regression_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_regression_problem(**kwargs)
