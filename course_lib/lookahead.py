"""Lookahead: k fast steps of any optimizer, then one step of the slow weights towards them."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from course_lib.validation import check_in_range, check_params


class Lookahead:
    r"""Lookahead (Zhang, Lucas, Hinton & Ba, 2019, "Lookahead Optimizer: k steps forward, 1 step back").

    Wraps an inner optimizer that updates ``params`` (the fast weights $\theta$) and keeps a copy
    $\phi$ of them (the slow weights). Every call of :meth:`step` is one inner step; after every
    $k$-th call

    $$\phi \leftarrow \phi + \alpha\,(\theta - \phi), \qquad \theta \leftarrow \phi,$$

    so the slow weights move a fraction $\alpha$ of the way to where the $k$ fast steps went, and the
    fast weights restart from there. The inner optimizer's state (momenta, moments) is kept as it is.
    Costs one more copy of the parameters (4 bytes per float32 parameter).

    Args:
        params: the tensors the inner optimizer updates (the fast weights).
        inner: an optimizer over exactly those tensors, with ``step()`` and ``zero_grad()``.
        k: fast steps per slow step, an integer >= 1.
        alpha: slow step size, in $(0, 1]$ ($\alpha = 1$ is the inner optimizer alone).

    Attributes:
        slow: the slow weights $\phi$, one tensor per parameter.
        fast_steps: inner steps taken since the last slow step, in ``[0, k)``.
    """

    def __init__(self, params: Iterable[torch.Tensor], inner: Any, k: int = 5, alpha: float = 0.5) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        check_in_range("alpha", alpha, 0.0, 1.0, low_inclusive=False)
        self.params = check_params(params)
        self.inner = inner
        self.k = k
        self.alpha = alpha
        self.slow = [p.detach().clone() for p in self.params]
        self.fast_steps = 0

    @torch.no_grad()
    def step(self) -> None:
        """One inner step; every ``k``-th call also moves the slow weights and resets the fast ones."""
        self.inner.step()
        self.fast_steps += 1
        if self.fast_steps < self.k:
            return
        self.fast_steps = 0
        for param, slow in zip(self.params, self.slow):
            slow.add_(self.alpha * (param - slow))
            param.copy_(slow)

    def zero_grad(self) -> None:
        """The inner optimizer's ``zero_grad``."""
        self.inner.zero_grad()
