"""RMSprop: divide by a running RMS of the gradient, optionally centred and with momentum."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_in_range, check_non_negative, check_params


class RMSpropOptimizer:
    r"""RMSprop (Hinton, Srivastava & Swersky, 2012, Coursera lecture 6e).

    Adagrad's sum of squared gradients becomes an exponential moving average,
    so old gradients are forgotten and the step size no longer decays to zero.
    For every parameter with gradient $g$,

    $$s \leftarrow \alpha s + (1 - \alpha)\, g^2, \qquad
      d = \sqrt{s} + \epsilon \quad\text{or, centred,}\quad
      \bar g \leftarrow \alpha \bar g + (1 - \alpha)\, g, \;\;
      d = \sqrt{s - \bar g^2} + \epsilon,$$

    then, without momentum, $\theta \leftarrow \theta - \eta\, g / d$, and with
    momentum $\mu > 0$,

    $$b \leftarrow \mu b + g / d, \qquad \theta \leftarrow \theta - \eta\, b.$$

    The centred variant divides by an estimate of the standard deviation of
    $g$ instead of its RMS. $\epsilon$ is added after the square root. There is
    no bias correction. This is exactly ``torch.optim.RMSprop``.

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$.
        alpha: smoothing constant $\alpha \in [0, 1)$.
        eps: $\epsilon \ge 0$.
        momentum: momentum $\mu \ge 0$ (0: no momentum buffer is used).
        centered: subtract the squared running mean of $g$ inside the root.

    Attributes:
        square_avg: running averages $s$ of $g^2$, one tensor per parameter.
        grad_avg: running averages $\bar g$ of $g$ (stay zero unless ``centered``).
        momentum_buffer: buffers $b$ (stay zero unless ``momentum > 0``).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        check_non_negative("lr", lr)
        check_in_range("alpha", alpha, 0.0, 1.0, high_inclusive=False)
        check_non_negative("eps", eps)
        check_non_negative("momentum", momentum)
        self.params = check_params(params)
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        self.centered = centered
        self.square_avg = [torch.zeros_like(p) for p in self.params]
        self.grad_avg = [torch.zeros_like(p) for p in self.params]
        self.momentum_buffer = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """Take one RMSprop step; parameters without a gradient (and their state) are left untouched."""
        for param, square_avg, grad_avg, buffer in zip(
            self.params, self.square_avg, self.grad_avg, self.momentum_buffer
        ):
            if param.grad is None:
                continue
            grad = param.grad
            square_avg.mul_(self.alpha).add_(grad * grad, alpha=1 - self.alpha)
            if self.centered:
                grad_avg.mul_(self.alpha).add_(grad, alpha=1 - self.alpha)
                denominator = torch.sqrt(square_avg - grad_avg * grad_avg) + self.eps
            else:
                denominator = torch.sqrt(square_avg) + self.eps
            if self.momentum > 0:
                buffer.mul_(self.momentum).add_(grad / denominator)
                param.add_(buffer, alpha=-self.lr)
            else:
                param.add_(grad / denominator, alpha=-self.lr)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
