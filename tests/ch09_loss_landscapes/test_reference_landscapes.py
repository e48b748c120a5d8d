"""The chapter-9 reference (course_lib.landscapes) against oracles it did not come from: the torch
generator's stream drawn by hand and normalised in numpy (Li et al.'s net_plotter.py), and numpy
forward passes of small networks in float64 (closed forms); restoration checked with torch.equal."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.checks import builders
from course_lib.landscapes import (filter_normalized_direction, landscape_2d, loss_along_line, loss_surface,
                                   random_direction)

DTYPES = [torch.float32, torch.float64]


def mlp(dtype: torch.dtype, batch_norm: bool, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(4, 6, dtype=dtype)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(6, dtype=dtype))
    layers += [nn.ReLU(), nn.Linear(6, 3, dtype=dtype)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        model[0].weight.mul_(torch.linspace(0.2, 5.0, 6, dtype=dtype)[:, None])  # filters of different sizes
        if batch_norm:
            model[1].running_mean.uniform_(-1, 1)
            model[1].running_var.uniform_(0.5, 3)
            model[1].weight.uniform_(0.5, 2)
            model[1].bias.uniform_(-0.5, 0.5)
    return model


def convnet(dtype: torch.dtype) -> nn.Sequential:
    torch.manual_seed(1)
    return builders.build_convnet({
        "in_channels": 2, "channels": [3, 2], "kernel_size": 3, "image_size": 4, "classes": 3, "dtype":
        {torch.float32: "float32", torch.float64: "float64"}[dtype], "batch_norm": True,
        "weights": [np.random.default_rng(0).standard_normal(s) * (1 + i) for i, s in
                    enumerate(builders.convnet_shapes({"in_channels": 2, "channels": [3, 2], "kernel_size": 3,
                                                       "image_size": 4, "classes": 3, "batch_norm": True})[0])]})


def numpy_direction(model: nn.Module, seed: int) -> list[np.ndarray]:
    """net_plotter.py: get_random_weights (all draws first), then normalize_directions_for_weights
    with norm='filter' and ignore='biasbn', written out in float64."""
    generator = torch.Generator().manual_seed(seed)
    draws = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in model.parameters()]
    out = []
    for d, p in zip(draws, model.parameters()):
        d = d.numpy().astype(np.float64)
        w = p.detach().numpy().astype(np.float64)
        if d.ndim <= 1:
            out.append(np.zeros_like(d))
            continue
        for i in range(d.shape[0]):
            d[i] = d[i] * np.linalg.norm(w[i]) / (np.linalg.norm(d[i]) + 1e-10)
        out.append(d)
    return out


def forward_numpy(model: nn.Sequential, params: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """A float64 forward pass of a Linear/BatchNorm1d(eval)/ReLU stack with the given parameter values."""
    values = iter(params)
    h = x.astype(np.float64)
    for layer in model:
        if isinstance(layer, nn.Linear):
            w, b = next(values), next(values)
            h = h @ w.T + b
        elif isinstance(layer, nn.BatchNorm1d):
            gamma, beta = next(values), next(values)
            mean = layer.running_mean.numpy().astype(np.float64)
            var = layer.running_var.numpy().astype(np.float64)
            h = (h - mean) / np.sqrt(var + layer.eps) * gamma + beta
        elif isinstance(layer, nn.ReLU):
            h = np.maximum(h, 0.0)
    return h


def cross_entropy_numpy(logits: np.ndarray, y: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


def state(model: nn.Module) -> tuple[list[torch.Tensor], list[bool]]:
    return ([t.detach().clone() for t in list(model.parameters()) + list(model.buffers())],
            [m.training for m in model.modules()])


def assert_restored(model: nn.Module, before: tuple[list[torch.Tensor], list[bool]]) -> None:
    tensors, modes = before
    after = list(model.parameters()) + list(model.buffers())
    assert all(torch.equal(a, b) for a, b in zip(after, tensors))
    assert [m.training for m in model.modules()] == modes


# filter_normalized_direction ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", ["mlp", "mlp_bn", "convnet"])
@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_direction_matches_li_et_al(make, dtype, seed) -> None:
    model = {"mlp": lambda: mlp(dtype, False), "mlp_bn": lambda: mlp(dtype, True), "convnet": lambda: convnet(dtype)}[make]()
    before = state(model)
    got = filter_normalized_direction(model, torch.Generator().manual_seed(seed))
    want = numpy_direction(model, seed)
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    assert len(got) == len(want) == len(list(model.parameters()))
    for g, w, p in zip(got, want, model.parameters()):
        assert g.dtype == p.dtype and g.shape == p.shape
        np.testing.assert_allclose(g.numpy(), w, rtol=rtol, atol=1e-7 * (dtype == torch.float32))
        if p.dim() > 1:  # every filter as long as the weights' filter
            np.testing.assert_allclose(g.reshape(len(g), -1).norm(dim=1).numpy(),
                                       p.detach().reshape(len(p), -1).norm(dim=1).numpy(), rtol=max(rtol, 1e-9))
        else:
            assert not g.any()
    assert_restored(model, before)


def test_direction_takes_one_draw_per_parameter_biases_included() -> None:
    model = mlp(torch.float64, True)
    generator = torch.Generator().manual_seed(3)
    filter_normalized_direction(model, generator)
    follow = torch.randn(5, generator=generator, dtype=torch.float64)
    check = torch.Generator().manual_seed(3)
    for p in model.parameters():
        torch.randn(p.shape, generator=check, dtype=p.dtype)
    assert torch.equal(follow, torch.randn(5, generator=check, dtype=torch.float64))


def test_direction_is_filter_wise_not_tensor_wise_and_invariant_to_layer_rescaling() -> None:
    # ReLU networks: W1 -> c W1, b1 -> c b1, W2 -> W2 / c computes the same function; filter-normalised
    # directions rescale with the weights, so the 1-D slice is the same curve (Li et al., section 4).
    model = mlp(torch.float64, False)
    rescaled = mlp(torch.float64, False)
    with torch.no_grad():
        rescaled[0].weight.mul_(10)
        rescaled[0].bias.mul_(10)
        rescaled[2].weight.div_(10)
    x = torch.randn(20, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(1))
    alphas = np.linspace(-1, 1, 9)
    curves = []
    for net in (model, rescaled):
        d = filter_normalized_direction(net, torch.Generator().manual_seed(5))
        theta = [p.detach() for p in net.parameters()]
        curves.append(loss_along_line(net, nn.functional.cross_entropy, x, y, [t - dd for t, dd in zip(theta, d)],
                                      [t + dd for t, dd in zip(theta, d)], (alphas + 1) / 2))
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-10)


def test_random_direction_is_the_graded_direction_with_a_seed() -> None:
    model = mlp(torch.float64, True)
    for a, b in zip(random_direction(model, seed=4), filter_normalized_direction(model, torch.Generator().manual_seed(4))):
        assert torch.equal(a, b)


def test_direction_bad_arguments() -> None:
    with pytest.raises(ValueError, match="generator"):
        filter_normalized_direction(mlp(torch.float64, False), 0)
    with pytest.raises(ValueError, match="model"):
        filter_normalized_direction([torch.zeros(2, 2)], torch.Generator())


# loss_along_line ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_line_against_numpy_forward(dtype, batch_norm, mode) -> None:
    model = mlp(dtype, batch_norm)
    if mode == "eval":
        model.eval()
    elif mode == "mixed":
        model[0].eval()
    rng = np.random.default_rng(1)
    start = [torch.from_numpy(rng.standard_normal(p.shape)).to(dtype) for p in model.parameters()]
    end = [torch.from_numpy(rng.standard_normal(p.shape)).to(dtype) for p in model.parameters()]
    x = torch.from_numpy(rng.standard_normal((16, 4))).to(dtype)
    y = torch.from_numpy(rng.integers(0, 3, 16))
    alphas = [-0.5, 0.0, 0.3, 1.0, 1.7]
    before = state(model)
    got = loss_along_line(model, nn.functional.cross_entropy, x, y, start, end, alphas)
    assert_restored(model, before)
    want = [cross_entropy_numpy(forward_numpy(model, [(1 - a) * s.numpy().astype(np.float64) + a * e.numpy().astype(
        np.float64) for s, e in zip(start, end)], x.numpy()), y.numpy()) for a in alphas]
    assert got.dtype == np.float64 and got.shape == (5,)
    np.testing.assert_allclose(got, want, rtol=1e-12 if dtype == torch.float64 else 2e-6)


def test_line_quadratic_closed_form_for_a_linear_model() -> None:
    # a linear least-squares model: the loss along any line is a parabola in alpha
    model = nn.Linear(3, 1, dtype=torch.float64)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 1))
    ws, bs, we, be = rng.standard_normal((1, 3)), rng.standard_normal(1), rng.standard_normal((1, 3)), rng.standard_normal(1)
    alphas = np.linspace(-2, 3, 11)
    got = loss_along_line(model, nn.functional.mse_loss, torch.from_numpy(x), torch.from_numpy(y),
                          [torch.from_numpy(ws), torch.from_numpy(bs)], [torch.from_numpy(we), torch.from_numpy(be)],
                          alphas)
    r0, r1 = x @ ws.T + bs - y, x @ (we - ws).T + (be - bs)  # residual = r0 + alpha r1
    want = np.mean(r0**2) + 2 * alphas * np.mean(r0 * r1) + alphas**2 * np.mean(r1**2)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_line_restores_after_an_error() -> None:
    model = mlp(torch.float64, True)
    before = state(model)
    theta = [p.detach().clone() for p in model.parameters()]
    calls = []

    def failing(outputs, targets):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return outputs.sum()

    with pytest.raises(RuntimeError, match="boom"):
        loss_along_line(model, failing, torch.zeros(3, 4, dtype=torch.float64), None, theta,
                        [t + 1 for t in theta], [0.0, 0.5, 1.0])
    assert_restored(model, before)


def test_line_bad_arguments() -> None:
    model = mlp(torch.float64, False)
    theta = [p.detach() for p in model.parameters()]
    x, y = torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="end"):
        loss_along_line(model, nn.functional.cross_entropy, x, y, theta, theta[:-1], [0.0])
    with pytest.raises(ValueError, match="alphas"):
        loss_along_line(model, nn.functional.cross_entropy, x, y, theta, theta, [[0.0, 1.0]])


# loss_surface ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_surface_against_numpy_forward_and_orientation(dtype, batch_norm) -> None:
    model = mlp(dtype, batch_norm)
    rng = np.random.default_rng(3)
    d1 = [torch.from_numpy(rng.standard_normal(p.shape)).to(dtype) for p in model.parameters()]
    d2 = [torch.from_numpy(rng.standard_normal(p.shape)).to(dtype) for p in model.parameters()]
    x = torch.from_numpy(rng.standard_normal((12, 4))).to(dtype)
    y = torch.from_numpy(rng.integers(0, 3, 12))
    alphas, betas = [-1.0, 0.0, 0.5], [-0.5, 0.0, 0.25, 1.0, 2.0]
    before = state(model)
    recorded = []

    def loss_fn(outputs, targets):
        recorded.append(torch.is_grad_enabled() and outputs.requires_grad)
        return nn.functional.cross_entropy(outputs, targets)

    Z = loss_surface(model, loss_fn, x, y, d1, d2, alphas, betas)
    assert_restored(model, before)
    assert not any(recorded) and len(recorded) == 15
    theta = [p.detach().numpy().astype(np.float64) for p in model.parameters()]
    assert Z.shape == (5, 3) and Z.dtype == np.float64
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            point = [t + a * u.numpy().astype(np.float64) + b * v.numpy().astype(np.float64)
                     for t, u, v in zip(theta, d1, d2)]
            want = cross_entropy_numpy(forward_numpy(model, point, x.numpy()), y.numpy())
            np.testing.assert_allclose(Z[i, j], want, rtol=1e-12 if dtype == torch.float64 else 5e-6)


def test_surface_centre_is_the_loss_and_agrees_with_landscape_2d() -> None:
    model = mlp(torch.float64, True).eval()
    x = torch.randn(10, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (10,), generator=torch.Generator().manual_seed(0))
    d1 = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    d2 = filter_normalized_direction(model, torch.Generator().manual_seed(2))
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)
    Z = loss_surface(model, nn.functional.cross_entropy, x, y, d1, d2, alphas, betas)
    with torch.no_grad():
        assert Z[1, 2] == pytest.approx(float(nn.functional.cross_entropy(model(x), y)), rel=1e-14)
    old = landscape_2d(model, lambda: nn.functional.cross_entropy(model(x), y), d1, d2, alphas, betas)
    np.testing.assert_allclose(Z, old, rtol=1e-12)


def test_surface_restores_a_convnet_in_train_mode() -> None:
    model = convnet(torch.float32).train()
    before = state(model)
    d = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    x = torch.randn(4, 2, 4, 4)
    Z = loss_surface(model, nn.functional.cross_entropy, x, torch.tensor([0, 1, 2, 0]), d, d, [0.0, 1.0], [0.0])
    assert Z.shape == (1, 2) and np.all(np.isfinite(Z))
    assert_restored(model, before)


def test_surface_bad_arguments() -> None:
    model = mlp(torch.float64, False)
    theta = [p.detach() for p in model.parameters()]
    x, y = torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="direction2"):
        loss_surface(model, nn.functional.cross_entropy, x, y, theta, theta[::-1], [0.0], [0.0])
    with pytest.raises(ValueError, match="betas"):
        loss_surface(model, nn.functional.cross_entropy, x, y, theta, theta, [0.0], [float("nan")])
