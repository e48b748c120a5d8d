"""LARS: SGD with momentum and a layer-wise trust ratio, the large-batch method before LAMB."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_non_negative, check_params


class LARSOptimizer:
    r"""LARS (You, Gitman & Ginsburg, 2017, "Large Batch Training of Convolutional Networks").

    SGD with momentum whose step in each parameter tensor (layer) is scaled by a
    local learning rate proportional to the layer's norm. For every parameter
    with gradient $g$,

    $$\phi = \tau\, \frac{\lVert\theta\rVert_2}{\lVert g\rVert_2 + \lambda \lVert\theta\rVert_2}
      \;(\phi = 1 \text{ if either norm is } 0), \qquad
      b \leftarrow \mu b + \eta\,\phi\,(g + \lambda\theta), \qquad \theta \leftarrow \theta - b,$$

    with trust coefficient $\tau$. LAMB (:class:`course_lib.lamb.LAMBOptimizer`)
    applies the same layer-wise idea to Adam's direction instead of SGD's.

    Args:
        params: the tensors to optimize (one trust ratio per tensor).
        lr: global learning rate $\eta \ge 0$.
        momentum: $\mu \ge 0$.
        weight_decay: $\lambda \ge 0$.
        trust_coefficient: $\tau > 0$ (0.001 in the paper, with a large $\eta$).

    Attributes:
        momentum_buffer: buffers $b$, one tensor per parameter.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
    ) -> None:
        check_non_negative("lr", lr)
        check_non_negative("momentum", momentum)
        check_non_negative("weight_decay", weight_decay)
        if not trust_coefficient > 0:
            raise ValueError(f"trust_coefficient must be > 0, got {trust_coefficient}")
        self.params = check_params(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.trust_coefficient = trust_coefficient
        self.momentum_buffer = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """Take one LARS step; parameters without a gradient (and their buffers) are left untouched."""
        for param, buffer in zip(self.params, self.momentum_buffer):
            if param.grad is None:
                continue
            grad = param.grad
            param_norm = torch.linalg.vector_norm(param)
            grad_norm = torch.linalg.vector_norm(grad)
            if param_norm > 0 and grad_norm > 0:
                trust_ratio = self.trust_coefficient * param_norm / (grad_norm + self.weight_decay * param_norm)
            else:
                trust_ratio = torch.ones_like(param_norm)
            buffer.mul_(self.momentum).add_(self.lr * trust_ratio * (grad + self.weight_decay * param))
            param.sub_(buffer)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
