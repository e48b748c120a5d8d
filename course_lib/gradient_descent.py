"""Gradient descent: plain SGD, heavy-ball momentum and Nesterov momentum."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_non_negative, check_params


class GradientDescentOptimizer:
    r"""Gradient descent with optional heavy-ball or Nesterov momentum.

    Stores one velocity tensor per parameter. With gradient $g_t$, momentum
    $\mu$ and learning rate $\eta$, every step updates

    $$v_t = \mu\, v_{t-1} + g_t, \qquad v_0 = 0,$$

    and then the parameter, by heavy-ball momentum

    $$\theta_t = \theta_{t-1} - \eta\, v_t$$

    or, with ``nesterov=True``, by the look-ahead direction

    $$\theta_t = \theta_{t-1} - \eta\, (g_t + \mu\, v_t).$$

    With $\mu = 0$ both reduce to plain SGD, $\theta_t = \theta_{t-1} - \eta\, g_t$, and
    the velocities are not used (they stay zero).
    This is ``torch.optim.SGD(params, lr, momentum, nesterov=nesterov, dampening=0)``.

    Args:
        params: the tensors to optimize (leaf tensors with ``requires_grad=True``).
        lr: learning rate $\eta \ge 0$.
        momentum: momentum coefficient $\mu \ge 0$ (0 means no momentum).
        nesterov: use Nesterov's look-ahead direction instead of heavy ball.

    Attributes:
        velocities: one tensor per parameter, same shape and dtype, starting at zero
            (and staying zero when ``momentum == 0``).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        check_non_negative("lr", lr)
        check_non_negative("momentum", momentum)
        self.params = check_params(params)
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        r"""Update every parameter that has a gradient (see the class docstring).

        Parameters whose ``.grad`` is ``None`` and their velocities are left untouched.
        """
        for param, velocity in zip(self.params, self.velocities):
            if param.grad is None:
                continue
            grad = param.grad
            if self.momentum == 0:
                direction = grad
            else:
                velocity.mul_(self.momentum).add_(grad)  # v = mu * v + g
                direction = grad + self.momentum * velocity if self.nesterov else velocity
            param.add_(direction, alpha=-self.lr)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
