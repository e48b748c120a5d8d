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

The three functions of chapter 9 (graded) take the data and a loss
``loss_fn(outputs, targets)`` and evaluate the model in eval mode without
autograd graphs:

- :func:`filter_normalized_direction`: Li et al.'s direction, drawn from a
  ``torch.Generator``, one ``torch.randn`` per parameter in order (biases included),
  $d_i \\leftarrow d_i\\,\\lVert\\theta_i\\rVert / (\\lVert d_i\\rVert + 10^{-10})$ per filter $i$
  (a slice along the first dimension), zeros for parameters of one dimension or none;
- :func:`loss_along_line`: $L((1-\\alpha)\\,\\theta_s + \\alpha\\,\\theta_e)$ (Goodfellow, Vinyals
  and Saxe, "Qualitatively characterizing neural network optimization problems", ICLR 2015);
- :func:`loss_surface`: $Z_{ij} = L(\\theta + \\alpha_j d_1 + \\beta_i d_2)$.

They restore the parameters, the buffers and every module's train/eval flag exactly.

The older helpers (:func:`random_direction`, :func:`landscape_1d`,
:func:`landscape_2d`, :func:`interpolate`) take a zero-argument callable
returning the scalar loss of the model at its current weights, for example
``lambda: nn.functional.cross_entropy(model(X), y)``, and restore the model's
weights before they return, also after an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from course_lib.training import torch_threads

__all__ = ["filter_normalized_direction", "loss_along_line", "loss_surface", "random_direction", "landscape_1d",
           "landscape_2d", "interpolate"]

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
    if filter_normalize:
        return filter_normalized_direction(model, generator)
    return [torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in model.parameters()]


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


# chapter 9: the graded functions ---------------------------------------------------------


def _check_model(model: nn.Module) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> list[Tensor]:
    r"""A filter-normalised Gaussian direction (Li et al., 2018), one tensor per parameter.

    For every parameter $\theta$ of ``model.parameters()``, in order, one draw
    ``d = torch.randn(p.shape, generator=generator, dtype=p.dtype)`` (biases included, so
    that the draws of later layers do not depend on which parameters are ignored). Then:

    - a parameter with one dimension or none (a bias, a normalisation scale): $d = 0$;
    - otherwise every filter $d_i$ (the slice ``d[i]`` along the first dimension: a row
      of a linear layer's weight, an output channel of a convolution) becomes
      $d_i \,\lVert\theta_i\rVert / (\lVert d_i\rVert + 10^{-10})$, Frobenius norms.

    Args:
        model: the model whose parameters define the space (read, never changed).
        generator: the ``torch.Generator`` every draw comes from.

    Returns:
        A list of tensors shaped like the parameters, with their dtypes.

    Raises:
        ValueError: if ``model`` is not an ``nn.Module`` or ``generator`` is not a ``torch.Generator``.
    """
    _check_model(model)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    direction = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype, device=generator.device)
        if p.dim() <= 1:
            d = torch.zeros_like(d)
        else:
            for i in range(p.shape[0]):
                d[i].mul_(p[i].detach().norm() / (d[i].norm() + 1e-10))
        direction.append(d.to(p.device))
    return direction


def _modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    return [(module, module.training) for module in model.modules()]


@contextmanager
def _evaluated_and_restored(model: nn.Module) -> Iterator[list[Tensor]]:
    """Eval mode, no autograd, one torch thread; on exit every parameter, buffer and mode
    flag is put back bit for bit (in place), also after an error. Yields the parameters' values."""
    params = list(model.parameters())
    buffers = list(model.buffers())
    saved_params = [p.detach().clone() for p in params]
    saved_buffers = [b.detach().clone() for b in buffers]
    modes = _modes(model)
    try:
        model.eval()
        with torch.no_grad(), torch_threads(1):
            yield saved_params
    finally:
        with torch.no_grad():
            for tensor, value in zip(params + buffers, saved_params + saved_buffers):
                tensor.copy_(value)
        for module, training in modes:
            module.training = training


