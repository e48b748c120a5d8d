"""The reference LRScheduler and schedule functions agree with torch.optim.lr_scheduler
and with the closed forms."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler

from course_lib.lr_scheduler import LRScheduler
from course_lib.schedules import (
    constant_schedule,
    cosine_decay_schedule,
    cosine_with_restarts_schedule,
    exponential_decay_schedule,
    linear_warmup_schedule,
    one_cycle_schedule,
    step_decay_schedule,
    warmup_cosine_schedule,
)
from tests.strategies import schedule_settings

HYPOTHESIS = settings(max_examples=50, deadline=None)


def torch_lrs(make_scheduler, base_lr: float, steps: int) -> list[float]:
    """The learning rate a torch scheduler gives at steps 0 .. steps-1."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def scheduler_lrs(scheduler: LRScheduler, method: str, steps: int, **kwargs) -> list[float]:
    """The learning rate an LRScheduler method gives at steps 0 .. steps-1, advancing with step()."""
    lrs = []
    for _ in range(steps):
        value = getattr(scheduler, method)(**kwargs)
        assert type(value) is float
        lrs.append(value)
        scheduler.step()
    return lrs


def first_difference(ours: Sequence[float] | Callable[[int], float], expected: Sequence[float],
                     offset: int = 0, rtol: float = 1e-6, atol: float = 1e-12) -> str | None:
    """The first step t where ours[t] and expected[t - offset] differ, as a sentence, or None."""
    for i, want in enumerate(expected):
        t = i + offset
        got = ours(t) if callable(ours) else ours[t]
        if not abs(got - want) <= atol + rtol * abs(want):
            return f"step {t}: expected lr {want!r}, got {got!r}"
    return None


# ---------------------------------------------------------------- against torch.optim.lr_scheduler

@pytest.mark.parametrize("base_lr, decay_rate, decay_steps, steps", [
    (0.1, 0.5, 250, 1000), (1.0, 0.9, 7, 100), (0.3, 0.1, 1, 20),
])
def test_step_decay_agrees_with_step_lr(base_lr, decay_rate, decay_steps, steps):
    expected = torch_lrs(lambda o: lr_scheduler.StepLR(o, decay_steps, decay_rate), base_lr, steps)
    assert first_difference(step_decay_schedule(base_lr, decay_rate, decay_steps), expected) is None
    ours = scheduler_lrs(LRScheduler(base_lr, total_steps=steps), "step_decay", steps,
                         decay_rate=decay_rate, decay_steps=decay_steps)
    assert first_difference(ours, expected) is None


@pytest.mark.parametrize("decay_rate", [0.95, 0.5])
def test_exponential_decay_agrees_with_exponential_lr(decay_rate):
    expected = torch_lrs(lambda o: lr_scheduler.ExponentialLR(o, decay_rate), 0.2, 60)
    assert first_difference(exponential_decay_schedule(0.2, decay_rate), expected) is None


def test_constant_agrees_with_constant_lr():
    expected = torch_lrs(lambda o: lr_scheduler.ConstantLR(o, factor=1.0, total_iters=5), 0.05, 20)
    assert first_difference(constant_schedule(0.05), expected) is None


@pytest.mark.parametrize("total_steps", [1, 10, 100])
@pytest.mark.parametrize("min_lr", [0.0, 0.01])
def test_cosine_agrees_with_cosine_annealing_lr(total_steps, min_lr):
    base_lr = 0.1
    expected = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, total_steps, min_lr),
                         base_lr, total_steps + 1)
    assert first_difference(cosine_decay_schedule(base_lr, total_steps, min_lr), expected) is None
    ours = scheduler_lrs(LRScheduler(base_lr, total_steps=total_steps), "cosine_annealing",
                         total_steps + 20, min_lr=min_lr)
    assert first_difference(ours, expected) is None
    # past total_steps torch climbs back up; the course's schedules hold at min_lr
    assert ours[total_steps:] == [pytest.approx(min_lr, abs=1e-15)] * 20


@pytest.mark.parametrize("warmup_steps", [1, 10])
@pytest.mark.parametrize("init_fraction", [0.1, 0.5])
def test_linear_warmup_agrees_with_linear_lr(warmup_steps, init_fraction):
    base_lr = 0.4
    expected = torch_lrs(lambda o: lr_scheduler.LinearLR(o, init_fraction, 1.0, warmup_steps),
                         base_lr, warmup_steps + 20)
    schedule = linear_warmup_schedule(base_lr, warmup_steps, init_lr=init_fraction * base_lr)
    assert first_difference(schedule, expected) is None


