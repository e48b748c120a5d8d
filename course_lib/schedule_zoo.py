r"""The schedule zoo of chapter 7: learning rates as pure functions of the step.

Every function takes the step $t = 0, 1, 2, \dots$ first and returns the learning
rate at that step as a Python float; :func:`with_warmup` takes such a schedule and
returns a new one. Each matches a scheduler of ``torch.optim.lr_scheduler`` stepped
once per step (the one stateful rule, reduce-on-plateau, is in :mod:`course_lib.plateau`).

| function | formula | torch.optim.lr_scheduler |
|---|---|---|
| :func:`exponential_decay` | $\eta_0\,\gamma^t$ | ``ExponentialLR(gamma)`` |
| :func:`polynomial_decay` | $(\eta_0 - \eta_e)(1 - \min(t, T)/T)^p + \eta_e$ | ``PolynomialLR(total_iters=T, power=p)`` ($\eta_e = 0$) |
| :func:`cosine_with_restarts` | cosine from $\eta_0$ to $\eta_{\min}$ in cycles $T_0, mT_0, m^2T_0, \dots$ | ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`` |
| :func:`cyclic` | triangle between base and max with period $2s$ | ``CyclicLR(base_lr, max_lr, s, mode=...)`` |
| :func:`one_cycle` | rise to $\eta_{\max}$, then anneal to $\eta_{\max}/(d\,d_f)$ | ``OneCycleLR(three_phase=False)`` |
| :func:`with_warmup` | linear ramp to ``schedule(0)``, then the schedule shifted by $W$ | ``SequentialLR([LinearLR, main], [W])`` |
"""
from __future__ import annotations

import math
from collections.abc import Callable

from course_lib.validation import check_choice, check_in_range, check_non_negative, check_positive

Schedule = Callable[[int], float]

CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
ANNEAL_STRATEGIES = ("cos", "linear")


def _check_step(step: int) -> None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")


