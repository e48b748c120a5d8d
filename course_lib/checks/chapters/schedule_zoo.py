"""Checks for the schedule zoo (chapter 7): six schedule functions and ReduceLROnPlateau.

Every graded function is called with plain numbers, ``fn(step, ...)``, at many steps
(all the steps of a cycle, every restart and its neighbours, random steps far out);
``with_warmup`` is given a trusted closed-form schedule built where the student's code
runs (:data:`course_lib.checks.subjects.CLOSED_FORMS`) and the schedule it returns is
called step by step. ``ReduceLROnPlateau`` is fed metric sequences and its return value
and attributes are read after every ``step``.

Oracles: ``torch.optim.lr_scheduler`` stepped one step at a time: ``ExponentialLR``,
``PolynomialLR``, ``CosineAnnealingWarmRestarts``, ``CyclicLR``, ``OneCycleLR``,
``SequentialLR([LinearLR, main])`` and ``ReduceLROnPlateau``; the closed forms where
torch has no equivalent (``end_lr > 0``, a warmup from 0). Every setting and step is
drawn from :func:`rng_for` (hyperparameters and steps alike), and the draws are built
so that each mistake the hints name shows up whatever the seed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import (CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR,
                                      LinearLR, OneCycleLR, PolynomialLR, ReduceLROnPlateau, SequentialLR,
                                      StepLR)

from course_lib.checks.chapters._spec import CheckSpec, rng_for
from course_lib.checks.messages import expect_close_number
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject

RTOL = 1e-6

HINT_EXPONENTIAL = "lr = base_lr · gamma**step: one factor gamma per step, none at step 0"
HINT_POLYNOMIAL = ("lr = (base_lr − end_lr)·(1 − min(step, T)/T)**power + end_lr: the power applies to the "
                   "remaining fraction, end_lr is reached at step T and kept after it")
HINT_RESTARTS = ("find the cycle by subtracting whole cycles (T_0, T_0·m, T_0·m², ...) from the step with "
                 "integers; a restart step starts a new cycle at base_lr; inside a cycle "
                 "lr = min_lr + ½(base_lr − min_lr)(1 + cos(π·t_cur/T_i)) (a floating logarithm lands in "
                 "the wrong cycle at some restarts)")
HINT_CYCLIC = ("a cycle lasts 2·step_size_up steps; cycle = floor(1 + step/(2s)), x = |step/s − 2·cycle + 1|, "
               "lr = base_lr + (max_lr − base_lr)·max(0, 1 − x)·scale with scale 1 ('triangular'), "
               "1/2**(cycle − 1) ('triangular2', cycles counted from 1) or gamma**step ('exp_range', which "
               "scales the amplitude, not base_lr)")
HINT_ONE_CYCLE = ("start at max_lr/div_factor, peak at max_lr at the FLOAT step pct_start·total_steps − 1 (do not "
                  "round it), end at max_lr/div_factor/final_div_factor at step total_steps − 1; 'cos' anneals "
                  "along half a cosine, 'linear' along a straight line, in both phases")
HINT_WARMUP = ("for t < warmup_steps: schedule(0)·(start_factor + (1 − start_factor)·t/warmup_steps); from "
               "t = warmup_steps on: schedule(t − warmup_steps), the schedule starting from its own step 0")
HINT_PLATEAU = ("improvement ('min', 'rel'): metric < best·(1 − threshold) with best as it is (no abs()); "
                "'abs': metric < best − threshold; strictly. Otherwise num_bad_epochs += 1; cut when "
                "num_bad_epochs > patience (not >=)")
HINT_COOLDOWN = ("after each step: if cooldown_counter > 0, decrement it and set num_bad_epochs = 0; on a cut "
                 "new = max(lr·factor, min_lr), applied only if lr − new > eps, and in both cases "
                 "cooldown_counter = cooldown and num_bad_epochs = 0")
HINT_MODES = ("mode 'max' mirrors 'min': better means metric > best·(1 + threshold) ('rel') or "
              "> best + threshold ('abs'), best starts at −inf; the relative threshold multiplies best as it is, "
              "so with a negative best a slightly worse metric can count as an improvement")


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


@oracle
def torch_lrs(make: Callable, base_lr: float, steps: int) -> list[float]:
    """Learning rates of a torch scheduler at steps 0 .. steps-1, one ``scheduler.step()`` per step."""
    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = SGD([parameter], lr=base_lr)
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make(optimizer)
        for step in range(steps):
            values.append(float(optimizer.param_groups[0]["lr"]))
            if step < steps - 1:
                optimizer.step()
                scheduler.step()
    return values


def _describe(name: str, args: tuple, kwargs: dict) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _expect_values(subject: Subject, calls: list[tuple[tuple, dict]], expected: list[float], *, scale: float,
                   hint: str, oracle: str) -> None:
    values = subject.function_values(calls)
    for (args, kwargs), want, got in zip(calls, expected, values):
        expect_close_number(subject.trace, _describe(subject.class_name, args, kwargs), want, got,
                            rtol=RTOL, atol=1e-9 * scale, hint=hint, oracle=oracle)


def _steps(rng: np.random.Generator, fixed: list[int], far: int, count: int = 40) -> list[int]:
    """The fixed steps, plus ``count`` random steps below ``far``, sorted without repeats."""
    drawn = rng.integers(0, far, size=count).tolist()
    return sorted({int(s) for s in fixed + drawn if s >= 0})


# exponential_decay ------------------------------------------------------------------

def _exponential_decay(subject: Subject) -> None:
    rng = rng_for("zoo.exponential_decay")
    for gamma_range in ((0.9, 0.99), (0.99, 0.9999), (0.5, 0.9)):
        base_lr = _loguniform(rng, 1e-4, 1.0)
        gamma = float(rng.uniform(*gamma_range))
        last = min(5000, int(40 / (1 - gamma)))
        subject.trace.begin(base_lr=base_lr, gamma=gamma)
        oracle = torch_lrs(lambda o: ExponentialLR(o, gamma), base_lr, last + 1)
        steps = _steps(rng, list(range(12)) + [last], last)
        _expect_values(subject, [((t, base_lr, gamma), {}) for t in steps], [oracle[t] for t in steps],
                       scale=base_lr, hint=HINT_EXPONENTIAL, oracle="torch.optim.lr_scheduler.ExponentialLR")


# polynomial_decay ------------------------------------------------------------------

@oracle
def _polynomial_values(base_lr: float, end_lr: float, total: int, power: float, steps: list[int]) -> list[float]:
    return [(base_lr - end_lr) * (1 - min(t, total) / total) ** power + end_lr for t in steps]


def _polynomial_decay(subject: Subject) -> None:
    rng = rng_for("zoo.polynomial_decay")
    settings = [(None, None), (float(rng.uniform(1.5, 3.0)), None), (float(rng.uniform(0.3, 0.8)), 0.0),
                (None, "end"), (float(rng.uniform(1.5, 3.0)), "end")]
    for power, end in settings:
        base_lr = _loguniform(rng, 1e-3, 1.0)
        total = int(rng.integers(5, 400))
        end_lr = None if end is None else (0.0 if end == 0.0 else base_lr * float(rng.uniform(0.05, 0.5)))
        kwargs: dict[str, Any] = {}
        if power is not None:
            kwargs["power"] = power
        if end_lr is not None:
            kwargs["end_lr"] = end_lr
        subject.trace.begin(base_lr=base_lr, total_steps=total, **kwargs)
        p, e = kwargs.get("power", 1.0), kwargs.get("end_lr", 0.0)
        steps = _steps(rng, [0, 1, 2, total // 2, total - 2, total - 1, total, total + 1, 2 * total, 3 * total + 7],
                       3 * total)
        if e == 0.0:
            oracle_values = torch_lrs(lambda o: PolynomialLR(o, total_iters=total, power=p), base_lr, max(steps) + 1)
            expected = [oracle_values[t] for t in steps]
            oracle = "torch.optim.lr_scheduler.PolynomialLR"
        else:
            expected = _polynomial_values(base_lr, e, total, p, steps)
            oracle = "(base_lr − end_lr)·(1 − min(t, T)/T)**power + end_lr"
        _expect_values(subject, [((t, base_lr, total), kwargs) for t in steps], expected, scale=base_lr,
                       hint=HINT_POLYNOMIAL, oracle=oracle)


# cosine_with_restarts --------------------------------------------------------------

def _restart_steps(first: int, mult: int, last: int) -> list[int]:
    starts = [0]
    length = first
    while starts[-1] + length <= last:
        starts.append(starts[-1] + length)
        length *= mult
    return sorted({s + d for s in starts for d in (-2, -1, 0, 1, 2) if 0 <= s + d <= last})


def _cosine_with_restarts(subject: Subject) -> None:
    rng = rng_for("zoo.cosine_with_restarts")
    settings = [(int(rng.integers(2, 60)), None, None), (int(rng.integers(1, 12)), 2, 0.0),
                (int(rng.integers(1, 16)), 3, "min"), (int(rng.integers(1, 5)), int(rng.integers(4, 7)), "min")]
    for first, mult, min_kind in settings:
        base_lr = _loguniform(rng, 1e-3, 1.0)
        min_lr = None if min_kind is None else (0.0 if min_kind == 0.0 else base_lr * float(rng.uniform(0.01, 0.3)))
        kwargs: dict[str, Any] = {}
        if mult is not None:
            kwargs["cycle_mult"] = mult
        if min_lr is not None:
            kwargs["min_lr"] = min_lr
        m, lo = kwargs.get("cycle_mult", 1), kwargs.get("min_lr", 0.0)
        # with m = 3 the restart at 121·T_0 is one a floating logarithm misses: always reach it
        last = 121 * first + 3 if m == 3 else int(rng.integers(600, 2500))
        subject.trace.begin(base_lr=base_lr, first_cycle_steps=first, **kwargs)
        oracle_values = torch_lrs(lambda o: CosineAnnealingWarmRestarts(o, T_0=first, T_mult=m, eta_min=lo),
                                  base_lr, last + 1)
        steps = _steps(rng, _restart_steps(first, m, last) + list(range(min(last, 3 * first + 1))), last, count=60)
        _expect_values(subject, [((t, base_lr, first), kwargs) for t in steps], [oracle_values[t] for t in steps],
                       scale=base_lr, hint=HINT_RESTARTS,
                       oracle="torch.optim.lr_scheduler.CosineAnnealingWarmRestarts stepped once per step")


# cyclic ------------------------------------------------------------------------------

def _cyclic(subject: Subject) -> None:
    rng = rng_for("zoo.cyclic")
    for mode in (None, "triangular", "triangular2", "exp_range", "exp_range"):
        base_lr = _loguniform(rng, 1e-4, 1e-2)
        max_lr = base_lr * float(rng.uniform(3.0, 30.0))
        size = int(rng.integers(2, 120))
        kwargs: dict[str, Any] = {} if mode is None else {"mode": mode}
        if mode == "exp_range":
            kwargs["gamma"] = float(rng.uniform(0.99, 0.9995))
        last = 8 * size + int(rng.integers(0, 2 * size))
        subject.trace.begin(base_lr=base_lr, max_lr=max_lr, step_size_up=size, **kwargs)
        oracle_values = torch_lrs(lambda o: CyclicLR(o, base_lr, max_lr, step_size_up=size,
                                                     mode=kwargs.get("mode", "triangular"),
                                                     gamma=kwargs.get("gamma", 1.0), cycle_momentum=False),
                                  base_lr, last + 1)
        corners = [k * size + d for k in range(9) for d in (-1, 0, 1)]
        steps = _steps(rng, [s for s in corners if s <= last] + [1, 2, size // 2], last, count=60)
        _expect_values(subject, [((t, base_lr, max_lr, size), kwargs) for t in steps],
                       [oracle_values[t] for t in steps], scale=max_lr, hint=HINT_CYCLIC,
                       oracle="torch.optim.lr_scheduler.CyclicLR")


# one_cycle ---------------------------------------------------------------------------

@oracle
def _one_cycle_oracle(max_lr: float, total: int, kwargs: dict) -> list[float]:
    return torch_lrs(lambda o: OneCycleLR(o, max_lr, total_steps=total, cycle_momentum=False, **kwargs),
                     max_lr, total)


def _run_one_cycle(subject: Subject, max_lr: float, total: int, kwargs: dict, steps: list[int]) -> None:
    subject.trace.begin(max_lr=max_lr, total_steps=total, **kwargs)
    oracle_values = _one_cycle_oracle(max_lr, total, kwargs)
    _expect_values(subject, [((t, max_lr, total), kwargs) for t in steps], [oracle_values[t] for t in steps],
                   scale=max_lr, hint=HINT_ONE_CYCLE, oracle="torch.optim.lr_scheduler.OneCycleLR")


def _fractional_pct(rng: np.random.Generator, total: int, low: float, high: float) -> float:
    """A pct_start whose pct_start·total_steps is well away from an integer (the float peak matters)."""
    whole = int(rng.integers(max(2, math.ceil(low * total)), max(3, math.floor(high * total))))
    return (whole + float(rng.uniform(0.2, 0.8))) / total


def _one_cycle(subject: Subject) -> None:
    rng = rng_for("zoo.one_cycle")
    for strategy in (None, "linear", "cos", "linear"):
        max_lr = _loguniform(rng, 1e-3, 1.0)
        total = int(rng.integers(50, 1500))
        kwargs: dict[str, Any] = {"pct_start": _fractional_pct(rng, total, 0.1, 0.6),
                                  "div_factor": float(rng.uniform(5.0, 50.0)),
                                  "final_div_factor": _loguniform(rng, 10.0, 1e4)}
        if strategy is not None:
            kwargs["anneal_strategy"] = strategy
        peak = kwargs["pct_start"] * total - 1
        steps = _steps(rng, [0, 1, 2, math.floor(peak) - 1, math.floor(peak), math.ceil(peak), math.ceil(peak) + 1,
                             total - 2, total - 1], total, count=80)
        _run_one_cycle(subject, max_lr, total, kwargs, steps)
    max_lr = _loguniform(rng, 1e-3, 1.0)
    total = int(rng.integers(100, 1000))
    _run_one_cycle(subject, max_lr, total, {}, _steps(rng, [0, total // 2, total - 1], total))


HINT_ONE_CYCLE_RANGE = ("check the arguments first: raise ValueError naming step when step is not in "
                        "[0, total_steps) (the last step of the cycle is total_steps − 1), and naming pct_start when "
                        "pct_start·total_steps ≤ 1 (the rise would end at or before step 0), e.g. "
                        "raise ValueError(f\"step must be in [0, {total_steps}), got {step}\")")


def _one_cycle_edges(subject: Subject) -> None:
    rng = rng_for("zoo.one_cycle_edges")
    cases = []
    for strategy in ("cos", "linear"):
        total = int(rng.integers(5, 30))  # short cycles: every step is near an edge
        cases.append((total, _fractional_pct(rng, total, 0.15, 0.85), strategy))
        total = int(rng.integers(4, 40))  # a rise shorter than two steps: pct_start·T in (1, 2)
        cases.append((total, (1.0 + float(rng.uniform(0.1, 0.9))) / total, strategy))
        total = int(rng.integers(20, 200))  # the fall over a few steps only
        cases.append((total, 1.0 - (1.0 + float(rng.uniform(1.1, 4.9))) / total, strategy))
    for total, pct, strategy in cases:
        kwargs = {"pct_start": pct, "div_factor": float(rng.uniform(2.0, 40.0)),
                  "final_div_factor": _loguniform(rng, 2.0, 1e3), "anneal_strategy": strategy}
        _run_one_cycle(subject, _loguniform(rng, 1e-3, 1.0), total, kwargs, list(range(total)))
    # outside the cycle: the rate is defined for 0 <= step < total_steps only, and the rise needs a step
    # (pct_start·total_steps > 1); both raise ValueError naming the argument
    total = int(rng.integers(10, 60))
    max_lr = _loguniform(rng, 1e-3, 1.0)
    for step, pct, name, rule in ((total, 0.3, "step", f"step must be in [0, total_steps={total})"),
                                  (0, 0.5 / total, "pct_start", "pct_start * total_steps must be > 1"),
                                  (0, 1.0 / total, "pct_start", "pct_start * total_steps must be > 1")):
        subject.trace.begin(step=step, max_lr=max_lr, total_steps=total, pct_start=pct)
        subject.expect_error("function", step, max_lr, total, pct_start=pct, names=(name,), rule=rule,
                             hint=HINT_ONE_CYCLE_RANGE)


# with_warmup ------------------------------------------------------------------------

def _main_schedule(rng: np.random.Generator, kind: str, base_lr: float) -> tuple[list, int]:
    """``(numbers, last step worth checking)`` of a schedule drawn from ``rng``."""
    if kind == "exponential":
        return [base_lr, float(rng.uniform(0.95, 0.999))], 400
    if kind == "step":
        gamma, size = float(rng.uniform(0.2, 0.8)), int(rng.integers(5, 40))
        return [base_lr, gamma, size], 6 * size
    if kind == "cosine":
        total, low = int(rng.integers(30, 300)), base_lr * float(rng.uniform(0.0, 0.2))
        return [base_lr, float(total), low], total
    return [base_lr], 50


def _main_forms(kind: str, numbers: list) -> tuple[Callable, Callable]:
    """``(closed form, torch scheduler factory)`` of the schedule ``kind`` with ``numbers``."""
    if kind == "exponential":
        base_lr, gamma = numbers
        return lambda t: base_lr * gamma**t, lambda o: ExponentialLR(o, gamma)
    if kind == "step":
        base_lr, gamma, size = numbers
        return lambda t: base_lr * gamma ** (t // size), lambda o: StepLR(o, size, gamma)
    if kind == "cosine":
        base_lr, total, low = numbers
        return (lambda t: low + (base_lr - low) * (1 + math.cos(math.pi * t / total)) / 2,
                lambda o: CosineAnnealingLR(o, T_max=int(total), eta_min=low))
    base_lr, = numbers
    return lambda t: base_lr, lambda o: StepLR(o, 10**9, 1.0)


@oracle
def _warmed_up(kind: str, numbers: list, warmup: int, rho: float, last: int) -> list[float]:
    """The schedule ``kind`` after a linear warmup from ``rho``·schedule(0), at steps 0..last."""
    closed, make_main = _main_forms(kind, numbers)
    if rho > 0:
        return torch_lrs(lambda o: SequentialLR(o, [
            LinearLR(o, start_factor=rho, end_factor=1.0, total_iters=warmup), make_main(o)], [warmup]),
            numbers[0], last + 1)
    return [closed(0) * (t / warmup) if t < warmup else closed(t - warmup) for t in range(last + 1)]


def _with_warmup(subject: Subject) -> None:
    rng = rng_for("zoo.with_warmup")
    cases = [("cosine", None), ("exponential", "drawn"), ("step", "drawn"), ("cosine", "drawn"),
             ("exponential", 0.0), (str(rng.choice(["constant", "step"])), "drawn")]
    for kind, start in cases:
        base_lr = _loguniform(rng, 1e-3, 1.0)
        numbers, horizon = _main_schedule(rng, kind, base_lr)
        warmup = int(rng.integers(2, 60))
        kwargs: dict[str, Any] = {}
        if start is not None:
            kwargs["start_factor"] = 0.0 if start == 0.0 else float(rng.uniform(0.02, 0.9))
        rho = kwargs.get("start_factor", 0.0)
        last = warmup + horizon
        subject.trace.begin(schedule=f"<{kind} schedule {numbers}>", warmup_steps=warmup, **kwargs)
        oracle_values = _warmed_up(kind, numbers, warmup, rho, last)
        oracle = ("torch.optim.lr_scheduler.SequentialLR([LinearLR, main], [warmup_steps])" if rho > 0
                  else "schedule(0)·t/warmup_steps, then schedule(t − warmup_steps)")
        handle = subject.build(None, warmup, closed_forms=[(0, kind, numbers)], **kwargs)
        steps = _steps(rng, list(range(warmup + 3)) + [last], last, count=60)
        answers = subject.call_each(handle, "__call__", [((t,), {}) for t in steps])
        for t, (got, _) in zip(steps, answers):
            expect_close_number(subject.trace, f"the warmed-up schedule at step {t}", oracle_values[t], got,
                                rtol=RTOL, atol=1e-9 * base_lr, hint=HINT_WARMUP, oracle=oracle)


# ReduceLROnPlateau ------------------------------------------------------------------

ATTRIBUTES = ("lr", "best", "num_bad_epochs", "cooldown_counter")


@oracle
def _edge(best: float, threshold: float, mode: str, threshold_mode: str) -> float:
    if threshold_mode == "rel":
        return best * (1 - threshold) if mode == "min" else best * (1 + threshold)
    return best - threshold if mode == "min" else best + threshold


@oracle
class _PlateauOracle:
    """torch's ReduceLROnPlateau on a one-parameter SGD; ``step`` returns ``(lr, best, bad, cooldown)``."""

    def __init__(self, lr: float, settings: dict) -> None:
        parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        self.optimizer = SGD([parameter], lr=lr)
        self.scheduler = ReduceLROnPlateau(self.optimizer, **settings)

    @property
    def best(self) -> float:
        return float(self.scheduler.best)

    def step(self, metric: float) -> tuple:
        self.scheduler.step(metric)
        s = self.scheduler
        return float(self.optimizer.param_groups[0]["lr"]), float(s.best), s.num_bad_epochs, s.cooldown_counter