def torch_warmup_cosine(base_lr, warmup_steps, total_steps, min_lr, init_lr, steps):
    return torch_lrs(lambda o: lr_scheduler.SequentialLR(o, [
        lr_scheduler.LinearLR(o, init_lr / base_lr, 1.0, warmup_steps),
        lr_scheduler.CosineAnnealingLR(o, total_steps - warmup_steps, min_lr),
    ], milestones=[warmup_steps]), base_lr, steps)


@pytest.mark.parametrize("warmup_steps, total_steps", [(1, 10), (7, 40), (50, 200)])
def test_warmup_cosine_agrees_with_sequential_lr(warmup_steps, total_steps):
    base_lr, min_lr, init_lr = 0.3, 0.01, 0.03
    expected = torch_warmup_cosine(base_lr, warmup_steps, total_steps, min_lr, init_lr, total_steps + 1)
    schedule = warmup_cosine_schedule(base_lr, warmup_steps, total_steps, min_lr, init_lr)
    assert first_difference(schedule, expected) is None


def shifted_torch_warmup_cosine(base_lr, warmup_steps, total_steps, min_lr):
    """torch for the graded warmup from exactly 0: LinearLR cannot start at 0, but
    LinearLR(1/W, 1, W-1) at torch step k gives base_lr (k+1)/W, the course's value at
    t = k + 1; the cosine phase shifts the same way. So course[t] = torch[t - 1], t >= 1."""
    return torch_lrs(lambda o: lr_scheduler.SequentialLR(o, [
        lr_scheduler.LinearLR(o, 1 / warmup_steps, 1.0, warmup_steps - 1),
        lr_scheduler.CosineAnnealingLR(o, total_steps - warmup_steps, min_lr),
    ], milestones=[warmup_steps - 1]), base_lr, total_steps)


def warmup_cosine_disagreement(scheduler: LRScheduler, min_lr: float) -> str | None:
    W, T, base = scheduler.warmup_steps, scheduler.total_steps, scheduler.base_lr
    ours = scheduler_lrs(scheduler, "warmup_cosine", T + 1, min_lr=min_lr)
    if W == 0:
        expected = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T, min_lr), base, T + 1)
        return first_difference(ours, expected)
    if ours[0] != 0.0:
        return f"step 0: expected lr 0.0, got {ours[0]!r}"
    return first_difference(ours, shifted_torch_warmup_cosine(base, W, T, min_lr), offset=1)


@pytest.mark.parametrize("warmup_steps, total_steps", [(0, 50), (2, 10), (10, 100), (100, 1000)])
@pytest.mark.parametrize("min_lr", [0.0, 0.001])
def test_lr_scheduler_warmup_cosine_agrees_with_torch(warmup_steps, total_steps, min_lr):
    scheduler = LRScheduler(0.1, warmup_steps=warmup_steps, total_steps=total_steps)
    assert warmup_cosine_disagreement(scheduler, min_lr) is None


@pytest.mark.parametrize("cycle_steps, cycle_mult", [(5, 1), (10, 1), (5, 2), (3, 3)])
def test_restarts_agree_with_cosine_annealing_warm_restarts(cycle_steps, cycle_mult):
    base_lr, min_lr = 0.2, 0.002
    expected = torch_lrs(lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, cycle_steps, cycle_mult, min_lr),
                         base_lr, 150)
    schedule = cosine_with_restarts_schedule(base_lr, cycle_steps, cycle_mult, min_lr)
    assert first_difference(schedule, expected) is None


@pytest.mark.parametrize("total_steps, pct_start, div_factor, final_div_factor", [
    (100, 0.3, 25.0, 1e4), (37, 0.25, 10.0, 100.0), (10, 0.5, 5.0, 2.0),
])
def test_one_cycle_agrees_with_one_cycle_lr(total_steps, pct_start, div_factor, final_div_factor):
    max_lr = 0.5
    expected = torch_lrs(lambda o: lr_scheduler.OneCycleLR(
        o, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, anneal_strategy="cos",
        cycle_momentum=False, div_factor=div_factor, final_div_factor=final_div_factor,
        three_phase=False), max_lr, total_steps)
    schedule = one_cycle_schedule(max_lr, total_steps, pct_start, div_factor, final_div_factor)
    assert first_difference(schedule, expected) is None
    assert schedule(total_steps + 10) == pytest.approx(max_lr / div_factor / final_div_factor, rel=1e-12)


# ---------------------------------------------------------------- closed forms

