"""Loss landscapes against closed forms on a least-squares model; weights are always restored."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.landscapes import interpolate, landscape_1d, landscape_2d, random_direction
from course_lib.training import make_mlp


def _least_squares_setup(seed=0):
    """A linear model w -> mean((X w - y)^2), whose landscape is a known quadratic."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = torch.randn(40, generator=g, dtype=torch.float64)
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64))

    def loss_fn():
        return ((model(X).squeeze(1) - y) ** 2).mean()

    def closed_form(w: np.ndarray) -> float:
        return float(np.mean((X.numpy() @ w - y.numpy()) ** 2))

    return model, loss_fn, closed_form


def _flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def test_random_direction_is_filter_normalised():
    model = make_mlp(6, 5, 3, depth=1, seed=0)
    direction = random_direction(model, seed=1)
    for p, d in zip(model.parameters(), direction):
        assert d.shape == p.shape and d.dtype == p.dtype
        if p.dim() == 1:
            assert torch.count_nonzero(d) == 0  # biases are not perturbed
        else:
            torch.testing.assert_close(d.norm(dim=1), p.detach().norm(dim=1))
            assert not torch.allclose(d, p.detach())  # a rescaled random draw, not the weights


def test_random_direction_is_seeded_and_raw_when_not_normalised():
    model = make_mlp(6, 5, 3, depth=1)
    a, b, c = random_direction(model, seed=3), random_direction(model, seed=3), random_direction(model, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    raw = random_direction(model, seed=3, filter_normalize=False)
    assert all(torch.count_nonzero(d) == d.numel() for d in raw)
    assert not torch.allclose(raw[0].norm(dim=1), next(model.parameters()).detach().norm(dim=1))


def test_landscape_1d_matches_the_closed_form_and_restores_weights():
    model, loss_fn, closed_form = _least_squares_setup()
    w0 = _flat(model).numpy()
    d = np.array([0.3, 0.1, -0.7])
    alphas = np.linspace(-2.0, 2.0, 9)
    values = landscape_1d(model, loss_fn, [torch.tensor(d).reshape(1, 3)], alphas)
    assert values.shape == (9,) and values.dtype == np.float64
    np.testing.assert_allclose(values, [closed_form(w0 + a * d) for a in alphas], rtol=1e-12)
    np.testing.assert_array_equal(_flat(model).numpy(), w0)
    assert values[4] == pytest.approx(float(loss_fn().detach()))


def test_landscape_2d_orientation_matches_the_closed_form():
    model, loss_fn, closed_form = _least_squares_setup(seed=1)
    w0 = _flat(model).numpy()
    d1, d2 = np.array([1.0, 0.0, 0.5]), np.array([0.0, -1.0, 0.2])
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-0.5, 1.5, 3)  # unequal lengths catch a transpose
    values = landscape_2d(model, loss_fn, [torch.tensor(d1).reshape(1, 3)], [torch.tensor(d2).reshape(1, 3)],
                          alphas, betas)
    assert values.shape == (3, 5)
    expected = [[closed_form(w0 + a * d1 + b * d2) for a in alphas] for b in betas]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    np.testing.assert_array_equal(_flat(model).numpy(), w0)


def test_weights_are_restored_when_the_loss_raises():
    model, loss_fn, _ = _least_squares_setup()
    w0 = _flat(model)
    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return loss_fn()

    direction = random_direction(model, seed=0, filter_normalize=False)
    with pytest.raises(RuntimeError, match="boom"):
        landscape_1d(model, failing, direction, [0.5, 1.0, 1.5, 2.0])
    assert torch.equal(_flat(model), w0)
    calls.clear()
    with pytest.raises(RuntimeError, match="boom"):
        landscape_2d(model, failing, direction, direction, [0.5, 1.0], [1.0, 2.0])
    assert torch.equal(_flat(model), w0)


def test_interpolate_between_two_models():
    model_a, loss_a, closed_form = _least_squares_setup()
    model_b = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model_b.weight.copy_(torch.tensor([[-1.0, 0.0, 1.0]], dtype=torch.float64))
    wa, wb = _flat(model_a).numpy(), _flat(model_b).numpy()
    alphas = np.array([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5])
    values = interpolate(model_a, model_b, loss_a, alphas)
    np.testing.assert_allclose(values, [closed_form((1 - a) * wa + a * wb) for a in alphas], rtol=1e-12)
    np.testing.assert_array_equal(_flat(model_a).numpy(), wa)
    np.testing.assert_array_equal(_flat(model_b).numpy(), wb)


def test_mismatched_directions_are_rejected():
    model, loss_fn, _ = _least_squares_setup()
    with pytest.raises(ValueError, match="direction must have one tensor per parameter"):
        landscape_1d(model, loss_fn, [torch.zeros(3)], [0.0])
    with pytest.raises(ValueError, match="model_b's parameters"):
        interpolate(model, make_mlp(3, 2, 1), loss_fn, [0.0])
