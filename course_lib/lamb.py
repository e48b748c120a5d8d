"""LAMB: Adam's direction, rescaled per layer by a trust ratio, for very large batches."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_betas, check_non_negative, check_params


class LAMBOptimizer:
    r"""LAMB (You et al., 2020, "Large Batch Optimization for Deep Learning", Algorithm 2).

    Adam's bias-corrected moments give a direction; a trust ratio per parameter
    tensor (per layer) scales the step so that it is a fixed fraction of the
    layer's norm. Each :meth:`step` increases the shared count $t$ and, for
    every parameter with gradient $g$,

    $$m \leftarrow \beta_1 m + (1-\beta_1) g, \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
      \hat m = \frac{m}{1-\beta_1^t}, \quad \hat v = \frac{v}{1-\beta_2^t},$$

    $$r = \frac{\hat m}{\sqrt{\hat v} + \epsilon} + \lambda\theta, \qquad
      \phi = \frac{\lVert\theta\rVert_2}{\lVert r\rVert_2}\;
      (\phi = 1 \text{ if either norm is } 0), \qquad
      \theta \leftarrow \theta - \eta\, \phi\, r.$$

    The norms are over the whole tensor, with no $\epsilon$ in the ratio and no
    clamp on $\lVert\theta\rVert$. Because $\lVert\eta\phi r\rVert = \eta\lVert\theta\rVert$,
    each layer moves by the fraction $\eta$ of its size, whatever the scale of
    its gradients: the property that lets BERT train with batches of 32k.
    timm's ``Lamb(max_grad_norm=None, always_adapt=True)`` computes the same.

    Args:
        params: the tensors to optimize (one trust ratio per tensor).
        lr: learning rate $\eta \ge 0$.
        betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
        eps: $\epsilon \ge 0$, added after the square root.
        weight_decay: decoupled decay $\lambda \ge 0$, inside $r$.

    Attributes:
        t: number of steps taken (starts at 0).
        m: first moments, one tensor per parameter.
        v: second moments, one tensor per parameter.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        check_non_negative("lr", lr)
        self.beta1, self.beta2 = check_betas(betas)
        check_non_negative("eps", eps)
        check_non_negative("weight_decay", weight_decay)
        self.params = check_params(params)
        self.lr = lr
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """Take one LAMB step; ``t`` grows once per call, parameters without a gradient are untouched."""
        self.t += 1
        bias_correction1 = 1 - self.beta1**self.t
        bias_correction2 = 1 - self.beta2**self.t
        for param, m, v in zip(self.params, self.m, self.v):
            if param.grad is None:
                continue
            grad = param.grad
            m.mul_(self.beta1).add_(grad, alpha=1 - self.beta1)
            v.mul_(self.beta2).add_(grad * grad, alpha=1 - self.beta2)
            update = (m / bias_correction1) / (torch.sqrt(v / bias_correction2) + self.eps)
            update = update + self.weight_decay * param
            param_norm = torch.linalg.vector_norm(param)
            update_norm = torch.linalg.vector_norm(update)
            if param_norm > 0 and update_norm > 0:
                trust_ratio = param_norm / update_norm
            else:
                trust_ratio = torch.ones_like(param_norm)
            param.sub_(self.lr * trust_ratio * update)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
