r"""Reduce-on-plateau: cut the learning rate when a monitored metric stops improving.

The graded class of chapter 7 that depends on data rather than on the step count.
:class:`ReduceLROnPlateau` follows ``torch.optim.lr_scheduler.ReduceLROnPlateau``
exactly, quirks included (see the class docstring).
"""
from __future__ import annotations

import math

from course_lib.validation import check_choice, check_in_range, check_non_negative


class ReduceLROnPlateau:
    r"""Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Each :meth:`step` receives the metric $v$ of one epoch. In mode ``'min'`` it counts as
    an improvement when

    $$v < \text{best}\,(1 - \tau) \quad (\text{``rel''}) \qquad\text{or}\qquad
      v < \text{best} - \tau \quad (\text{``abs''})$$

    (``'max'``: $v > \text{best}\,(1 + \tau)$ or $v > \text{best} + \tau$), where $\tau$ is
    ``threshold``. An improvement stores $v$ as ``best`` and zeroes ``num_bad_epochs``;
    anything else adds one bad epoch. While ``cooldown_counter > 0`` it counts down and
    bad epochs are ignored (reset to 0). When ``num_bad_epochs > patience`` the rate
    becomes $\max(\eta\,f, \eta_{\min})$, but only if that lowers it by more than
    ``eps``; either way the cooldown restarts at ``cooldown`` and the bad epochs at 0.

    The relative threshold multiplies ``best`` as it is: for a negative best in mode
    ``'min'``, $\text{best}(1 - \tau)$ is *above* best, so a slightly worse value counts
    as an improvement. PyTorch behaves this way and so does this class.

    Attributes:
        lr: the current learning rate.
        best: the best metric so far (``inf`` in mode ``'min'``, ``-inf`` in ``'max'`` at first).
        num_bad_epochs: epochs since the last improvement (ignoring the cooldown).
        cooldown_counter: epochs of cooldown left.

    Args:
        lr: the initial learning rate, $\ge 0$.
        mode: ``'min'`` (the metric should fall, a loss) or ``'max'`` (an accuracy).
        factor: $0 \le f < 1$.
        patience: bad epochs tolerated before a cut, integer $\ge 0$.
        threshold: $\tau \ge 0$.
        threshold_mode: ``'rel'`` or ``'abs'``.
        cooldown: epochs after a cut during which bad epochs are not counted, integer $\ge 0$.
        min_lr: $\eta_{\min} \ge 0$, the floor.
        eps: $\ge 0$, the smallest change of the rate that is applied.
    """

    def __init__(self, lr: float, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8) -> None:
        check_non_negative("lr", lr)
        check_choice("mode", mode, ("min", "max"))
        check_in_range("factor", factor, 0.0, 1.0, high_inclusive=False)
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        check_non_negative("threshold", threshold)
        check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        check_non_negative("min_lr", min_lr)
        check_non_negative("eps", eps)
        self.lr = float(lr)
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.eps = eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, value: float) -> bool:
        """Whether ``value`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return value < self.best * (1.0 - self.threshold)
        if self.mode == "min":
            return value < self.best - self.threshold
        if self.threshold_mode == "rel":
            return value > self.best * (1.0 + self.threshold)
        return value > self.best + self.threshold

    def step(self, metric: float) -> float:
        """Record one epoch's metric; returns the learning rate to use next."""
        value = float(metric)
        if self.is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            reduced = max(self.lr * self.factor, self.min_lr)
            if self.lr - reduced > self.eps:
                self.lr = reduced
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.lr
