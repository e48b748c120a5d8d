"""Adagrad: per-coordinate step sizes from the sum of all past squared gradients."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_non_negative, check_params


class AdagradOptimizer:
    r"""Adagrad (Duchi, Hazan & Singer, 2011): divide by the root of the summed squared gradients.

    Stores one accumulator ``s`` per parameter, starting at
    ``initial_accumulator_value``. For every parameter with gradient $g$,

    $$s \leftarrow s + g^2, \qquad
      \theta \leftarrow \theta - \eta\, \frac{g}{\sqrt{s} + \epsilon}.$$

    A coordinate that has seen large gradients takes small steps, a rarely
    updated one keeps large steps. Because $s$ only grows, the effective step
    $\eta / \sqrt{s}$ shrinks like $1/\sqrt{t}$ and never recovers: good for
    convex problems with sparse features, too timid for long deep-learning runs.
    This is ``torch.optim.Adagrad(params, lr, lr_decay=0, weight_decay=0,
    initial_accumulator_value, eps)``.

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$.
        eps: $\epsilon \ge 0$, added after the square root.
        initial_accumulator_value: starting value of every entry of $s$, $\ge 0$.

    Attributes:
        sums: the accumulators $s$, one tensor per parameter.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        eps: float = 1e-10,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        check_non_negative("lr", lr)
        check_non_negative("eps", eps)
        check_non_negative("initial_accumulator_value", initial_accumulator_value)
        self.params = check_params(params)
        self.lr = lr
        self.eps = eps
        self.initial_accumulator_value = initial_accumulator_value
        self.sums = [torch.full_like(p, initial_accumulator_value) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """Take one Adagrad step; parameters without a gradient (and their sums) are left untouched."""
        for param, total in zip(self.params, self.sums):
            if param.grad is None:
                continue
            grad = param.grad
            total.add_(grad * grad)
            param.add_(grad / (torch.sqrt(total) + self.eps), alpha=-self.lr)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
