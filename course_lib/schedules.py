r"""Learning-rate schedules as pure functions ``step -> lr`` (the graded class is in ``lr_scheduler``).

Each ``*_schedule`` function checks its arguments once and returns a *schedule*:
a pure function ``step -> lr`` from the step count $t = 0, 1, 2, \dots$ to a
Python float. Nothing is stored and nothing changes between calls, so a
schedule can be plotted, tested at any step, or joined to another one.

| schedule | torch.optim.lr_scheduler equivalent |
|---|---|
| :func:`constant_schedule` | ``ConstantLR(factor=1.0)`` |
| :func:`step_decay_schedule` | ``StepLR`` |
| :func:`exponential_decay_schedule` | ``ExponentialLR`` (``decay_steps=1``) |
| :func:`cosine_decay_schedule` | ``CosineAnnealingLR`` (up to ``decay_steps``) |
| :func:`linear_warmup_schedule` | ``LinearLR`` |
| :func:`warmup_cosine_schedule` | ``SequentialLR([LinearLR, CosineAnnealingLR])`` |
| :func:`cosine_with_restarts_schedule` | ``CosineAnnealingWarmRestarts`` |
| :func:`one_cycle_schedule` | ``OneCycleLR(anneal_strategy="cos", three_phase=False)`` |
"""
from __future__ import annotations

import math
from collections.abc import Callable

from course_lib.validation import check_in_range, check_non_negative, check_positive

Schedule = Callable[[int], float]


def _check_step(step: int) -> None:
    check_non_negative("step", step)


def _cosine(start: float, end: float, progress: float) -> float:
    r"""Half a cosine from ``start`` (progress 0) to ``end`` (progress 1):
    $\text{end} + \tfrac12(\text{start} - \text{end})(1 + \cos(\pi\,\text{progress}))$."""
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * progress))


def constant_schedule(value: float) -> Schedule:
    r"""The same learning rate at every step: $\eta_t = \text{value}$.

    Args:
        value: the learning rate, $\ge 0$.

    Returns:
        A schedule ``step -> lr``.
    """
    check_non_negative("value", value)

    def schedule(step: int) -> float:
        _check_step(step)
        return float(value)

    return schedule


