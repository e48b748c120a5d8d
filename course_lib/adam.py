"""Adam, and AdamW (Adam with decoupled weight decay)."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_in_range, check_non_negative, check_params


def _check_betas(betas: tuple[float, float]) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    beta1, beta2 = betas
    check_in_range("betas[0]", beta1, 0.0, 1.0, high_inclusive=False)
    check_in_range("betas[1]", beta2, 0.0, 1.0, high_inclusive=False)
    return float(beta1), float(beta2)


class AdamOptimizer:
    r"""Adam: momentum on the gradient, scaled by a running RMS of the gradient.

    Stores the step count ``t`` and, per parameter, the first moment ``m`` and the
    second moment ``v``. Each call of :meth:`step` increases $t$ by one (a single
    count shared by all parameters) and, for every parameter with gradient $g$,

    $$m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \qquad
      v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2,$$

    $$\hat m = \frac{m}{1 - \beta_1^{t}}, \qquad \hat v = \frac{v}{1 - \beta_2^{t}}, \qquad
      \theta \leftarrow \theta - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}.$$

    $\epsilon$ is added *outside* the square root, as in Kingma & Ba (2015) and
    ``torch.optim.Adam``. The bias corrections undo the pull of the zero
    initialisation of $m$ and $v$ towards 0 in the first steps.

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$.
        betas: decay rates $(\beta_1, \beta_2)$, each in $[0, 1)$.
        eps: $\epsilon \ge 0$, keeps the denominator away from zero.

    Attributes:
        t: number of steps taken (starts at 0).
        m: first-moment estimates, one tensor per parameter.
        v: second-moment estimates, one tensor per parameter.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        check_non_negative("lr", lr)
        self.beta1, self.beta2 = _check_betas(betas)
        check_non_negative("eps", eps)
        self.params = check_params(params)
        self.lr = lr
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """Take one Adam step (see the class docstring).

        ``t`` grows by one per call even when some parameters have no gradient;
        those parameters and their moments are left untouched.
        """
        self.t += 1
        bias_correction1 = 1 - self.beta1**self.t
        bias_correction2 = 1 - self.beta2**self.t
        for param, m, v in zip(self.params, self.m, self.v):
            if param.grad is None:
                continue
            grad = param.grad
            m.mul_(self.beta1).add_(grad, alpha=1 - self.beta1)
            v.mul_(self.beta2).add_(grad * grad, alpha=1 - self.beta2)
            m_hat = m / bias_correction1
            v_hat = v / bias_correction2
            param.add_(m_hat / (torch.sqrt(v_hat) + self.eps), alpha=-self.lr)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()


class AdamWOptimizer(AdamOptimizer):
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    Before the Adam update, every parameter with a gradient shrinks towards zero,

    $$\theta \leftarrow \theta - \eta\, \lambda\, \theta,$$

    and then takes the Adam step of :class:`AdamOptimizer`. The decay never enters
    $m$ or $v$: adding $\lambda\theta$ to the gradient instead (L2 regularisation)
    would be divided by $\sqrt{\hat v}$ and decay parameters with large gradients
    less. This is ``torch.optim.AdamW``.

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$.
        betas: decay rates $(\beta_1, \beta_2)$, each in $[0, 1)$.
        eps: $\epsilon \ge 0$.
        weight_decay: decay coefficient $\lambda \ge 0$.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps)
        check_non_negative("weight_decay", weight_decay)
        self.weight_decay = weight_decay

    @torch.no_grad()
    def step(self) -> None:
        """Decay every parameter with a gradient, then take the Adam step."""
        for param in self.params:
            if param.grad is not None:
                param.mul_(1 - self.lr * self.weight_decay)
        super().step()
