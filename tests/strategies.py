"""Shared test material for the reference-solution tests.

- hypothesis strategies (tensors, lists of gradients, thresholds, boxes, schedule settings);
- ``first_disagreement``: drives two optimizers side by side on identical random
  gradients and reports the first step where their parameters differ;
- the two test problems every optimizer must solve (a well-conditioned quadratic
  and Rosenbrock), written here so the tests do not depend on course_lib.problems.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# ---------------------------------------------------------------- hypothesis strategies

finite_floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


@st.composite
def tensors(draw, shape=None, elements=finite_floats) -> torch.Tensor:
    """A float64 tensor of a random small shape with finite entries."""
    shape = draw(shapes) if shape is None else shape
    return torch.from_numpy(draw(hnp.arrays(np.float64, shape, elements=elements)))


@st.composite
def gradient_lists(draw, min_size: int = 1, max_size: int = 4) -> list[torch.Tensor]:
    """A list of gradients of different shapes, as the ``.grad`` of several parameters."""
    return draw(st.lists(tensors(), min_size=min_size, max_size=max_size))


thresholds = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)

positive_bounds = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


@st.composite
def boxes(draw) -> tuple[float | None, float | None]:
    """``(min_val, max_val)`` with ``min_val <= max_val``; either side may be ``None``."""
    low, high = sorted(draw(st.lists(finite_floats, min_size=2, max_size=2)))
    return (draw(st.sampled_from([low, None])), draw(st.sampled_from([high, None])))


@st.composite
def schedule_settings(draw) -> dict:
    """``base_lr``, ``warmup_steps``, ``total_steps``, ``min_lr`` valid for LRScheduler."""
    total_steps = draw(st.integers(min_value=1, max_value=5000))
    warmup_steps = draw(st.integers(min_value=0, max_value=total_steps - 1))
    base_lr = draw(st.floats(min_value=1e-6, max_value=10.0))
    min_lr = base_lr * draw(st.floats(min_value=0.0, max_value=1.0))
    return dict(base_lr=base_lr, warmup_steps=warmup_steps, total_steps=total_steps, min_lr=min_lr)


# ---------------------------------------------------------------- side-by-side driver

SHAPES: tuple[tuple[int, ...], ...] = ((3,), (2, 4), (5, 1, 2), (4,))


def last_never_has_grad(step: int, index: int, count: int) -> bool:
    """Default gradient pattern: every parameter but the last gets a gradient at every step."""
    return index < count - 1


def first_disagreement(
    make_ours: Callable[[list[torch.Tensor]], object],
    make_oracle: Callable[[list[torch.Tensor]], object],
    shapes: Sequence[tuple[int, ...]] = SHAPES,
    steps: int = 50,
    seed: int = 0,
    grad_scale: float = 1.0,
    has_grad: Callable[[int, int, int], bool] = last_never_has_grad,
    rtol: float = 1e-6,
    atol: float = 1e-12,
    dtype: torch.dtype = torch.float64,
) -> str | None:
    """Run two optimizers on identical parameters and identical random gradients.

    Both get fresh copies of the same random initial parameters. At every step each
    parameter receives the same random gradient in both runs (or ``None`` where
    ``has_grad(step, index, count)`` is false), both optimizers step, and the
    parameters are compared with ``|ours - oracle| <= atol + rtol * |oracle|``.

    Returns:
        ``None`` when they agree at every step, else a sentence naming the first
        step and parameter where they differ.
    """
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(shape, generator=gen, dtype=dtype) for shape in shapes]
    ours = [x.clone().requires_grad_(True) for x in init]
    theirs = [x.clone().requires_grad_(True) for x in init]
    opt_ours, opt_theirs = make_ours(ours), make_oracle(theirs)
    for step in range(steps):
        for index, (a, b) in enumerate(zip(ours, theirs)):
            if has_grad(step, index, len(shapes)):
                grad = grad_scale * torch.randn(a.shape, generator=gen, dtype=dtype)
                a.grad, b.grad = grad.clone(), grad.clone()
            else:
                a.grad, b.grad = None, None
        opt_ours.step()
        opt_theirs.step()
        for index, (a, b) in enumerate(zip(ours, theirs)):
            if not torch.allclose(a.detach(), b.detach(), rtol=rtol, atol=atol):
                diff = (a - b).abs().max().item()
                where = f"step {step}, parameter {index} of shape {tuple(a.shape)}"
                return f"{where}: max |difference| {diff:.3g}"
    return None


# ---------------------------------------------------------------- test problems

QUADRATIC_A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)  # eigenvalues 1.38, 3.62
QUADRATIC_MIN = torch.tensor([1.0, -2.0], dtype=torch.float64)
ROSENBROCK_MIN = torch.tensor([1.0, 1.0], dtype=torch.float64)


def quadratic(x: torch.Tensor) -> torch.Tensor:
    """f(x) = 1/2 (x - c)^T A (x - c), minimum 0 at c = (1, -2), condition number 2.6."""
    d = x - QUADRATIC_MIN
    return 0.5 * d @ QUADRATIC_A @ d


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1)."""
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def descend(
    loss: Callable[[torch.Tensor], torch.Tensor],
    make_optimizer: Callable[[list[torch.Tensor]], object],
    start: Sequence[float],
    steps: int,
) -> torch.Tensor:
    """Minimise ``loss`` from ``start`` with the optimizer; return the final point."""
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([x])
    for _ in range(steps):
        optimizer.zero_grad()
        loss(x).backward()
        optimizer.step()
    return x.detach()
