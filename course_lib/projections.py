r"""Projected (proximal) gradient descent: a gradient step, then a projection.

Two maps are provided, each returning a new tensor:

- :func:`soft_threshold`, the proximal operator of $\tau \lVert x \rVert_1$,
  which sets small entries to exactly zero (sparsity);
- :func:`project_box`, the Euclidean projection onto $[a, b]^n$.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_choice, check_non_negative, check_params

CONSTRAINTS = ("none", "l1", "box")


def _check_box(min_val: float | None, max_val: float | None, names: tuple[str, str]) -> None:
    if min_val is not None and max_val is not None and not min_val <= max_val:
        low, high = names
        raise ValueError(f"{low} must be <= {high}, got {low}={min_val} > {high}={max_val}")


def soft_threshold(x: torch.Tensor, threshold: float) -> torch.Tensor:
    r"""Soft thresholding, the proximal operator of $\tau\lVert x\rVert_1$.

    $$S_\tau(x)_i = \operatorname{sign}(x_i)\, \max(|x_i| - \tau,\ 0)
      = \arg\min_z\ \tfrac12 \lVert z - x \rVert_2^2 + \tau \lVert z \rVert_1$$

    Entries with $|x_i| \le \tau$ become exactly 0; the others move towards 0 by $\tau$.

    Args:
        x: input tensor (not modified).
        threshold: $\tau \ge 0$.

    Returns:
        A new tensor of the same shape and dtype.
    """
    check_non_negative("threshold", threshold)
    return torch.sign(x) * torch.clamp(torch.abs(x) - threshold, min=0)


def project_box(x: torch.Tensor, min_val: float | None, max_val: float | None) -> torch.Tensor:
    r"""Euclidean projection onto the box $[a, b]^n$: clamp every entry.

    $$\Pi_{[a,b]}(x)_i = \min(\max(x_i, a),\ b)$$

    A bound given as ``None`` leaves that side unbounded.

    Args:
        x: input tensor (not modified).
        min_val: lower bound $a$, or ``None``.
        max_val: upper bound $b$, or ``None``; $a \le b$.

    Returns:
        A new tensor of the same shape and dtype.
    """
    _check_box(min_val, max_val, ("min_val", "max_val"))
    if min_val is None and max_val is None:
        return x.clone()
    return torch.clamp(x, min=min_val, max=max_val)


class ProjectedGD:
    r"""Gradient descent followed by a projection (or proximal step) after every step.

    For every parameter with a gradient $g$:

    $$\theta \leftarrow P(\theta - \eta\, g)$$

    where $P$ depends on ``constraint``:

    - ``'none'``: $P$ is the identity (plain gradient descent);
    - ``'l1'``: $P = S_\tau$, soft thresholding with $\tau$ = ``threshold`` *as given*.
      One step of proximal gradient descent (ISTA) on
      $f(\theta) + \lambda \lVert\theta\rVert_1$ is
      $\operatorname{prox}_{\eta\lambda\lVert\cdot\rVert_1}(\theta - \eta g)
      = S_{\eta\lambda}(\theta - \eta g)$,
      so to minimise that objective pass ``threshold = lr * lambda``;
      the optimizer does not multiply by ``lr`` itself;
    - ``'box'``: $P = \Pi_{[a,b]}$, clamping to ``[box_min, box_max]`` (``None`` = no bound).

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$.
        constraint: ``'none'``, ``'l1'`` or ``'box'``.
        threshold: $\tau \ge 0$ for ``'l1'``.
        box_min: lower bound $a$ for ``'box'``, or ``None``.
        box_max: upper bound $b$ for ``'box'``, or ``None``; $a \le b$.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        constraint: str = "none",
        threshold: float = 0.0,
        box_min: float | None = None,
        box_max: float | None = None,
    ) -> None:
        check_non_negative("lr", lr)
        check_choice("constraint", constraint, CONSTRAINTS)
        check_non_negative("threshold", threshold)
        _check_box(box_min, box_max, ("box_min", "box_max"))
        self.params = check_params(params)
        self.lr = lr
        self.constraint = constraint
        self.threshold = threshold
        self.box_min = box_min
        self.box_max = box_max

    def soft_threshold(self, x: torch.Tensor, threshold: float) -> torch.Tensor:
        r"""$\operatorname{sign}(x)\max(|x| - \tau, 0)$ as a new tensor (:func:`soft_threshold`)."""
        return soft_threshold(x, threshold)

    def project_box(
        self, x: torch.Tensor, min_val: float | None, max_val: float | None
    ) -> torch.Tensor:
        r"""Clamp $x$ to $[a, b]$, as a new tensor (see :func:`project_box`)."""
        return project_box(x, min_val, max_val)

    @torch.no_grad()
    def step(self) -> None:
        """Gradient step, then the projection, for every parameter that has a gradient."""
        for param in self.params:
            if param.grad is None:
                continue
            param.add_(param.grad, alpha=-self.lr)
            if self.constraint == "l1":
                param.copy_(self.soft_threshold(param, self.threshold))
            elif self.constraint == "box":
                param.copy_(self.project_box(param, self.box_min, self.box_max))

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