@oracle
def _metrics(rng: np.random.Generator, oracle: _PlateauOracle, settings: dict, count: int, start: float,
             negative_quirk: bool = False) -> tuple[list[float], list[tuple]]:
    """A metric sequence drawn against the oracle's current best, and the oracle's states after each.

    Each epoch is one of: a clear improvement, a value exactly on the threshold (not an
    improvement), one just past it (an improvement), a worse value, a repeat (a plateau),
    or, with ``negative_quirk``, a slightly worse value that the relative threshold counts
    as an improvement because best is negative.
    """
    mode, threshold_mode, threshold = settings["mode"], settings["threshold_mode"], settings["threshold"]
    toward = -math.inf if mode == "min" else math.inf
    sign = -1.0 if mode == "min" else 1.0
    metrics, states = [], []
    kinds = ["better", "on_edge", "past_edge", "worse", "same", "same", "same"]
    if negative_quirk:
        kinds += ["quirk", "quirk"]
    for epoch in range(count):
        best = oracle.best
        if epoch == 0 or not math.isfinite(best):
            value = start
        else:
            kind = kinds[int(rng.integers(len(kinds)))] if epoch > 2 else ["on_edge", "past_edge"][epoch - 1]
            edge = _edge(best, threshold, mode, threshold_mode)
            if kind == "better":
                value = edge + sign * abs(best) * float(rng.uniform(0.01, 0.1)) + sign * 1e-3
            elif kind == "on_edge":
                value = edge
            elif kind == "past_edge":
                value = float(np.nextafter(edge, toward))
            elif kind == "worse":
                value = best - sign * (abs(best) * float(rng.uniform(0.0, 0.2)) + 1e-3)
            elif kind == "quirk":  # between best and best·(1 ∓ threshold): worse, yet "better" when best < 0
                value = best + (edge - best) * float(rng.uniform(0.2, 0.8))
            else:
                value = metrics[-1]
        metrics.append(float(value))
        states.append(oracle.step(float(value)))
    return metrics, states