def step_decay_schedule(
    base_lr: float, decay_rate: float = 0.5, decay_steps: int = 100
) -> Schedule:
    r"""Multiply the learning rate by ``decay_rate`` every ``decay_steps`` steps.

    $$\eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}$$

    with $\eta_0$ = ``base_lr``, $\gamma$ = ``decay_rate``, $s$ = ``decay_steps``
    (``torch.optim.lr_scheduler.StepLR(step_size=s, gamma=gamma)``).

    Args:
        base_lr: learning rate at step 0, $\ge 0$.
        decay_rate: factor $\gamma > 0$ applied at every boundary.
        decay_steps: steps between two boundaries, $> 0$.

    Returns:
        A schedule ``step -> lr``.
    """
    check_non_negative("base_lr", base_lr)
    check_positive("decay_rate", decay_rate)
    check_positive("decay_steps", decay_steps)

    def schedule(step: int) -> float:
        _check_step(step)
        return float(base_lr * decay_rate ** (step // decay_steps))

    return schedule


def exponential_decay_schedule(base_lr: float, decay_rate: float, decay_steps: int = 1) -> Schedule:
    r"""Smooth exponential decay: the rate is multiplied by ``decay_rate`` every ``decay_steps``.

    $$\eta_t = \eta_0\, \gamma^{t / s}$$

    With $s = 1$ this is ``torch.optim.lr_scheduler.ExponentialLR(gamma)``.

    Args:
        base_lr: learning rate at step 0, $\ge 0$.
        decay_rate: factor $\gamma > 0$ per ``decay_steps`` steps.
        decay_steps: $s > 0$.

    Returns:
        A schedule ``step -> lr``.
    """
    check_non_negative("base_lr", base_lr)
    check_positive("decay_rate", decay_rate)
    check_positive("decay_steps", decay_steps)

    def schedule(step: int) -> float:
        _check_step(step)
        return float(base_lr * decay_rate ** (step / decay_steps))

    return schedule


def cosine_decay_schedule(base_lr: float, decay_steps: int, min_lr: float = 0.0) -> Schedule:
    r"""Cosine annealing from ``base_lr`` to ``min_lr`` over ``decay_steps``, then constant.

    $$\eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
      \left(1 + \cos\!\left(\pi\, \frac{\min(t, T)}{T}\right)\right)$$

    with $T$ = ``decay_steps`` (Loshchilov & Hutter, 2017). Up to $t = T$ this is
    ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=T, eta_min)``; past $T$ torch
    climbs back up, this schedule holds at $\eta_{\min}$.

    Args:
        base_lr: learning rate at step 0, $\ge 0$.
        decay_steps: $T > 0$.
        min_lr: final learning rate, $0 \le \eta_{\min} \le \eta_0$.

    Returns:
        A schedule ``step -> lr``.
    """
    check_non_negative("base_lr", base_lr)
    check_positive("decay_steps", decay_steps)
    check_in_range("min_lr", min_lr, 0.0, base_lr, high_name="base_lr")

    def schedule(step: int) -> float:
        _check_step(step)
        return float(_cosine(base_lr, min_lr, min(step, decay_steps) / decay_steps))

    return schedule


def linear_warmup_schedule(base_lr: float, warmup_steps: int, init_lr: float = 0.0) -> Schedule:
    r"""Linear ramp from ``init_lr`` at step 0 to ``base_lr`` at ``warmup_steps``, then constant.

    $$\eta_t = \eta_{\text{init}} + (\eta_0 - \eta_{\text{init}})\, \frac{\min(t, W)}{W}$$

    With $W = 0$ the schedule is constant at $\eta_0$. For ``init_lr > 0`` this is
    ``torch.optim.lr_scheduler.LinearLR(start_factor=init_lr / base_lr, total_iters=W)``
    (torch cannot start from exactly 0).

    Args:
        base_lr: learning rate reached at the end of the warmup, $\ge 0$.
        warmup_steps: $W \ge 0$.
        init_lr: learning rate at step 0, $0 \le \eta_{\text{init}} \le \eta_0$.

    Returns:
        A schedule ``step -> lr``.
    """
    check_non_negative("base_lr", base_lr)
    check_non_negative("warmup_steps", warmup_steps)
    check_in_range("init_lr", init_lr, 0.0, base_lr, high_name="base_lr")

    def schedule(step: int) -> float:
        _check_step(step)
        if warmup_steps == 0:
            return float(base_lr)
        return float(init_lr + (base_lr - init_lr) * min(step, warmup_steps) / warmup_steps)

    return schedule


def warmup_cosine_schedule(
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_lr: float = 0.0,
    init_lr: float = 0.0,
) -> Schedule:
    r"""Linear warmup to ``base_lr``, then cosine decay to ``min_lr`` at ``total_steps``.

    $$\eta_t = \begin{cases}
      \eta_{\text{init}} + (\eta_0 - \eta_{\text{init}})\, t / W & t < W \\[2pt]
      \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})(1 + \cos(\pi\, p_t)) & t \ge W
    \end{cases}
    \qquad p_t = \min\!\left(\frac{t - W}{T - W},\ 1\right)$$

    The warmup starts at $\eta_{\text{init}}$ (0 by default) and the cosine starts at
    $\eta_0$ exactly at $t = W$; past $T$ the rate holds at $\eta_{\min}$. $W = 0$
    means no warmup. With ``init_lr > 0`` this is torch's ``SequentialLR`` of
    ``LinearLR`` and ``CosineAnnealingLR`` with milestone $W$.

    Args:
        base_lr: peak learning rate $\eta_0 \ge 0$.
        warmup_steps: $0 \le W < T$.
        total_steps: $T > 0$, the step at which the rate reaches ``min_lr``.
        min_lr: final learning rate, $0 \le \eta_{\min} \le \eta_0$.
        init_lr: learning rate at step 0, $0 \le \eta_{\text{init}} \le \eta_0$.

    Returns:
        A schedule ``step -> lr``.
    """
    check_positive("total_steps", total_steps)
    check_in_range(
        "warmup_steps", warmup_steps, 0, total_steps, high_inclusive=False, high_name="total_steps"
    )
    warmup = linear_warmup_schedule(base_lr, warmup_steps, init_lr)
    decay = cosine_decay_schedule(base_lr, total_steps - warmup_steps, min_lr)

    def schedule(step: int) -> float:
        _check_step(step)
        if step < warmup_steps:
            return warmup(step)
        return decay(step - warmup_steps)

    return schedule


def cosine_with_restarts_schedule(
    base_lr: float,
    cycle_steps: int,
    cycle_mult: int = 1,
    min_lr: float = 0.0,
) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter, 2017).

    The rate follows a cosine from $\eta_0$ to $\eta_{\min}$ over a cycle of
    $T_0$ = ``cycle_steps`` steps, jumps back to $\eta_0$, and repeats; every new
    cycle is ``cycle_mult`` times longer than the previous one. With $t_{\text{cur}}$
    the steps since the last restart and $T_i$ the length of the current cycle,

    $$\eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
      \left(1 + \cos\!\left(\pi\, \frac{t_{\text{cur}}}{T_i}\right)\right).$$

    This is ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)``.

    Args:
        base_lr: learning rate at the start of each cycle, $\ge 0$.
        cycle_steps: length $T_0 > 0$ of the first cycle.
        cycle_mult: integer growth factor $\ge 1$ of the cycle length.
        min_lr: learning rate approached at the end of each cycle, $0 \le \eta_{\min} \le \eta_0$.

    Returns:
        A schedule ``step -> lr``.
    """
    check_non_negative("base_lr", base_lr)
    check_positive("cycle_steps", cycle_steps)
    if not (isinstance(cycle_mult, int) and cycle_mult >= 1):
        raise ValueError(f"cycle_mult must be an integer >= 1, got {cycle_mult!r}")
    check_in_range("min_lr", min_lr, 0.0, base_lr, high_name="base_lr")

    def schedule(step: int) -> float:
        _check_step(step)
        steps_into_cycle, cycle_length = step, cycle_steps
        while steps_into_cycle >= cycle_length:
            steps_into_cycle -= cycle_length
            cycle_length *= cycle_mult
        return float(_cosine(base_lr, min_lr, steps_into_cycle / cycle_length))

    return schedule


def one_cycle_schedule(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""The one-cycle policy (Smith & Topin, 2019), with cosine phases.

    The rate rises from $\eta_{\text{init}} = \eta_{\max} / d$ to $\eta_{\max}$ and then
    falls to $\eta_{\text{final}} = \eta_{\text{init}} / d_{\text{final}}$, each along
    half a cosine. The peak is at step $P = p\,T - 1$ and the end at step $T - 1$:

    $$\eta_t = \begin{cases}
      \mathrm{cos}(\eta_{\text{init}} \to \eta_{\max},\ t / P) & t \le P \\[2pt]
      \mathrm{cos}(\eta_{\max} \to \eta_{\text{final}},\ \min(\frac{t - P}{T - 1 - P}, 1)) & t > P
    \end{cases}$$

    where $\mathrm{cos}(a \to b, x) = b + \tfrac12(a - b)(1 + \cos \pi x)$. This is
    ``torch.optim.lr_scheduler.OneCycleLR(max_lr, total_steps, pct_start,
    anneal_strategy="cos", div_factor, final_div_factor, three_phase=False)``; past
    $T - 1$ (where torch raises) the rate holds at $\eta_{\text{final}}$.

    Args:
        max_lr: peak learning rate $\eta_{\max} \ge 0$.
        total_steps: $T$, the number of steps in the cycle.
        pct_start: fraction $p \in (0, 1)$ of the steps spent rising; $p\,T$ must exceed 1.
        div_factor: $d > 0$, ``initial lr = max_lr / div_factor``.
        final_div_factor: $d_{\text{final}} > 0$, ``final lr = initial lr / final_div_factor``.

    Returns:
        A schedule ``step -> lr``.
    """
    check_non_negative("max_lr", max_lr)
    check_positive("total_steps", total_steps)
    check_in_range("pct_start", pct_start, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_positive("div_factor", div_factor)
    check_positive("final_div_factor", final_div_factor)
    peak_step = pct_start * total_steps - 1
    if not peak_step > 0:
        raise ValueError(
            f"pct_start * total_steps must be > 1 so that the rise lasts at least one step, "
            f"got pct_start={pct_start}, total_steps={total_steps}"
        )
    initial_lr = max_lr / div_factor
    final_lr = initial_lr / final_div_factor
    last_step = total_steps - 1

    def schedule(step: int) -> float:
        _check_step(step)
        if step <= peak_step:
            return float(_cosine(initial_lr, max_lr, step / peak_step))
        progress = min((step - peak_step) / (last_step - peak_step), 1.0)
        return float(_cosine(max_lr, final_lr, progress))

    return schedule
