"""Lion: the sign of an interpolated momentum, found by program search."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_betas, check_non_negative, check_params


class LionOptimizer:
    r"""Lion, "EvoLved Sign Momentum" (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms").

    Stores one momentum ``m`` per parameter (half of Adam's state). For every
    parameter with gradient $g$,

    $$c = \beta_1 m + (1 - \beta_1)\, g, \qquad
      \theta \leftarrow \theta\,(1 - \eta\lambda) - \eta\, \operatorname{sign}(c), \qquad
      m \leftarrow \beta_2 m + (1 - \beta_2)\, g.$$

    Every coordinate moves by exactly $\eta$ (plus the decay), whatever the size
    of its gradient, so Lion's $\eta$ is typically 3-10x smaller than AdamW's and
    its $\lambda$ 3-10x larger to keep $\eta\lambda$ the same. The update
    direction interpolates with $\beta_1$, the memory with $\beta_2 > \beta_1$:
    the update reacts to the new gradient faster than the momentum forgets.
    Weight decay is decoupled, as in AdamW. ``sign(0) = 0``.

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$.
        betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
        weight_decay: decoupled decay $\lambda \ge 0$.

    Attributes:
        exp_avg: the momenta $m$, one tensor per parameter.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        check_non_negative("lr", lr)
        self.beta1, self.beta2 = check_betas(betas)
        check_non_negative("weight_decay", weight_decay)
        self.params = check_params(params)
        self.lr = lr
        self.weight_decay = weight_decay
        self.exp_avg = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """Take one Lion step; parameters without a gradient (and their momenta) are left untouched."""
        for param, momentum in zip(self.params, self.exp_avg):
            if param.grad is None:
                continue
            grad = param.grad
            direction = torch.sign(self.beta1 * momentum + (1 - self.beta1) * grad)
            param.mul_(1 - self.lr * self.weight_decay)
            param.add_(direction, alpha=-self.lr)
            momentum.mul_(self.beta2).add_(grad, alpha=1 - self.beta2)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
