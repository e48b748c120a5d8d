"""Small datasets that need no download.

- :func:`load_digits_tensors`: real data, the 8x8 handwritten digits that ship
  inside scikit-learn (1797 images, 10 classes; the UCI optical recognition of
  handwritten digits test set).
- :func:`make_regression_problem`: a *synthetic* least-squares problem with a
  known generating weight vector and a closed-form solution.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["load_digits_tensors", "RegressionProblem", "make_regression_problem"]


def load_digits_tensors(
    test_fraction: float = 0.25, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The scikit-learn digits as standardised torch tensors, split into train and test.

    Each image is flattened to 64 pixel intensities (0 to 16). The split is
    stratified by class. Features are standardised with the *training*
    statistics only, $\\tilde x_j = (x_j - \\mu_j) / \\sigma_j$ (pixels that are
    constant in the training set keep $\\sigma_j = 1$), so nothing about the
    test set leaks into training.

    Args:
        test_fraction: share of the 1797 samples held out, in $(0, 1)$.
        seed: seed of the shuffle before the split.

    Returns:
        ``(X_train, y_train, X_test, y_test)``: float32 features of shape
        ``(n, 64)`` and int64 labels in ``0..9``.
    """
    if not (isinstance(test_fraction, (int, float)) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be in the open interval (0, 1), got {test_fraction}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target,
        test_size=test_fraction,
        random_state=seed,
        stratify=digits.target,
    )
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    X_train = (X_train - mean) / std
    X_test = (X_test - mean) / std
    return (
        torch.tensor(X_train, dtype=torch.float32),
        torch.tensor(y_train, dtype=torch.int64),
        torch.tensor(X_test, dtype=torch.float32),
        torch.tensor(y_test, dtype=torch.int64),
    )


class RegressionProblem(NamedTuple):
    """A synthetic linear regression problem; unpacks as ``X, y, w_true``.

    Attributes:
        X: design matrix, float32, shape ``(n, d)``.
        y: targets $y = X w_{\\text{true}} + \\varepsilon$, float32, shape ``(n,)``.
        w_true: the generating weights, float32, shape ``(d,)``.
    """

    X: Tensor
    y: Tensor
    w_true: Tensor

    def least_squares_solution(self) -> Tensor:
        """The minimiser $w^\\star$ of $\\tfrac{1}{2n}\\lVert Xw - y\\rVert^2$, in float64."""
        X = self.X.to(torch.float64)
        y = self.y.to(torch.float64)
        return torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)

    def loss(self, w: Tensor) -> Tensor:
        """Mean squared error $\\tfrac{1}{2n}\\lVert Xw - y\\rVert^2$ (differentiable in ``w``)."""
        residual = self.X.to(w.dtype) @ w - self.y.to(w.dtype)
        return 0.5 * (residual**2).mean()


def make_regression_problem(
    n: int = 256, d: int = 10, noise: float = 0.1, seed: int = 0
) -> RegressionProblem:
    """A synthetic least-squares problem $y = X w_{\\text{true}} + \\varepsilon$.

    Synthetic data: $X_{ij} \\sim \\mathcal{N}(0, 1)$,
    $w_{\\text{true}} \\sim \\mathcal{N}(0, I_d)$ and
    $\\varepsilon_i \\sim \\mathcal{N}(0, \\sigma^2)$ with $\\sigma$ = ``noise``,
    drawn from a generator seeded with ``seed``.

    Args:
        n: number of samples, >= 1.
        d: number of features, >= 1.
        noise: standard deviation $\\sigma \\ge 0$ of the label noise.
        seed: random seed.

    Returns:
        A :class:`RegressionProblem` ``(X, y, w_true)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y = X @ w_true + noise * rng.standard_normal(n)
    return RegressionProblem(
        X=torch.tensor(X, dtype=torch.float32),
        y=torch.tensor(y, dtype=torch.float32),
        w_true=torch.tensor(w_true, dtype=torch.float32),
    )