@oracle
def _plateau_trajectory(rng_state: dict, lr: float, settings: dict, count: int, start: float,
                        negative_quirk: bool) -> tuple[list[float], list[tuple], dict]:
    """:func:`_metrics` drawn from a generator in ``rng_state``: the metrics, the oracle's states after
    each, and the generator's state afterwards (so that a replay draws on where the recording did)."""
    rng = np.random.default_rng()
    rng.bit_generator.state = rng_state
    metrics, states = _metrics(rng, _PlateauOracle(lr, settings), settings, count, start, negative_quirk)
    return metrics, states, rng.bit_generator.state


def _run_plateau(subject: Subject, rng: np.random.Generator, lr: float, settings: dict, passed: dict, count: int,
                 start: float, hint: str, negative_quirk: bool = False) -> None:
    metrics, states, rng.bit_generator.state = _plateau_trajectory(rng.bit_generator.state, lr, settings, count,
                                                                   start, negative_quirk)
    subject.trace.begin(lr=lr, **passed)
    handle = subject.new(None, lr=lr, **passed)
    answers = subject.call_each(handle, "step", [((m,), {}) for m in metrics], ATTRIBUTES)
    for epoch, (metric, state, (returned, attributes)) in enumerate(zip(metrics, states, answers), start=1):
        where = f"after step({metric!r}) (call {epoch}; metrics so far {_recent(metrics, epoch)})"
        expect_close_number(subject.trace, f"step's return value {where}", state[0], returned, rtol=1e-12,
                            atol=0.0, hint=hint, oracle="torch.optim.lr_scheduler.ReduceLROnPlateau, the new lr")
        for name, want, got in zip(ATTRIBUTES, state, attributes):
            expect_close_number(subject.trace, f".{name} {where}", want, got, rtol=1e-12, atol=0.0, hint=hint,
                                oracle=f"torch.optim.lr_scheduler.ReduceLROnPlateau's {name}")


