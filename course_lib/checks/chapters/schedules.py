"""Checks for ``LRScheduler`` (chapter 3): step decay, cosine, warmup + cosine.

With :math:`t` = ``current_step``, :math:`T` = ``total_steps``,
:math:`w` = ``warmup_steps``:

.. math::
    \\text{step decay: } \\eta_t = \\eta_0\\, \\gamma^{\\lfloor t / s \\rfloor}, \\qquad
    \\text{cosine: } \\eta_t = \\eta_{min} + \\tfrac12(\\eta_0 - \\eta_{min})
        \\bigl(1 + \\cos(\\pi \\min(t, T)/T)\\bigr)

and warmup + cosine: :math:`\\eta_0 t / w` for :math:`t < w`, then the cosine
over :math:`p = \\min(1, (t - w)/(T - w))` (no warmup when :math:`w = 0`).

Oracles: ``torch.optim.lr_scheduler.StepLR`` and ``CosineAnnealingLR``
(shifted by :math:`w` for the cosine phase) where they apply, the closed forms
above elsewhere (warmup, past ``total_steps``). Any real number type is
accepted as a return value (float, numpy float, 0-d tensor).

Each check runs a few fixed settings (the edge cases: period boundaries, no
warmup, the last step) and two settings drawn from :func:`rng_for`: base rate,
periods, lengths and the steps asked for, boundaries included. The grader's
draws come from a secret seed, so a table of answers recorded against the public
checks meets settings it has never seen.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import CosineAnnealingLR, StepLR

import numpy as np

from course_lib.checks.chapters._spec import CheckSpec, rng_for
from course_lib.checks.messages import expect_close_number
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject

CLASS = "LRScheduler"
RTOL = 1e-5

HINT_STEP = ("the exponent counts completed decay periods with integer division: "
             "lr = base_lr · decay_rate^(current_step // decay_steps)")
HINT_COSINE = ("lr = min_lr + ½·(base_lr − min_lr)·(1 + cos(π·t/T)) with t = current_step and "
               "T = total_steps; min_lr is the floor, not an offset to ignore")
HINT_WARMUP = ("during warmup (t < warmup_steps) lr = base_lr·t/warmup_steps (0 at t = 0); afterwards "
               "the cosine runs over the remaining steps: progress = (t − warmup_steps)/(total_steps − "
               "warmup_steps) and lr = min_lr + ½·(base_lr − min_lr)·(1 + cos(π·progress))")
HINT_PAST = ("clamp the progress at 1 (use min(t, total_steps), or min(progress, 1)): after total_steps "
             "both cosine schedules stay at min_lr instead of rising again")
HINT_DEFAULTS = ("keep the defaults of the signatures given in the task: LRScheduler(base_lr, warmup_steps=0, "
                 "total_steps=1000), step_decay(decay_rate=0.5, decay_steps=100), cosine_annealing(min_lr=0.0) "
                 "and warmup_cosine(min_lr=0.0); the graders also call them with no argument")
#: what the schedule's constructor and methods default to
DEFAULT_INIT = dict(warmup_steps=0, total_steps=1000)
DEFAULT_KWARGS = {"step_decay": dict(decay_rate=0.5, decay_steps=100), "cosine_annealing": dict(min_lr=0.0),
                  "warmup_cosine": dict(min_lr=0.0)}
HINT_COUNTER = ("every schedule method reads self.current_step, which only step() changes (by 1 per "
                "call) or the caller sets; computing a learning rate must not change it")


@oracle
def step_decay(t: int, base_lr: float, decay_rate: float, decay_steps: int) -> float:
    return base_lr * decay_rate ** (t // decay_steps)


@oracle
def cosine(t: int, base_lr: float, total_steps: int, min_lr: float) -> float:
    progress = min(t, total_steps) / total_steps
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))


@oracle
def warmup_cosine(t: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float) -> float:
    if t < warmup_steps:
        return base_lr * t / warmup_steps
    progress = min(1.0, (t - warmup_steps) / (total_steps - warmup_steps))
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))


@oracle
def linear_warmup(t: int, base_lr: float, warmup_steps: int) -> float:
    return base_lr * t / warmup_steps


@oracle
def torch_schedule(base_lr: float, make: Callable, last: int) -> list[float]:
    """Learning rates of a torch scheduler at steps 0..last."""
    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = SGD([parameter], lr=base_lr)
    scheduler = make(optimizer)
    values = [scheduler.get_last_lr()[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(last):
            optimizer.step()
            scheduler.step()
            values.append(scheduler.get_last_lr()[0])
    return values


def _compare(subject: Subject, handle: int, method: str, kwargs: dict, t: int, expected: float,
             base_lr: float, hint: str, oracle: str) -> None:
    subject.set_attr(handle, "current_step", t)
    value = subject.call(handle, method, **kwargs)
    if subject.trace.setting.get("defaults"):
        hint = HINT_DEFAULTS + "; " + hint
    arguments = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    expect_close_number(subject.trace, f"{method}({arguments}) at current_step={t}", expected, value,
                        rtol=RTOL, atol=1e-7 * abs(base_lr), hint=hint, oracle=oracle)


DRAWN = 2  # settings drawn at random per check, besides the fixed ones


def _rate(rng: np.random.Generator) -> float:
    return float(10 ** rng.uniform(-3, 0))


def _steps(rng: np.random.Generator, boundaries: list[int], last: int, count: int = 8) -> list[int]:
    """The boundaries (and their neighbours) plus ``count`` random steps in [0, last]."""
    near = [b + d for b in boundaries for d in (-1, 0, 1)]
    picked = {int(t) for t in rng.integers(0, last + 1, size=count)} | {t for t in near if 0 <= t <= last}
    return sorted(picked | {0})


def _drawn_step_decay(rng: np.random.Generator) -> tuple:
    decay_steps, total = int(rng.integers(2, 60)), int(rng.integers(100, 2000))
    periods = [k * decay_steps for k in range(1, 4)] + [int(rng.integers(4, 20)) * decay_steps]
    return (dict(base_lr=_rate(rng), total_steps=total),
            dict(decay_rate=float(rng.uniform(0.1, 0.95)), decay_steps=decay_steps),
            _steps(rng, periods, total + 50))


def _drawn_cosine(rng: np.random.Generator) -> tuple:
    base, total = _rate(rng), int(rng.integers(5, 2000))
    return (dict(base_lr=base, total_steps=total), dict(min_lr=base * float(rng.uniform(0.0, 0.3))),
            _steps(rng, [total // 2, total], total))


def _drawn_warmup(rng: np.random.Generator) -> tuple:
    base, total = _rate(rng), int(rng.integers(20, 2000))
    warmup = int(rng.integers(1, total // 2))
    return (dict(base_lr=base, warmup_steps=warmup, total_steps=total),
            dict(min_lr=base * float(rng.uniform(0.0, 0.3))),
            _steps(rng, [warmup, (warmup + total) // 2, total], total))


def _with_drawn(check_id: str, fixed: list, draw: Callable) -> list:
    rng = rng_for(check_id)
    return list(fixed) + [draw(rng) for _ in range(DRAWN)]


def _cases(check_id: str, method: str, fixed: list, draw: Callable, defaults_at: list[int]):
    """``(init, kwargs, steps, full_init, full_kwargs)`` per case: the fixed and drawn settings, then one built
    with ``base_lr`` alone and the method called with no argument (``full_*``: with the defaults filled in), at
    ``defaults_at``; ``subject.trace`` says which."""
    cases = [(init, kwargs, steps) for init, kwargs, steps in _with_drawn(check_id, fixed, draw)]
    cases.append((dict(base_lr=0.1), {}, defaults_at))
    for init, kwargs, steps in cases:
        yield init, kwargs, steps, {**DEFAULT_INIT, **init}, {**DEFAULT_KWARGS[method], **kwargs}


def _begin(subject: Subject, init: dict, kwargs: dict) -> None:
    if kwargs:
        subject.trace.begin(**init, **kwargs)
    else:
        subject.trace.begin(**init, defaults="all the other arguments")


STEP_DECAY = [
    (dict(base_lr=0.1, total_steps=1000), dict(decay_rate=0.5, decay_steps=100),
     [0, 1, 50, 99, 100, 101, 199, 200, 250, 999, 1000, 1234]),
    (dict(base_lr=0.03, total_steps=200), dict(decay_rate=0.9, decay_steps=7),
     [0, 6, 7, 8, 13, 14, 15, 100, 200, 250]),
    (dict(base_lr=1.0, total_steps=50), dict(decay_rate=0.1, decay_steps=3), [0, 1, 2, 3, 4, 5, 6, 9, 10, 30]),
]


def _step_decay(subject: Subject) -> None:
    for init, kwargs, steps, _, full in _cases("schedules.step_decay", "step_decay", STEP_DECAY, _drawn_step_decay,
                                               [0, 99, 100, 101, 250, 999, 1000]):
        _begin(subject, init, kwargs)
        handle = subject.new(None, **init)
        oracle = torch_schedule(init["base_lr"], lambda o: StepLR(o, step_size=full["decay_steps"],
                                                                  gamma=full["decay_rate"]), max(steps))
        for t in steps:
            _compare(subject, handle, "step_decay", kwargs, t, oracle[t], init["base_lr"], HINT_STEP,
                     "torch.optim.lr_scheduler.StepLR")


COSINE = [
    (dict(base_lr=0.1, total_steps=1000), dict(min_lr=0.0), [0, 1, 250, 500, 750, 999, 1000]),
    (dict(base_lr=0.05, total_steps=37), dict(min_lr=0.001), [0, 1, 5, 18, 19, 36, 37]),
    (dict(base_lr=1.0, total_steps=10), dict(min_lr=0.2), list(range(11))),
]


def _cosine_annealing(subject: Subject) -> None:
    for init, kwargs, steps, full_init, full in _cases("schedules.cosine_annealing", "cosine_annealing", COSINE,
                                                       _drawn_cosine, [0, 1, 500, 999, 1000]):
        _begin(subject, init, kwargs)
        handle = subject.new(None, **init)
        oracle = torch_schedule(init["base_lr"], lambda o: CosineAnnealingLR(
            o, T_max=full_init["total_steps"], eta_min=full["min_lr"]), max(steps))
        for t in steps:
            _compare(subject, handle, "cosine_annealing", kwargs, t, oracle[t], init["base_lr"], HINT_COSINE,
                     "torch.optim.lr_scheduler.CosineAnnealingLR")


WARMUP = [
    (dict(base_lr=0.1, warmup_steps=100, total_steps=1000), dict(min_lr=0.0),
     [0, 1, 50, 99, 100, 101, 550, 999, 1000]),
    (dict(base_lr=0.02, warmup_steps=10, total_steps=50), dict(min_lr=0.002), [0, 3, 9, 10, 11, 30, 49, 50]),
    (dict(base_lr=1.0, warmup_steps=0, total_steps=20), dict(min_lr=0.1), [0, 1, 10, 19, 20]),
]


def _warmup_cosine(subject: Subject) -> None:
    for init, kwargs, steps, full_init, full in _cases("schedules.warmup_cosine", "warmup_cosine", WARMUP,
                                                       _drawn_warmup, [0, 1, 500, 999, 1000]):
        _begin(subject, init, kwargs)
        handle = subject.new(None, **init)
        base, warm, total = init["base_lr"], full_init["warmup_steps"], full_init["total_steps"]
        cosine_phase = torch_schedule(base, lambda o: CosineAnnealingLR(
            o, T_max=total - warm, eta_min=full["min_lr"]), total - warm)
        for t in steps:
            if t < warm:
                expected, oracle = linear_warmup(t, base, warm), "linear warmup base_lr·t/warmup_steps"
            else:
                expected, oracle = cosine_phase[t - warm], "CosineAnnealingLR started after the warmup"
            _compare(subject, handle, "warmup_cosine", kwargs, t, expected, base, HINT_WARMUP, oracle)


PAST = [
    (dict(base_lr=0.1, warmup_steps=10, total_steps=100), dict(min_lr=0.0), [101, 110, 150, 199, 200, 300]),
    (dict(base_lr=0.05, warmup_steps=0, total_steps=20), dict(min_lr=0.01), [21, 25, 39, 40, 41, 1000]),
]


def _drawn_past(rng: np.random.Generator) -> tuple:
    init, kwargs, _ = _drawn_warmup(rng)
    total = init["total_steps"]
    return init, kwargs, sorted({total + 1, total + 2, *(int(t) for t in rng.integers(total + 1, 3 * total, 4))})


def _past_total_steps(subject: Subject) -> None:
    for init, kwargs, steps, _, full in _cases("schedules.past_total_steps", "cosine_annealing", PAST, _drawn_past,
                                               [1001, 1500, 2000, 5000]):
        _begin(subject, init, kwargs)
        handle = subject.new(None, **init)
        for method in ("cosine_annealing", "warmup_cosine"):
            for t in steps:
                _compare(subject, handle, method, kwargs, t, full["min_lr"], init["base_lr"], HINT_PAST,
                         "min_lr: the schedule has ended")


def _step_counter(subject: Subject) -> None:
    rng = rng_for("schedules.step_counter")
    base, warmup, total = _rate(rng), int(rng.integers(2, 9)), int(rng.integers(30, 51))
    decay_steps, decay_rate = int(rng.integers(3, 12)), float(rng.uniform(0.2, 0.9))
    min_lr = base * float(rng.uniform(0.01, 0.3))
    init = dict(base_lr=base, warmup_steps=warmup, total_steps=total)
    subject.trace.begin(**init)
    handle = subject.new(None, **init)
    trace = subject.trace

    def expect_at(t: int, how: str) -> None:
        counter = subject.get_attr(handle, "current_step")
        expect_close_number(trace, f"current_step {how}", float(t), counter, rtol=0.0, atol=0.0,
                            hint=HINT_COUNTER, oracle="number of step() calls")
        values = [
            ("step_decay", dict(decay_rate=decay_rate, decay_steps=decay_steps),
             step_decay(t, base, decay_rate, decay_steps), HINT_STEP),
            ("cosine_annealing", dict(min_lr=min_lr), cosine(t, base, total, min_lr),
             HINT_PAST if t > total else HINT_COSINE),
            ("warmup_cosine", dict(min_lr=min_lr), warmup_cosine(t, base, warmup, total, min_lr),
             HINT_PAST if t > total else HINT_WARMUP),
        ]
        for method, kwargs, expected, hint in values:
            value = subject.call(handle, method, **kwargs)
            arguments = ", ".join(f"{k}={v}" for k, v in kwargs.items())
            expect_close_number(trace, f"{method}({arguments}) {how} (current_step = {t})", expected, value,
                                rtol=RTOL, atol=1e-8 * base, hint=hint, oracle="closed form")
        after = subject.get_attr(handle, "current_step")
        expect_close_number(trace, f"current_step after computing the learning rates {how}", float(t), after,
                            rtol=0.0, atol=0.0, hint=HINT_COUNTER, oracle="unchanged")

    expect_at(0, "of a new scheduler")
    for t in range(1, total + 6):
        subject.call(handle, "step")
        if t % 3 == 0 or t in (1, warmup, total, total + 1):
            expect_at(t, f"after {t} call{'s' if t > 1 else ''} of step()")
    start = int(rng.integers(3, total))
    subject.set_attr(handle, "current_step", start)
    for _ in range(3):
        subject.call(handle, "step")
    expect_at(start + 3, f"after setting current_step = {start} and 3 calls of step()")


CHECKS = [
    CheckSpec("schedules.step_decay", CLASS,
              "step_decay matches torch.optim.lr_scheduler.StepLR at 6 settings (3 fixed, 2 drawn at random, the "
              "defaults)", _step_decay),
    CheckSpec("schedules.cosine_annealing", CLASS,
              "cosine_annealing matches torch.optim.lr_scheduler.CosineAnnealingLR at 6 settings (the defaults "
              "included)",
              _cosine_annealing),
    CheckSpec("schedules.warmup_cosine", CLASS,
              "warmup_cosine matches linear warmup + CosineAnnealingLR at 6 settings (one without warmup, the "
              "defaults)",
              _warmup_cosine),
    CheckSpec("schedules.past_total_steps", CLASS,
              "both cosine schedules stay at min_lr after total_steps (the defaults included)", _past_total_steps),
    CheckSpec("schedules.step_counter", CLASS,
              "step() advances current_step by one and every schedule follows it", _step_counter),
]
