"""Loss landscapes of a torch model along directions in weight space.

A network's loss $L(\\theta)$ lives in millions of dimensions; we look at
slices through the current weights $\\theta$:

- 1-D: $\\alpha \\mapsto L(\\theta + \\alpha\\,d)$,
- 2-D: $(\\alpha, \\beta) \\mapsto L(\\theta + \\alpha\\,d_1 + \\beta\\,d_2)$,
- between two solutions: $\\alpha \\mapsto L((1 - \\alpha)\\,\\theta_a + \\alpha\\,\\theta_b)$.

Random directions are *filter-normalised* (Li, Xu, Taylor, Studer and
Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018):
each filter $d_{i,j}$ of a Gaussian direction (row $j$ of the weight of layer
$i$) is rescaled to the norm of the matching filter of the weights,

$$d_{i,j} \\leftarrow \\frac{d_{i,j}}{\\lVert d_{i,j} \\rVert}\\,\\lVert \\theta_{i,j} \\rVert,$$

so that a step $\\alpha = 1$ changes every filter by as much as its own size;
without it, the scale invariance of ReLU networks makes plots of different
networks incomparable. One-dimensional parameters (biases, normalisation
scales) get a zero direction, as in the authors' example runs (their code's
``--xignore biasbn`` option).

``loss_fn`` is always a zero-argument callable returning the scalar loss of
the model at its current weights, for example
``lambda: nn.functional.cross_entropy(model(X), y)``. Every function here
restores the model's weights before it returns, also after an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from course_lib.training import torch_threads

__all__ = ["random_direction", "landscape_1d", "landscape_2d", "interpolate"]

LossFn = Callable[[], Tensor | float]


def random_direction(
    model: nn.Module, seed: int = 0, filter_normalize: bool = True
) -> list[Tensor]:
    """A random Gaussian direction in the model's weight space, one tensor per parameter.

    Args:
        model: the model whose ``parameters()`` define the space.
        seed: seed of the Gaussian draw (the global random state is not used).
        filter_normalize: rescale each filter to the norm of the matching
            weight filter and zero the direction of 1-D parameters (see the
            module docstring). When False, the raw Gaussian direction is returned.

    Returns:
        A list of tensors shaped like ``model.parameters()``.
    """
    generator = torch.Generator().manual_seed(seed)
    direction = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        if filter_normalize:
            if p.dim() <= 1:
                d = torch.zeros_like(d)
            else:
                w = p.detach().reshape(p.shape[0], -1)
                d_rows = d.reshape(p.shape[0], -1)
                scale = w.norm(dim=1, keepdim=True) / d_rows.norm(dim=1, keepdim=True)
                d = (d_rows * scale).reshape(p.shape)
        direction.append(d.to(p.device))
    return direction


@contextmanager
def _weights_restored(model: nn.Module) -> Iterator[list[Tensor]]:
    """Yield a copy of the model's weights and put them back on exit, also after an error.

    Evaluates on one torch thread (see :func:`course_lib.training.torch_threads`).
    """
    params = list(model.parameters())
    saved = [p.detach().clone() for p in params]
    try:
        with torch_threads(1):
            yield saved
    finally:
        with torch.no_grad():
            for p, p0 in zip(params, saved):
                p.copy_(p0)


def _loss_value(loss_fn: LossFn) -> float:
    with torch.no_grad():
        return float(loss_fn())


def _check_direction(model: nn.Module, direction: Sequence[Tensor], name: str) -> None:
    shapes = [tuple(p.shape) for p in model.parameters()]
    got = [tuple(d.shape) for d in direction]
    if shapes != got:
        raise ValueError(
            f"{name} must have one tensor per parameter with shapes {shapes}, got {got}"
        )


def landscape_1d(
    model: nn.Module,
    loss_fn: LossFn,
    direction: Sequence[Tensor],
    alphas: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Loss along a line, $L(\\theta + \\alpha\\,d)$ for each $\\alpha$ in ``alphas``.

    Args:
        model: the model, evaluated at its current weights $\\theta$.
        loss_fn: zero-argument callable returning the loss of ``model``.
        direction: $d$, one tensor per parameter (e.g. :func:`random_direction`).
        alphas: the step sizes along $d$.

    Returns:
        Float64 array of shape ``(len(alphas),)``.
    """
    _check_direction(model, direction, "direction")
    values = np.empty(len(alphas), dtype=np.float64)
    with _weights_restored(model) as saved:
        for i, alpha in enumerate(alphas):
            with torch.no_grad():
                for p, p0, d in zip(model.parameters(), saved, direction):
                    p.copy_(p0 + float(alpha) * d)
            values[i] = _loss_value(loss_fn)
    return values


def landscape_2d(
    model: nn.Module,
    loss_fn: LossFn,
    dir1: Sequence[Tensor],
    dir2: Sequence[Tensor],
    alphas: Sequence[float] | np.ndarray,
    betas: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Loss on a plane, $L(\\theta + \\alpha\\,d_1 + \\beta\\,d_2)$.

    Args:
        model: the model, evaluated at its current weights $\\theta$.
        loss_fn: zero-argument callable returning the loss of ``model``.
        dir1, dir2: $d_1, d_2$, one tensor per parameter each.
        alphas: coefficients of ``dir1`` (the horizontal axis of a contour plot).
        betas: coefficients of ``dir2`` (the vertical axis).

    Returns:
        Float64 array of shape ``(len(betas), len(alphas))``; entry ``[j, i]``
        is the loss at ``(alphas[i], betas[j])``, ready for
        ``ax.contour(alphas, betas, values)``.
    """
    _check_direction(model, dir1, "dir1")
    _check_direction(model, dir2, "dir2")
    values = np.empty((len(betas), len(alphas)), dtype=np.float64)
    with _weights_restored(model) as saved:
        for j, beta in enumerate(betas):
            for i, alpha in enumerate(alphas):
                with torch.no_grad():
                    for p, p0, d1, d2 in zip(model.parameters(), saved, dir1, dir2):
                        p.copy_(p0 + float(alpha) * d1 + float(beta) * d2)
                values[j, i] = _loss_value(loss_fn)
    return values


def interpolate(
    model_a: nn.Module, model_b: nn.Module, loss_fn: LossFn, alphas: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Loss between two weight vectors, $L((1-\\alpha)\\,\\theta_a + \\alpha\\,\\theta_b)$.

    The interpolated weights are loaded into ``model_a`` (restored afterwards),
    so ``loss_fn`` must evaluate ``model_a``. $\\alpha = 0$ is ``model_a``,
    $\\alpha = 1$ is ``model_b``; values outside $[0, 1]$ extrapolate.

    Args:
        model_a: the first model; its weights are temporarily overwritten.
        model_b: a model of the same architecture (left unchanged).
        loss_fn: zero-argument callable returning the loss of ``model_a``.
        alphas: interpolation coefficients.

    Returns:
        Float64 array of shape ``(len(alphas),)``.
    """
    weights_b = [p.detach() for p in model_b.parameters()]
    _check_direction(model_a, weights_b, "model_b's parameters")
    # (1 - a) theta_a + a theta_b = theta_a + a (theta_b - theta_a)
    direction = [pb - pa.detach() for pa, pb in zip(model_a.parameters(), weights_b)]
    return landscape_1d(model_a, loss_fn, direction, alphas)