def _recent(metrics: list[float], epoch: int) -> str:
    shown = metrics[max(0, epoch - 6):epoch]
    return ("..., " if epoch > 6 else "") + ", ".join(f"{m:.17g}" for m in shown)


def _plateau_settings(rng: np.random.Generator, mode: str, threshold_mode: str, **fixed: Any) -> tuple[dict, dict]:
    """``(all settings for torch, the ones passed to the student's constructor)``; others use the defaults."""
    drawn = {"factor": float(rng.uniform(0.2, 0.8)), "patience": int(rng.integers(0, 5)),
             "threshold": (float(rng.uniform(0.01, 0.1)) if threshold_mode == "rel"
                           else float(rng.uniform(0.05, 0.3)))}
    drawn.update(fixed)
    passed = dict(drawn)
    if mode != "min":
        passed["mode"] = mode
    if threshold_mode != "rel":
        passed["threshold_mode"] = threshold_mode
    settings = {"mode": mode, "threshold_mode": threshold_mode, **drawn}
    return settings, passed


def _plateau_basics(subject: Subject) -> None:
    rng = rng_for("zoo.plateau_basics")
    for threshold_mode in ("rel", "abs", "rel"):
        settings, passed = _plateau_settings(rng, "min", threshold_mode)
        _run_plateau(subject, rng, _loguniform(rng, 1e-2, 1.0), settings, passed, 80,
                     float(rng.uniform(1.0, 5.0)), HINT_PLATEAU)
    # the defaults: factor 0.1, patience 10, threshold 1e-4 (rel), cooldown 0, min_lr 0, eps 1e-8
    settings = {"mode": "min", "threshold_mode": "rel", "threshold": 1e-4}
    _run_plateau(subject, rng, _loguniform(rng, 1e-2, 1.0), settings, {}, 80, float(rng.uniform(1.0, 5.0)),
                 HINT_PLATEAU)


