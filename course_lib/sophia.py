"""Sophia: a momentum divided by a curvature estimate, clipped coordinate by coordinate."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from course_lib.validation import check_betas, check_non_negative, check_params, check_positive


class SophiaOptimizer:
    r"""Sophia (Liu, Li, Hall, Liang & Ma, 2023, "Sophia: A Scalable Stochastic Second-order Optimizer
    for Language Model Pre-training", Algorithm 3), with the Hessian diagonal supplied by the caller.

    Every step, for each parameter with gradient $g$:

    $$m \leftarrow \beta_1 m + (1-\beta_1)\,g, \qquad
      \theta \leftarrow \theta\,(1 - \eta\lambda), \qquad
      \theta \leftarrow \theta - \eta\,\operatorname{clip}\!\Big(\frac{m}{\max(\gamma h,\ \epsilon)},\ 1\Big),$$

    with $\operatorname{clip}(z, 1) = \max(\min(z, 1), -1)$ elementwise. The curvature $h$ is a running
    average of Hessian-diagonal estimates $\hat h$, refreshed only when the caller passes one
    (the paper: every $k \approx 10$ steps, with a stochastic estimator):
    $h \leftarrow \beta_2 h + (1-\beta_2)\,\hat h$. Where $h \le 0$ (negative curvature) the
    denominator is $\epsilon$ and the clip turns the step into $\eta\,\operatorname{sign}(m)$: never
    uphill towards a maximum, never longer than $\eta$ per coordinate.

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$, the longest step per coordinate.
        betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
        gamma: $\gamma > 0$, scales the curvature ($\gamma = 1$ with an exact Hessian is a clipped,
            damped Newton step).
        eps: $\epsilon > 0$, the smallest denominator.
        weight_decay: $\lambda \ge 0$, decoupled as in AdamW.

    Attributes:
        exp_avg: the momenta $m$; hessian: the curvatures $h$ (one tensor per parameter).
        clipped_fraction: the fraction of entries whose step was clipped at the last :meth:`step`.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-4,
                 betas: Sequence[float] = (0.965, 0.99), gamma: float = 0.01, eps: float = 1e-12,
                 weight_decay: float = 0.0) -> None:
        check_non_negative("lr", lr)
        self.beta1, self.beta2 = check_betas(betas)
        check_positive("gamma", gamma)
        check_positive("eps", eps)
        check_non_negative("weight_decay", weight_decay)
        self.params = check_params(params)
        self.lr, self.gamma, self.eps, self.weight_decay = lr, gamma, eps, weight_decay
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.hessian = [torch.zeros_like(p) for p in self.params]
        self.clipped_fraction = 0.0

    @torch.no_grad()
    def update_hessian(self, estimates: Sequence[torch.Tensor]) -> None:
        r"""$h \leftarrow \beta_2 h + (1-\beta_2)\,\hat h$ for each parameter, with ``estimates`` the $\hat h$."""
        if len(estimates) != len(self.params):
            raise ValueError(f"estimates must hold one tensor per parameter ({len(self.params)}), "
                             f"got {len(estimates)}")
        for h, estimate in zip(self.hessian, estimates):
            h.mul_(self.beta2).add_((1 - self.beta2) * estimate)

    @torch.no_grad()
    def step(self) -> None:
        """One Sophia step; parameters without a gradient (and their state) are left untouched."""
        clipped = total = 0
        for param, m, h in zip(self.params, self.exp_avg, self.hessian):
            if param.grad is None:
                continue
            m.mul_(self.beta1).add_((1 - self.beta1) * param.grad)
            param.mul_(1 - self.lr * self.weight_decay)
            ratio = m / torch.clamp(self.gamma * h, min=self.eps)
            clipped += int((ratio.abs() > 1).sum())
            total += ratio.numel()
            param.sub_(self.lr * ratio.clamp(-1.0, 1.0))
        self.clipped_fraction = clipped / total if total else 0.0

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
