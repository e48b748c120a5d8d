"""The reference schedule functions of chapter 7 agree with torch.optim.lr_scheduler,
stepped one step at a time, over thousands of steps and many settings."""
from __future__ import annotations

import itertools
import re
import math
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from course_lib.schedule_zoo import (
    cosine_with_restarts,
    cyclic,
    exponential_decay,
    one_cycle,
    polynomial_decay,
    with_warmup,
)


def torch_lrs(make_scheduler, base_lr: float, steps: int) -> list[float]:
    """The learning rate a torch scheduler gives at steps 0 .. steps-1 (one scheduler.step() per step)."""
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if step < steps - 1:
                scheduler.step()
    return lrs


def assert_schedule(ours: list[float], theirs: list[float], rtol: float = 1e-9, atol: float = 1e-15) -> None:
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=rtol, atol=atol)


@pytest.mark.parametrize(("base_lr", "gamma"), [(0.1, 0.999), (1.0, 0.99), (3e-4, 0.9), (0.5, 1.0), (0.2, 1.001)])
def test_exponential_decay_matches_exponential_lr(base_lr, gamma) -> None:
    steps = 3000
    theirs = torch_lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma), base_lr, steps)
    assert_schedule([exponential_decay(t, base_lr, gamma) for t in range(steps)], theirs, rtol=1e-11)


@pytest.mark.parametrize(("total_steps", "power"), [(1, 1.0), (10, 1.0), (100, 2.0), (999, 0.5), (2000, 3.0)])
def test_polynomial_decay_matches_polynomial_lr(total_steps, power) -> None:
    steps = total_steps + 200
    theirs = torch_lrs(lambda o: lr_scheduler.PolynomialLR(o, total_iters=total_steps, power=power), 0.1, steps)
    ours = [polynomial_decay(t, 0.1, total_steps, power) for t in range(steps)]
    assert_schedule(ours, theirs, rtol=1e-9, atol=1e-14)
    assert ours[total_steps:] == [0.0] * 200


@pytest.mark.parametrize(("total_steps", "power", "end_lr"), [(10, 1.0, 0.01), (300, 2.0, 1e-4), (77, 0.5, 0.05)])
def test_polynomial_decay_with_end_lr_is_the_closed_form(total_steps, power, end_lr) -> None:
    for t in range(total_steps + 50):
        expected = (0.1 - end_lr) * (1 - min(t, total_steps) / total_steps) ** power + end_lr
        assert polynomial_decay(t, 0.1, total_steps, power=power, end_lr=end_lr) == pytest.approx(expected, rel=1e-14)
    assert polynomial_decay(total_steps, 0.1, total_steps, power, end_lr) == pytest.approx(end_lr, rel=1e-14)
    # power 1, end_lr 0 is the linear decay: halfway is half the rate
    assert polynomial_decay(50, 0.1, 100) == pytest.approx(0.05, rel=1e-14)


@pytest.mark.parametrize(("first", "mult", "min_lr"), [(1, 1, 0.0), (7, 1, 0.001), (1, 2, 0.0), (3, 2, 0.01),
                                                       (1, 3, 0.0), (5, 3, 0.002), (2, 4, 0.0), (10, 5, 0.0)])
def test_cosine_with_restarts_matches_warm_restarts_stepped_one_at_a_time(first, mult, min_lr) -> None:
    steps = 4000
    theirs = torch_lrs(lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, first, mult, min_lr), 0.1, steps)
    ours = [cosine_with_restarts(t, 0.1, first, mult, min_lr) for t in range(steps)]
    assert_schedule(ours, theirs, rtol=1e-12)
    restarts = list(itertools.accumulate(first * mult**i for i in range(60)))
    for boundary in (b for b in restarts if b < steps):
        assert ours[boundary] == pytest.approx(0.1, rel=1e-15), boundary