def test_lr_scheduler_closed_form_values():
    s = LRScheduler(base_lr=0.1, warmup_steps=100, total_steps=1000)
    expected = {
        # step: (step_decay(0.5, 250), cosine_annealing(0.0), warmup_cosine(0.01))
        0: (0.1, 0.1, 0.0),
        50: (0.1, 0.05 * (1 + math.cos(math.pi * 0.05)), 0.05),
        100: (0.1, 0.05 * (1 + math.cos(math.pi * 0.1)), 0.1),
        249: (0.1, 0.05 * (1 + math.cos(math.pi * 0.249)), 0.01 + 0.045 * (1 + math.cos(math.pi * 149 / 900))),
        250: (0.05, 0.05 * (1 + math.cos(math.pi * 0.25)), 0.01 + 0.045 * (1 + math.cos(math.pi / 6))),
        500: (0.025, 0.05, 0.01 + 0.045 * (1 + math.cos(math.pi * 4 / 9))),
        550: (0.025, 0.05 * (1 + math.cos(math.pi * 0.55)), 0.055),
        1000: (0.1 * 0.5**4, 0.0, 0.01),
        1500: (0.1 * 0.5**6, 0.0, 0.01),
    }
    for step, (decay, cosine, warm) in expected.items():
        s.current_step = step
        assert s.step_decay(decay_rate=0.5, decay_steps=250) == pytest.approx(decay, rel=1e-12)
        assert s.cosine_annealing(min_lr=0.0) == pytest.approx(cosine, rel=1e-12, abs=1e-15)
        assert s.warmup_cosine(min_lr=0.01) == pytest.approx(warm, rel=1e-12)


def test_step_advances_the_counter_by_one():
    s = LRScheduler(0.1)
    assert s.current_step == 0
    for _ in range(3):
        s.step()
    assert s.current_step == 3


def test_restart_lengths_grow_by_cycle_mult():
    schedule = cosine_with_restarts_schedule(1.0, 4, cycle_mult=2)
    restarts = [t for t in range(1, 60) if schedule(t) == 1.0]
    assert restarts == [4, 12, 28]  # cycles of 4, 8, 16 steps


# ---------------------------------------------------------------- properties

@HYPOTHESIS
@given(schedule_settings(), st.data())
def test_lr_scheduler_end_points_and_bounds(config, data):
    W, T, base, low = config["warmup_steps"], config["total_steps"], config["base_lr"], config["min_lr"]
    s = LRScheduler(base, warmup_steps=W, total_steps=T)

    def at(t, method):
        s.current_step = t
        return getattr(s, method)(min_lr=low)

    # warmup starts at 0 and reaches base_lr at W; the cosine starts at base_lr and ends at min_lr
    assert at(0, "warmup_cosine") == (0.0 if W > 0 else pytest.approx(base, rel=1e-12))
    assert at(W, "warmup_cosine") == pytest.approx(base, rel=1e-12)
    assert at(0, "cosine_annealing") == pytest.approx(base, rel=1e-12)
    for method in ("cosine_annealing", "warmup_cosine"):
        assert at(T, method) == pytest.approx(low, rel=1e-12, abs=1e-15 * base)
        assert at(T + data.draw(st.integers(0, 10 * T)), method) == pytest.approx(low, rel=1e-12, abs=1e-15 * base)
    tol = 1e-12 * base
    for t in data.draw(st.lists(st.integers(0, 2 * T), min_size=1, max_size=10)):
        assert low - tol <= at(t, "cosine_annealing") <= base + tol
        if t >= W:
            assert low - tol <= at(t, "warmup_cosine") <= base + tol
        else:
            assert 0.0 <= at(t, "warmup_cosine") <= at(t + 1, "warmup_cosine") <= base + tol


@HYPOTHESIS
@given(schedule_settings(), st.integers(1, 4), st.lists(st.integers(0, 20000), min_size=1, max_size=10))
def test_restarts_stay_between_min_and_base(config, cycle_mult, steps):
    base, low = config["base_lr"], config["min_lr"]
    schedule = cosine_with_restarts_schedule(base, config["total_steps"], cycle_mult, low)
    assert schedule(0) == pytest.approx(base, rel=1e-12)
    for t in steps:
        assert low - 1e-12 * base <= schedule(t) <= base * (1 + 1e-12)


@HYPOTHESIS
@given(st.integers(4, 5000), st.floats(0.05, 0.95), st.floats(1.0, 100.0), st.floats(1.0, 1e4),
       st.lists(st.integers(0, 10000), min_size=1, max_size=10))
def test_one_cycle_end_points_and_bounds(total_steps, pct_start, div_factor, final_div_factor, steps):
    peak_step = pct_start * total_steps - 1
    if peak_step <= 0:
        return
    schedule = one_cycle_schedule(1.0, total_steps, pct_start, div_factor, final_div_factor)
    final = 1.0 / div_factor / final_div_factor
    assert schedule(0) == pytest.approx(1.0 / div_factor, rel=1e-12)
    assert schedule(total_steps - 1) == pytest.approx(final, rel=1e-9)
    for t in steps:
        assert final * (1 - 1e-9) <= schedule(t) <= 1.0 + 1e-12