def _plateau_cooldown_eps(subject: Subject) -> None:
    rng = rng_for("zoo.plateau_cooldown_eps")
    for _ in range(3):
        lr = _loguniform(rng, 1e-2, 1.0)
        fixed = {"cooldown": int(rng.integers(1, 5)), "patience": int(rng.integers(0, 3)),
                 "min_lr": lr * float(rng.uniform(0.001, 0.05)), "eps": lr * float(rng.uniform(1e-5, 1e-3))}
        settings, passed = _plateau_settings(rng, "min", str(rng.choice(["rel", "abs"])), **fixed)
        _run_plateau(subject, rng, lr, settings, passed, 90, float(rng.uniform(1.0, 5.0)), HINT_COOLDOWN)
    for _ in range(2):  # long plateaus where the cut becomes smaller than eps well above min_lr
        lr = _loguniform(rng, 1e-2, 1.0)
        factor = float(rng.uniform(0.3, 0.7))
        fixed = {"factor": factor, "cooldown": int(rng.integers(0, 3)), "patience": int(rng.integers(0, 3)),
                 "eps": lr * factor ** int(rng.integers(2, 5)), "min_lr": lr * 1e-4}
        settings, passed = _plateau_settings(rng, "min", "rel", **fixed)
        _run_plateau(subject, rng, lr, settings, passed, 90, float(rng.uniform(1.0, 5.0)), HINT_COOLDOWN)


