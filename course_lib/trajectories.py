"""Run an optimizer on a 2-D :class:`~course_lib.problems.Problem` and record its path.

The optimizer sees one parameter, the point $x \\in \\mathbb{R}^2$ (a float64
leaf tensor). At every step $t = 0, \\dots, T-1$:

1. if a schedule is given, set the learning rate to $\\eta_t$;
2. compute $f(x_t)$ and $g_t = \\nabla f(x_t)$ (``zero_grad``, ``backward``);
3. call ``step()``, which moves the point to $x_{t+1}$.

The :class:`Trajectory` holds $x_0, \\dots, x_T$, $f(x_0), \\dots, f(x_T)$ and
$\\lVert g_0 \\rVert, \\dots, \\lVert g_{T-1} \\rVert$. If $f$ becomes non-finite
(the optimizer diverged) the run stops and keeps the finite part.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from course_lib.problems import Problem

__all__ = ["Trajectory", "run_optimizer", "set_learning_rate", "get_learning_rate"]


@dataclass
class Trajectory:
    """The path of one optimizer run.

    Attributes:
        points: $x_0, \\dots, x_T$, shape ``(T + 1, 2)``.
        losses: $f(x_0), \\dots, f(x_T)$, shape ``(T + 1,)``.
        grad_norms: $\\lVert \\nabla f(x_t) \\rVert_2$ for $t < T$, shape ``(T,)``.
        diverged: True when the run stopped early because $f$ became non-finite.
    """

    points: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    diverged: bool = False

    @property
    def final_point(self) -> np.ndarray:
        """The last finite point $x_T$."""
        return self.points[-1]

    @property
    def final_loss(self) -> float:
        """$f(x_T)$ at the last finite point."""
        return float(self.losses[-1])

    @property
    def steps(self) -> int:
        """Number of steps actually taken, $T$."""
        return len(self.grad_norms)


def set_learning_rate(optimizer: Any, lr: float) -> None:
    """Set the learning rate of a torch optimizer or of a course optimizer.

    Writes ``group["lr"]`` in every ``optimizer.param_groups`` (torch.optim)
    and the attribute ``optimizer.lr`` (course classes); both when both exist.

    Raises:
        TypeError: the optimizer has neither ``param_groups`` nor ``lr``.
    """
    found = False
    if hasattr(optimizer, "param_groups"):
        for group in optimizer.param_groups:
            group["lr"] = lr
        found = True
    if hasattr(optimizer, "lr"):
        optimizer.lr = lr
        found = True
    if not found:
        raise TypeError(
            f"cannot set the learning rate of {type(optimizer).__name__}: "
            "it has neither param_groups nor an lr attribute"
        )


def get_learning_rate(optimizer: Any) -> float:
    """The current learning rate: ``optimizer.lr`` or ``param_groups[0]["lr"]``, else NaN."""
    if hasattr(optimizer, "lr"):
        return float(optimizer.lr)
    if hasattr(optimizer, "param_groups") and optimizer.param_groups:
        return float(optimizer.param_groups[0]["lr"])
    return math.nan


def run_optimizer(
    make_optimizer: Callable[[list[Tensor]], Any],
    problem: Problem,
    steps: int,
    x0: Sequence[float] | np.ndarray | Tensor | None = None,
    lr_schedule: Callable[[int], float] | None = None,
) -> Trajectory:
    """Minimise ``problem.f`` for ``steps`` steps and record the path.

    Args:
        make_optimizer: called once with ``[x]`` (a float64 leaf tensor of
            shape ``(2,)`` with ``requires_grad=True``); returns any object
            with ``zero_grad()`` and ``step()``, e.g.
            ``lambda params: torch.optim.SGD(params, lr=0.01)``.
        problem: the objective.
        steps: number of optimizer steps $T \\ge 0$.
        x0: starting point; ``problem.x0`` when None.
        lr_schedule: optional ``t -> lr``; applied before step ``t`` with
            :func:`set_learning_rate`.

    Returns:
        The :class:`Trajectory`; shorter than ``steps + 1`` points if the run diverged.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    start = problem.x0 if x0 is None else x0
    start_tensor = torch.as_tensor(np.asarray(start, dtype=np.float64).copy())
    if start_tensor.shape != (2,):
        raise ValueError(f"x0 must have shape (2,), got shape {tuple(start_tensor.shape)}")
    x = start_tensor.clone().requires_grad_(True)
    optimizer = make_optimizer([x])

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = problem.f(x)
        loss.backward()
        return loss

    with torch.no_grad():
        first_loss = float(problem.f(x))
    points = [x.detach().numpy().copy()]
    losses = [first_loss]
    grad_norms: list[float] = []
    diverged = not math.isfinite(first_loss)

    for t in range(steps if not diverged else 0):
        if lr_schedule is not None:
            set_learning_rate(optimizer, float(lr_schedule(t)))
        closure()
        grad_norm = float(torch.linalg.vector_norm(x.grad)) if x.grad is not None else math.nan
        if isinstance(optimizer, torch.optim.LBFGS):
            optimizer.step(closure)  # L-BFGS re-evaluates the objective itself
        else:
            optimizer.step()
        with torch.no_grad():
            loss = float(problem.f(x))
        point = x.detach().numpy().copy()
        if not (math.isfinite(loss) and np.all(np.isfinite(point))):
            diverged = True
            break
        points.append(point)
        losses.append(loss)
        grad_norms.append(grad_norm)

    return Trajectory(
        points=np.array(points, dtype=np.float64).reshape(-1, 2),
        losses=np.array(losses, dtype=np.float64),
        grad_norms=np.array(grad_norms, dtype=np.float64),
        diverged=diverged,
    )