# ---------------------------------------------------------------- the checks have teeth

class CosineWithoutClamp(LRScheduler):
    def cosine_annealing(self, min_lr=0.0):
        progress = self.current_step / self.total_steps
        return float(min_lr + 0.5 * (self.base_lr - min_lr) * (1 + math.cos(math.pi * progress)))


class WarmupFromOneStep(LRScheduler):
    """The (t + 1) / W warmup of some of the source material: never starts at 0."""

    def warmup_cosine(self, min_lr=0.0):
        if self.current_step < self.warmup_steps:
            return self.base_lr * (self.current_step + 1) / self.warmup_steps
        return super().warmup_cosine(min_lr)


class ContinuousStepDecay(LRScheduler):
    def step_decay(self, decay_rate=0.5, decay_steps=100):
        return self.base_lr * decay_rate ** (self.current_step / decay_steps)


def closed_form_cosine(base_lr, total_steps, min_lr):
    return lambda t: min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * min(t, total_steps) / total_steps))


def test_check_catches_cosine_without_clamp():
    steps, expected_fn = 150, closed_form_cosine(0.1, 100, 0.01)
    expected = [expected_fn(t) for t in range(steps)]
    good = scheduler_lrs(LRScheduler(0.1, total_steps=100), "cosine_annealing", steps, min_lr=0.01)
    bad = scheduler_lrs(CosineWithoutClamp(0.1, total_steps=100), "cosine_annealing", steps, min_lr=0.01)
    assert first_difference(good, expected) is None
    assert first_difference(bad, expected) is not None


def test_check_catches_warmup_off_by_one():
    assert warmup_cosine_disagreement(WarmupFromOneStep(0.1, warmup_steps=10, total_steps=100), 0.0) is not None


def test_check_catches_step_decay_without_floor():
    expected = torch_lrs(lambda o: lr_scheduler.StepLR(o, 7, 0.9), 1.0, 100)
    bad = scheduler_lrs(ContinuousStepDecay(1.0, total_steps=100), "step_decay", 100, decay_rate=0.9, decay_steps=7)
    assert first_difference(bad, expected) is not None


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("kwargs, match", [
    (dict(base_lr=-0.1), r"base_lr must be >= 0, got -0\.1"),
    (dict(base_lr=0.1, total_steps=0), r"total_steps must be > 0, got 0"),
    (dict(base_lr=0.1, warmup_steps=-1), r"warmup_steps must be in \[0, total_steps=1000\), got -1"),
    (dict(base_lr=0.1, warmup_steps=100, total_steps=100), r"warmup_steps must be in \[0, total_steps=100\), got 100"),
])
def test_bad_constructor_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LRScheduler(**kwargs)


@pytest.mark.parametrize("method, kwargs, match", [
    ("step_decay", dict(decay_steps=0), r"decay_steps must be > 0, got 0"),
    ("step_decay", dict(decay_rate=0.0), r"decay_rate must be > 0, got 0\.0"),
    ("cosine_annealing", dict(min_lr=-0.01), r"min_lr must be in \[0\.0, base_lr=0\.1\], got -0\.01"),
    ("cosine_annealing", dict(min_lr=0.2), r"min_lr must be in \[0\.0, base_lr=0\.1\], got 0\.2"),
    ("warmup_cosine", dict(min_lr=0.2), r"min_lr must be in \[0\.0, base_lr=0\.1\], got 0\.2"),
])
def test_bad_method_arguments_raise(method, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(LRScheduler(0.1, warmup_steps=10), method)(**kwargs)


@pytest.mark.parametrize("make, match", [
    (lambda: cosine_decay_schedule(0.1, 0), r"decay_steps must be > 0, got 0"),
    (lambda: exponential_decay_schedule(0.1, -0.5), r"decay_rate must be > 0, got -0\.5"),
    (lambda: linear_warmup_schedule(0.1, 10, init_lr=0.5), r"init_lr must be in \[0\.0, base_lr=0\.1\], got 0\.5"),
    (lambda: cosine_with_restarts_schedule(0.1, 10, cycle_mult=1.5), r"cycle_mult must be an integer >= 1, got 1\.5"),
    (lambda: one_cycle_schedule(0.1, 100, pct_start=1.0), r"pct_start must be in \(0\.0, 1\.0\), got 1\.0"),
    (lambda: one_cycle_schedule(0.1, 3, pct_start=0.3), r"pct_start \* total_steps must be > 1"),
    (lambda: constant_schedule(0.1)(-1), r"step must be >= 0, got -1"),
])
def test_bad_schedule_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
