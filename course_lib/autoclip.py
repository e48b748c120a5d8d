r"""AutoClip: a clipping threshold chosen from the run's own gradient-norm history.

Seetharaman, Wichern, Pardo, Le Roux (2020), *AutoClip: Adaptive gradient clipping for source
separation networks*, clip by the global L2 norm at the $p$-th percentile of the norms seen so far.
With $n_1, \dots, n_t$ the pre-clipping global norms of steps $1..t$ (or of the last ``window``
steps only):

$$c_t = \operatorname{percentile}_p(n_{t-w+1}, \dots, n_t), \qquad
  g \leftarrow g \cdot \frac{c_t}{n_t} \quad \text{if } n_t > c_t.$$

The current norm is part of the history, so the first step is never clipped ($c_1 = n_1$).
The paper keeps the whole history (``window=None``) and recommends $p = 10$; a high percentile
with a window (say the 90th of the last 100 norms) clips only the spikes.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np
import torch

from course_lib.validation import check_in_range


def _global_norm(params: list[torch.Tensor]) -> float:
    r"""Global L2 norm $\sqrt{\sum_p \sum_i g_{p,i}^2}$ of the gradients (``None`` skipped)."""
    return math.sqrt(sum(float(torch.sum(p.grad * p.grad)) for p in params if p.grad is not None))


class AutoClip:
    r"""Clip by the global norm at a running percentile of the recorded norms.

    Args:
        percentile: $p \in [0, 100]$.
        window: how many of the latest norms the percentile is taken over (an int >= 1),
            or ``None`` for all of them (the paper's choice).

    Attributes:
        norms: every pre-clipping norm recorded, in order.
        thresholds: the threshold $c_t$ used at every step, in order.
    """

    def __init__(self, percentile: float = 10.0, window: int | None = None) -> None:
        check_in_range("percentile", percentile, 0.0, 100.0)
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
            raise ValueError(f"window must be None or an int >= 1, got {window!r}")
        self.percentile = percentile
        self.window = window
        self._recent: deque[float] = deque(maxlen=window)
        self.norms: list[float] = []
        self.thresholds: list[float] = []

    def threshold(self) -> float:
        r"""The current threshold $c_t$: the ``percentile`` of the norms in the window.

        Raises:
            ValueError: if no norm has been recorded yet.
        """
        if not self._recent:
            raise ValueError("threshold needs at least one recorded norm, got none (call clip first)")
        return float(np.percentile(np.asarray(self._recent), self.percentile))

    def clip(self, params: Iterable[torch.Tensor]) -> float:
        """Record the global norm of ``params``' gradients, then clip them (in place) at the new threshold.

        Returns:
            The global norm before clipping.
        """
        params = list(params)
        norm = _global_norm(params)
        self._recent.append(norm)
        self.norms.append(norm)
        threshold = self.threshold()
        self.thresholds.append(threshold)
        if norm > threshold:
            with torch.no_grad():
                for param in params:
                    if param.grad is not None:
                        param.grad.mul_(threshold / norm)
        return norm