def _check_whole(name: str, value: int, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def exponential_decay(step: int, base_lr: float, gamma: float) -> float:
    r"""Exponential decay: $\eta_t = \eta_0\, \gamma^t$.

    The rate is multiplied by $\gamma$ at every step (``ExponentialLR(gamma)``).

    Args:
        step: $t \ge 0$.
        base_lr: $\eta_0 \ge 0$, the rate at step 0.
        gamma: $\gamma > 0$, the factor per step (below 1 to decay).

    Returns:
        The learning rate at ``step``.
    """
    _check_step(step)
    check_non_negative("base_lr", base_lr)
    check_positive("gamma", gamma)
    return float(base_lr * gamma**step)


def polynomial_decay(step: int, base_lr: float, total_steps: int, power: float = 1.0,
                     end_lr: float = 0.0) -> float:
    r"""Polynomial decay from ``base_lr`` to ``end_lr`` over ``total_steps``, then constant.

    $$\eta_t = (\eta_0 - \eta_e)\left(1 - \frac{\min(t, T)}{T}\right)^{p} + \eta_e$$

    Power 1 is the linear decay used to fine-tune BERT; with $\eta_e = 0$ this is
    ``PolynomialLR(total_iters=T, power=p)``.

    Args:
        step: $t \ge 0$.
        base_lr: $\eta_0 \ge 0$.
        total_steps: $T \ge 1$, the step at which the rate reaches ``end_lr``.
        power: $p > 0$.
        end_lr: $0 \le \eta_e \le \eta_0$.

    Returns:
        The learning rate at ``step``.
    """
    _check_step(step)
    check_non_negative("base_lr", base_lr)
    _check_whole("total_steps", total_steps)
    check_positive("power", power)
    check_in_range("end_lr", end_lr, 0.0, base_lr, high_name="base_lr")
    remaining = 1.0 - min(step, total_steps) / total_steps
    return float((base_lr - end_lr) * remaining**power + end_lr)


def cosine_with_restarts(step: int, base_lr: float, first_cycle_steps: int, cycle_mult: int = 1,
                         min_lr: float = 0.0) -> float:
    r"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter, 2017).

    Cycle $i$ lasts $T_i = T_0\, m^i$ steps. With $t_{\text{cur}}$ the steps since the
    last restart,

    $$\eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
      \left(1 + \cos\frac{\pi\, t_{\text{cur}}}{T_i}\right).$$

    The cycle is found with integer arithmetic (subtracting whole cycles), which is
    what ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`` computes when stepped
    one step at a time; its ``step(epoch)`` path uses a floating logarithm instead and
    lands in the wrong cycle at some restarts (e.g. $m = 3$, $t = 121\,T_0$).

    Args:
        step: $t \ge 0$.
        base_lr: $\eta_0 \ge 0$, the rate at every restart.
        first_cycle_steps: $T_0 \ge 1$.
        cycle_mult: integer $m \ge 1$.
        min_lr: $0 \le \eta_{\min} \le \eta_0$.

    Returns:
        The learning rate at ``step``.
    """
    _check_step(step)
    check_non_negative("base_lr", base_lr)
    _check_whole("first_cycle_steps", first_cycle_steps)
    _check_whole("cycle_mult", cycle_mult)
    check_in_range("min_lr", min_lr, 0.0, base_lr, high_name="base_lr")
    since_restart, cycle_length = step, first_cycle_steps
    while since_restart >= cycle_length:
        since_restart -= cycle_length
        cycle_length *= cycle_mult
    return float(min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * since_restart / cycle_length)) / 2)


def cyclic(step: int, base_lr: float, max_lr: float, step_size_up: int, mode: str = "triangular",
           gamma: float = 1.0) -> float:
    r"""Cyclical learning rates (Smith, 2017): a triangle between ``base_lr`` and ``max_lr``.

    A cycle lasts $2s$ steps ($s$ up, $s$ down). With $c = \lfloor 1 + t / 2s \rfloor$ the
    cycle number (from 1) and $x = 1 + t/2s - c \in [0, 1)$ the position in it,

    $$\eta_t = \eta_b + (\eta_{\max} - \eta_b)\, h(x)\, a_t, \qquad
      h(x) = \begin{cases} 2x & x \le \tfrac12 \\ 2(1 - x) & x > \tfrac12 \end{cases}$$

    with the amplitude scale $a_t = 1$ (``'triangular'``), $a_t = 2^{-(c-1)}$
    (``'triangular2'``, halved every cycle) or $a_t = \gamma^t$ (``'exp_range'``).
    This is ``CyclicLR(base_lr, max_lr, step_size_up, mode=mode, gamma=gamma,
    cycle_momentum=False)``.

    Args:
        step: $t \ge 0$.
        base_lr: $\eta_b \ge 0$, the bottom of the triangle.
        max_lr: $\eta_{\max} \ge \eta_b$, its top (reached only while $a_t = 1$).
        step_size_up: $s \ge 1$, steps from bottom to top.
        mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'``.
        gamma: $0 < \gamma \le 1$, used by ``'exp_range'`` only.

    Returns:
        The learning rate at ``step``.
    """
    _check_step(step)
    check_non_negative("base_lr", base_lr)
    if not (max_lr >= base_lr and math.isfinite(max_lr)):
        raise ValueError(f"max_lr must be finite and >= base_lr={base_lr}, got {max_lr}")
    _check_whole("step_size_up", step_size_up)
    check_choice("mode", mode, CYCLIC_MODES)
    check_in_range("gamma", gamma, 0.0, 1.0, low_inclusive=False)
    cycle_length = 2.0 * step_size_up
    cycle = math.floor(1 + step / cycle_length)
    x = 1.0 + step / cycle_length - cycle
    height = x / 0.5 if x <= 0.5 else (x - 1) / (0.5 - 1)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 0.5 ** (cycle - 1)  # 1 / 2**(c-1) would overflow after 1024 cycles
    else:
        scale = gamma**step
    return float(base_lr + (max_lr - base_lr) * height * scale)


def one_cycle(step: int, max_lr: float, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4, anneal_strategy: str = "cos") -> float:
    r"""The one-cycle policy (Smith & Topin, 2019), as ``torch.optim.lr_scheduler.OneCycleLR``.

    The rate rises from $\eta_i = \eta_{\max}/d$ to $\eta_{\max}$ and then anneals to
    $\eta_f = \eta_i / d_f$. The rise ends at the (float) step $P = p\,T - 1$, the fall at
    $T - 1$:

    $$\eta_t = \begin{cases}
      A(\eta_i, \eta_{\max}, t / P) & t \le P \\[2pt]
      A(\eta_{\max}, \eta_f, (t - P) / (T - 1 - P)) & t > P
    \end{cases}$$

    with $A(a, b, x) = b + \tfrac12(a - b)(1 + \cos \pi x)$ (``'cos'``) or $a + (b - a)x$
    (``'linear'``). ``OneCycleLR(max_lr, total_steps, pct_start, anneal_strategy,
    div_factor=d, final_div_factor=d_f, three_phase=False, cycle_momentum=False)``.

    Args:
        step: $0 \le t < T$.
        max_lr: $\eta_{\max} \ge 0$.
        total_steps: $T \ge 2$.
        pct_start: $p \in (0, 1)$ with $p\,T > 1$, the fraction of the steps spent rising.
        div_factor: $d > 0$.
        final_div_factor: $d_f > 0$.
        anneal_strategy: ``'cos'`` or ``'linear'``.

    Returns:
        The learning rate at ``step``.
    """
    _check_whole("total_steps", total_steps, low=2)
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < total_steps:
        raise ValueError(f"step must be an integer in [0, total_steps={total_steps}), got {step!r}")
    check_non_negative("max_lr", max_lr)
    check_in_range("pct_start", pct_start, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_positive("div_factor", div_factor)
    check_positive("final_div_factor", final_div_factor)
    check_choice("anneal_strategy", anneal_strategy, ANNEAL_STRATEGIES)
    peak = float(pct_start * total_steps) - 1
    if not peak > 0:
        raise ValueError(f"pct_start * total_steps must be > 1 (the rise needs a step), got "
                         f"pct_start={pct_start}, total_steps={total_steps}")
    initial_lr = max_lr / div_factor
    final_lr = initial_lr / final_div_factor
    if step <= peak:
        start, end, progress = initial_lr, max_lr, step / peak
    else:
        start, end, progress = max_lr, final_lr, (step - peak) / (total_steps - 1 - peak)
    if anneal_strategy == "cos":
        return float(end + (start - end) / 2.0 * (math.cos(math.pi * progress) + 1))
    return float((end - start) * progress + start)


def with_warmup(schedule: Schedule, warmup_steps: int, start_factor: float = 0.0) -> Schedule:
    r"""Put a linear warmup of ``warmup_steps`` in front of any schedule.

    $$f(t) = \begin{cases}
      \text{schedule}(0)\left(\rho + (1 - \rho)\,\dfrac{t}{W}\right) & t < W \\[4pt]
      \text{schedule}(t - W) & t \ge W
    \end{cases}$$

    with $\rho$ = ``start_factor`` (Goyal et al., 2017). The schedule starts after the
    warmup, from its own step 0. For $\rho > 0$ this is
    ``SequentialLR([LinearLR(start_factor=ρ, end_factor=1, total_iters=W), main], [W])``.

    Args:
        schedule: a function ``step -> lr``.
        warmup_steps: $W \ge 1$.
        start_factor: $0 \le \rho \le 1$, the fraction of ``schedule(0)`` at step 0.

    Returns:
        The warmed-up schedule ``step -> lr``.
    """
    if not callable(schedule):
        raise ValueError(f"schedule must be a function step -> lr, got {type(schedule).__name__}")
    _check_whole("warmup_steps", warmup_steps)
    check_in_range("start_factor", start_factor, 0.0, 1.0)

    def warmed_up(step: int) -> float:
        _check_step(step)
        if step < warmup_steps:
            return float(schedule(0) * (start_factor + (1 - start_factor) * step / warmup_steps))
        return float(schedule(step - warmup_steps))

    return warmed_up