def _check_list(model: nn.Module, tensors: Sequence[Tensor], name: str) -> None:
    shapes = [tuple(p.shape) for p in model.parameters()]
    if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, Tensor) for t in tensors):
        raise ValueError(f"{name} must be a list of tensors shaped like model.parameters() ({shapes}), "
                         f"got {type(tensors).__name__}")
    got = [tuple(t.shape) for t in tensors]
    if got != shapes:
        raise ValueError(f"{name} must have one tensor per parameter with shapes {shapes}, got {got}")


def _coefficients(values: Sequence[float] | np.ndarray, name: str) -> list[float]:
    array = np.asarray(values.detach().cpu() if isinstance(values, Tensor) else values, dtype=np.float64)
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a 1-D sequence of finite numbers, got {values!r}")
    return [float(a) for a in array]


def loss_along_line(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], inputs: Tensor, targets: Tensor,
                    start: Sequence[Tensor], end: Sequence[Tensor],
                    alphas: Sequence[float] | np.ndarray) -> np.ndarray:
    r"""The loss on the segment from ``start`` to ``end`` (Goodfellow et al., 2015).

    For each $\alpha$ the parameters are set to $(1-\alpha)\,\theta_s + \alpha\,\theta_e$ and
    ``loss_fn(model(inputs), targets)`` is evaluated in eval mode without autograd;
    $\alpha = 0$ is ``start``, $\alpha = 1$ is ``end``, values outside $[0, 1]$ extrapolate.
    Afterwards the parameters, buffers and train/eval flags are exactly as before.

    Args:
        model: the network (its own weights are irrelevant to the values).
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar tensor.
        inputs, targets: the data the loss is measured on.
        start, end: $\theta_s$ and $\theta_e$, one tensor per parameter.
        alphas: the points of the segment.

    Returns:
        Float64 array of shape ``(len(alphas),)``.

    Raises:
        ValueError: if ``start`` or ``end`` does not match the parameters or ``alphas`` is not 1-D.
    """
    _check_model(model)
    _check_list(model, start, "start")
    _check_list(model, end, "end")
    points = _coefficients(alphas, "alphas")
    values = np.empty(len(points), dtype=np.float64)
    with _evaluated_and_restored(model):
        params = list(model.parameters())
        for k, alpha in enumerate(points):
            for p, s, e in zip(params, start, end):
                p.copy_((1 - alpha) * s.detach() + alpha * e.detach())
            values[k] = float(loss_fn(model(inputs), targets))
    return values


def loss_surface(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], inputs: Tensor, targets: Tensor,
                 direction1: Sequence[Tensor], direction2: Sequence[Tensor],
                 alphas: Sequence[float] | np.ndarray, betas: Sequence[float] | np.ndarray) -> np.ndarray:
    r"""The loss on the plane through the current weights $\theta$ spanned by two directions.

    $Z_{ij} = L(\theta + \alpha_j d_1 + \beta_i d_2)$ with ``loss_fn(model(inputs), targets)``
    evaluated in eval mode without autograd: row $i$ is ``betas[i]``, column $j$ is ``alphas[j]``,
    so that ``plt.contour(alphas, betas, Z)`` draws it. Afterwards the parameters, buffers and
    train/eval flags are exactly as before (``torch.equal``).

    Args:
        model: the network, at the centre $\theta$ of the plane.
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar tensor.
        inputs, targets: the data the loss is measured on.
        direction1, direction2: $d_1$ and $d_2$, one tensor per parameter each.
        alphas: coefficients of ``direction1`` (the horizontal axis, columns).
        betas: coefficients of ``direction2`` (the vertical axis, rows).

    Returns:
        Float64 array of shape ``(len(betas), len(alphas))``.

    Raises:
        ValueError: if a direction does not match the parameters or ``alphas``/``betas`` is not 1-D.
    """
    _check_model(model)
    _check_list(model, direction1, "direction1")
    _check_list(model, direction2, "direction2")
    horizontal, vertical = _coefficients(alphas, "alphas"), _coefficients(betas, "betas")
    values = np.empty((len(vertical), len(horizontal)), dtype=np.float64)
    with _evaluated_and_restored(model) as centre:
        params = list(model.parameters())
        for i, beta in enumerate(vertical):
            for j, alpha in enumerate(horizontal):
                for p, p0, d1, d2 in zip(params, centre, direction1, direction2):
                    p.copy_(p0 + alpha * d1.detach() + beta * d2.detach())
                values[i, j] = float(loss_fn(model(inputs), targets))
    return values