def _plateau_modes_negative(subject: Subject) -> None:
    rng = rng_for("zoo.plateau_modes_negative")
    for threshold_mode in ("rel", "abs"):
        for start in (float(rng.uniform(0.2, 0.9)), -float(rng.uniform(0.5, 5.0))):
            settings, passed = _plateau_settings(rng, "max", threshold_mode,
                                                 cooldown=int(rng.integers(0, 3)))
            _run_plateau(subject, rng, _loguniform(rng, 1e-2, 1.0), settings, passed, 70, start, HINT_MODES)
    for threshold_mode in ("rel", "rel", "abs"):  # a loss that is negative (a log-likelihood, an ELBO)
        settings, passed = _plateau_settings(rng, "min", threshold_mode)
        _run_plateau(subject, rng, _loguniform(rng, 1e-2, 1.0), settings, passed, 70,
                     -float(rng.uniform(0.5, 5.0)), HINT_MODES, negative_quirk=True)


def _spec(name: str, unit: str, description: str, func: Callable[[Subject], None]) -> CheckSpec:
    return CheckSpec(f"zoo.{name}", unit, description, func,
                     kind="class" if unit == "ReduceLROnPlateau" else "function")


CHECKS = [
    _spec("exponential_decay", "exponential_decay",
          "exponential_decay matches torch's ExponentialLR at 3 settings", _exponential_decay),
    _spec("polynomial_decay", "polynomial_decay",
          "polynomial_decay matches PolynomialLR (end_lr = 0) and the closed form (end_lr > 0), past total_steps too",
          _polynomial_decay),
    _spec("cosine_with_restarts", "cosine_with_restarts",
          "cosine_with_restarts matches CosineAnnealingWarmRestarts at every restart, cycle_mult 1 to 6",
          _cosine_with_restarts),
    _spec("cyclic", "cyclic", "cyclic matches torch's CyclicLR in modes triangular, triangular2 and exp_range",
          _cyclic),
    _spec("one_cycle", "one_cycle", "one_cycle matches torch's OneCycleLR, 'cos' and 'linear', 5 settings",
          _one_cycle),
    _spec("one_cycle_edges", "one_cycle",
          "one_cycle matches OneCycleLR at every step of short cycles, with rises and falls of one or two steps; "
          "raises ValueError at step = total_steps and when pct_start·total_steps ≤ 1",
          _one_cycle_edges),
    _spec("with_warmup", "with_warmup",
          "with_warmup matches SequentialLR([LinearLR, main]) and the warmup from 0, for 4 kinds of schedule",
          _with_warmup),
    _spec("plateau_basics", "ReduceLROnPlateau",
          "ReduceLROnPlateau ('min') matches torch's on metrics on, just past and away from the threshold",
          _plateau_basics),
    _spec("plateau_cooldown_eps", "ReduceLROnPlateau",
          "ReduceLROnPlateau's cooldown, min_lr and eps rule match torch's on long plateaus",
          _plateau_cooldown_eps),
    _spec("plateau_modes_negative", "ReduceLROnPlateau",
          "ReduceLROnPlateau matches torch's in mode 'max' and on negative metrics", _plateau_modes_negative),
]

__all__ = ["CHECKS", "torch_lrs"]