def test_the_epoch_path_of_warm_restarts_misses_a_restart_that_integer_arithmetic_finds() -> None:
    """step(epoch) uses a floating log: with T_mult=3 it puts t = 121·T_0 at the end of cycle 4."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=2, T_mult=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.step(242)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert cosine_with_restarts(242, 0.1, 2, 3) == pytest.approx(0.1, rel=1e-15)


SIZES = [1, 2, 5, 17, 100]


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("size", SIZES)
def test_cyclic_matches_cyclic_lr(mode, size) -> None:
    steps = min(max(3000, 8 * size), 2000 * size)  # torch's triangular2 overflows after 1024 cycles
    gamma = 0.999 if mode == "exp_range" else 1.0
    theirs = torch_lrs(lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, size, mode=mode, gamma=gamma,
                                                         cycle_momentum=False), 0.01, steps)
    ours = [cyclic(t, 0.01, 0.1, size, mode=mode, gamma=gamma) for t in range(steps)]
    assert_schedule(ours, theirs, rtol=1e-11)
    assert ours[0] == pytest.approx(0.01) and ours[2 * size] == pytest.approx(0.01)
    if mode == "triangular":
        assert ours[size] == pytest.approx(0.1) and ours[3 * size] == pytest.approx(0.1)
    if mode == "triangular2":
        assert ours[3 * size] - 0.01 == pytest.approx((0.1 - 0.01) / 2)


PCT = [(100, 0.3), (10, 0.25), (10, 0.11), (57, 0.57), (1000, 0.1), (7, 0.5), (3, 0.7), (1000, 0.999), (2, 0.6)]


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize(("total", "pct"), PCT)
def test_one_cycle_matches_one_cycle_lr(total, pct, strategy) -> None:
    theirs = torch_lrs(lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=total, pct_start=pct,
                                                           anneal_strategy=strategy, cycle_momentum=False,
                                                           div_factor=20.0, final_div_factor=50.0), 0.1, total)
    ours = [one_cycle(t, 0.1, total, pct, 20.0, 50.0, strategy) for t in range(total)]
    assert_schedule(ours, theirs, rtol=1e-11)
    assert ours[0] == pytest.approx(0.1 / 20) and ours[-1] == pytest.approx(0.1 / 20 / 50)


def test_one_cycle_defaults_and_peak_at_the_float_end_of_the_rise() -> None:
    total = 10
    theirs = torch_lrs(lambda o: lr_scheduler.OneCycleLR(o, 1.0, total_steps=total, cycle_momentum=False), 1.0, total)
    assert_schedule([one_cycle(t, 1.0, total) for t in range(total)], theirs, rtol=1e-12)
    # pct_start·T − 1 = 1.5: step 1 is still rising, step 2 is already falling, neither is the peak
    values = [one_cycle(t, 1.0, 10, pct_start=0.25) for t in range(4)]
    assert values[1] < 1.0 and values[2] < 1.0
    assert values[1] == pytest.approx(1.0 + (0.04 - 1.0) / 2 * (math.cos(math.pi / 1.5) + 1))


def constant(value):
    return lambda step: value


WARMUP_MAINS = {
    "exponential": (lambda o: lr_scheduler.ExponentialLR(o, 0.99), lambda t: 0.1 * 0.99**t),
    "cosine": (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=50, eta_min=0.001),
               lambda t: 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 50)) / 2),
    "step": (lambda o: lr_scheduler.StepLR(o, 30, 0.5), lambda t: 0.1 * 0.5 ** (t // 30)),
}


@pytest.mark.parametrize("main", sorted(WARMUP_MAINS))
@pytest.mark.parametrize(("warmup", "start"), [(1, 0.5), (10, 0.1), (37, 0.01), (100, 1.0)])
def test_with_warmup_matches_sequential_lr(main, warmup, start) -> None:
    make_main, closed = WARMUP_MAINS[main]
    steps = warmup + 300

    def make(optimizer):
        return lr_scheduler.SequentialLR(optimizer, [
            lr_scheduler.LinearLR(optimizer, start_factor=start, end_factor=1.0, total_iters=warmup),
            make_main(optimizer)], milestones=[warmup])

    theirs = torch_lrs(make, 0.1, steps)
    schedule = with_warmup(closed, warmup, start)
    assert_schedule([schedule(t) for t in range(steps)], theirs, rtol=1e-9)


def test_with_warmup_from_zero_is_the_closed_form() -> None:
    schedule = with_warmup(lambda t: 0.2 / math.sqrt(t + 1), 8)
    assert schedule(0) == 0.0
    assert schedule(4) == pytest.approx(0.1)
    assert schedule(8) == pytest.approx(0.2)
    assert schedule(11) == pytest.approx(0.1)
    assert with_warmup(constant(0.3), 5)(10**6) == 0.3


BAD = [
    (lambda: exponential_decay(-1, 0.1, 0.9), "step"),
    (lambda: exponential_decay(1.5, 0.1, 0.9), "step"),
    (lambda: exponential_decay(0, -0.1, 0.9), "base_lr"),
    (lambda: exponential_decay(0, 0.1, 0.0), "gamma"),
    (lambda: polynomial_decay(0, 0.1, 0), "total_steps"),
    (lambda: polynomial_decay(0, 0.1, 10, power=0.0), "power"),
    (lambda: polynomial_decay(0, 0.1, 10, end_lr=0.2), "end_lr"),
    (lambda: cosine_with_restarts(0, 0.1, 0), "first_cycle_steps"),
    (lambda: cosine_with_restarts(0, 0.1, 10, cycle_mult=1.5), "cycle_mult"),
    (lambda: cosine_with_restarts(0, 0.1, 10, cycle_mult=0), "cycle_mult"),
    (lambda: cosine_with_restarts(0, 0.1, 10, min_lr=0.2), "min_lr"),
    (lambda: cyclic(0, 0.1, 0.05, 10), "max_lr"),
    (lambda: cyclic(0, 0.01, 0.1, 0), "step_size_up"),
    (lambda: cyclic(0, 0.01, 0.1, 10, mode="triangle"), "mode"),
    (lambda: cyclic(0, 0.01, 0.1, 10, mode="exp_range", gamma=0.0), "gamma"),
    (lambda: one_cycle(10, 0.1, 10), "step"),
    (lambda: one_cycle(-1, 0.1, 10), "step"),
    (lambda: one_cycle(0, 0.1, 10, pct_start=0.1), "pct_start"),
    (lambda: one_cycle(0, 0.1, 10, pct_start=1.0), "pct_start"),
    (lambda: one_cycle(0, 0.1, 10, anneal_strategy="exp"), "anneal_strategy"),
    (lambda: one_cycle(0, 0.1, 10, div_factor=0.0), "div_factor"),
    (lambda: one_cycle(0, 0.1, 10, final_div_factor=-1.0), "final_div_factor"),
    (lambda: with_warmup(0.1, 10), "schedule"),
    (lambda: with_warmup(constant(0.1), 0), "warmup_steps"),
    (lambda: with_warmup(constant(0.1), 10, start_factor=1.5), "start_factor"),
    (lambda: with_warmup(constant(0.1), 10)(-1), "step"),
]


@pytest.mark.parametrize(("call", "name"), BAD, ids=[f"{i}-{name}" for i, (_, name) in enumerate(BAD)])
def test_bad_arguments_raise_value_error_naming_the_argument(call, name) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(name)}( \* total_steps)? must"):
        call()
