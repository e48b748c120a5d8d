r"""The graded learning-rate scheduler of chapter 3, built on the pure schedules.

Kept apart from :mod:`course_lib.schedules` so that the grading sandbox can hide the
reference solution while chapters keep using the pure schedule functions.
"""

from __future__ import annotations

from course_lib.schedules import cosine_decay_schedule, step_decay_schedule, warmup_cosine_schedule
from course_lib.validation import check_in_range, check_non_negative, check_positive


class LRScheduler:
    r"""The course's learning-rate scheduler: a step counter and three schedules.

    Stores ``base_lr``, ``warmup_steps``, ``total_steps`` and the step counter
    ``current_step`` (starts at 0, :meth:`step` adds one). Each schedule method
    returns the learning rate at ``current_step`` as a Python float:

    - :meth:`step_decay`: $\eta_0\, \gamma^{\lfloor t / s \rfloor}$;
    - :meth:`cosine_annealing`:
      $\eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})(1 + \cos(\pi \min(t, T) / T))$;
    - :meth:`warmup_cosine`: $\eta_0\, t / W$ for $t < W$, then the cosine from $\eta_0$
      to $\eta_{\min}$ over the remaining $T - W$ steps, holding at $\eta_{\min}$ after $T$.

    Args:
        base_lr: the peak learning rate $\eta_0 \ge 0$.
        warmup_steps: $W$, with $0 \le W <$ ``total_steps`` (0 means no warmup).
        total_steps: $T > 0$.
    """

    def __init__(self, base_lr: float, warmup_steps: int = 0, total_steps: int = 1000) -> None:
        check_non_negative("base_lr", base_lr)
        check_positive("total_steps", total_steps)
        check_in_range(
            "warmup_steps", warmup_steps, 0, total_steps,
            high_inclusive=False, high_name="total_steps",
        )
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.current_step = 0

    def step(self) -> None:
        """Advance the step counter by one."""
        self.current_step += 1

    def step_decay(self, decay_rate: float = 0.5, decay_steps: int = 100) -> float:
        r"""Step decay: $\eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}$.

        Args:
            decay_rate: $\gamma > 0$.
            decay_steps: $s > 0$.

        Returns:
            The learning rate at ``current_step``.
        """
        return step_decay_schedule(self.base_lr, decay_rate, decay_steps)(self.current_step)

    def cosine_annealing(self, min_lr: float = 0.0) -> float:
        r"""Cosine annealing over ``total_steps`` (ignores the warmup), then constant.

        $$\eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
          \left(1 + \cos\!\left(\pi\, \frac{\min(t, T)}{T}\right)\right)$$

        Args:
            min_lr: $0 \le \eta_{\min} \le \eta_0$.

        Returns:
            The learning rate at ``current_step``.
        """
        return cosine_decay_schedule(self.base_lr, self.total_steps, min_lr)(self.current_step)

    def warmup_cosine(self, min_lr: float = 0.0) -> float:
        r"""Linear warmup from 0, then cosine decay to ``min_lr``.

        $$\eta_t = \begin{cases}
          \eta_0\, t / W & t < W \\[2pt]
          \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})(1 + \cos(\pi\, p_t)) & t \ge W
        \end{cases}
        \qquad p_t = \min\!\left(\frac{t - W}{T - W},\ 1\right)$$

        Args:
            min_lr: $0 \le \eta_{\min} \le \eta_0$.

        Returns:
            The learning rate at ``current_step``.
        """
        schedule = warmup_cosine_schedule(self.base_lr, self.warmup_steps, self.total_steps, min_lr)
        return schedule(self.current_step)
