"""The reference ReduceLROnPlateau agrees with torch.optim.lr_scheduler.ReduceLROnPlateau,
fed the same metric sequences, attribute by attribute, after every step."""
from __future__ import annotations

import itertools
import math
import zlib

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from course_lib.plateau import ReduceLROnPlateau


def run_both(metrics, lr: float, **settings) -> None:
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=lr)
    theirs = lr_scheduler.ReduceLROnPlateau(optimizer, **settings)
    ours = ReduceLROnPlateau(lr, **settings)
    for epoch, metric in enumerate(metrics):
        theirs.step(metric)
        returned = ours.step(metric)
        where = f"epoch {epoch}, metric {metric!r}, settings {settings}"
        assert returned == ours.lr == optimizer.param_groups[0]["lr"], where
        assert ours.best == theirs.best, where
        assert ours.num_bad_epochs == theirs.num_bad_epochs, where
        assert ours.cooldown_counter == theirs.cooldown_counter, where


def on_threshold(start: float, threshold: float, mode: str, threshold_mode: str, count: int) -> list[float]:
    """Metrics that sit exactly on, just inside and just outside the improvement threshold of the last best."""
    metrics, best = [start], start
    for index in range(count):
        if threshold_mode == "rel":
            edge = best * (1 - threshold) if mode == "min" else best * (1 + threshold)
        else:
            edge = best - threshold if mode == "min" else best + threshold
        towards = -math.inf if mode == "min" else math.inf
        value = [edge, np.nextafter(edge, towards), np.nextafter(edge, -towards)][index % 3]
        metrics.append(float(value))
        better = value < edge if mode == "min" else value > edge
        if better:
            best = float(value)
    return metrics


SETTINGS = [
    dict(mode=mode, threshold_mode=threshold_mode, factor=factor, patience=patience, cooldown=cooldown,
         threshold=threshold, min_lr=min_lr)
    for mode, threshold_mode in itertools.product(["min", "max"], ["rel", "abs"])
    for factor, patience, cooldown, threshold, min_lr in [(0.1, 10, 0, 1e-4, 0.0), (0.5, 2, 3, 0.01, 1e-3),
                                                          (0.3, 0, 1, 0.1, 0.0), (0.9, 4, 0, 0.0, 0.01)]
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(str(v) for v in s.values()))
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_noisy_and_flat_sequences(settings, sign) -> None:
    rng = np.random.default_rng(zlib.crc32(str(settings).encode()))
    trend = np.linspace(3.0, 1.0, 150) + 0.05 * rng.standard_normal(150)
    flat = np.concatenate([trend, np.full(60, trend[-1]), trend[-1] + 0.01 * rng.standard_normal(200)])
    run_both([sign * float(v) for v in flat], 0.1, **settings)


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(str(v) for v in s.values()))
@pytest.mark.parametrize("start", [2.0, -2.0, 0.0, 1e-3])
def test_sequences_built_on_the_threshold(settings, start) -> None:
    metrics = on_threshold(start, max(settings["threshold"], 1e-3), settings["mode"], settings["threshold_mode"], 300)
    run_both(metrics, 0.1, **dict(settings, threshold=max(settings["threshold"], 1e-3)))


def test_a_worse_negative_metric_counts_as_an_improvement_in_relative_mode() -> None:
    scheduler = ReduceLROnPlateau(0.1, threshold=0.1, patience=0)
    scheduler.step(-1.0)
    scheduler.step(-0.95)  # worse (higher) loss, but below best·(1 − 0.1) = −0.9
    assert scheduler.best == -0.95 and scheduler.num_bad_epochs == 0
    run_both([-1.0, -0.95, -0.9, -0.86, -0.85], 0.1, threshold=0.1, patience=0)


def test_the_eps_rule_skips_tiny_cuts_but_still_resets_the_counters() -> None:
    metrics = [1.0] * 40
    run_both(metrics, 1e-8, patience=2, cooldown=2, eps=1e-8)
    run_both(metrics, 0.05, factor=0.5, patience=1, min_lr=0.04, eps=1e-3, cooldown=1)
    scheduler = ReduceLROnPlateau(1e-8, patience=0, cooldown=3)
    scheduler.step(1.0)
    scheduler.step(1.0)  # a bad epoch: 1e-9 is within eps of 1e-8, the rate stays, the counters restart
    assert scheduler.lr == 1e-8 and scheduler.cooldown_counter == 3 and scheduler.num_bad_epochs == 0


def test_min_lr_floor_and_long_plateaus() -> None:
    run_both([5.0] + [5.0] * 500, 1.0, factor=0.5, patience=3, min_lr=1e-3)
    run_both([1.0] * 300, 0.1, factor=0.1, patience=0, eps=0.0)


def test_metric_may_be_a_tensor() -> None:
    scheduler = ReduceLROnPlateau(0.1, patience=0)
    scheduler.step(torch.tensor(1.0))
    assert scheduler.step(torch.tensor(1.0)) == pytest.approx(0.01)


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(lr=-0.1), "lr"), (dict(lr=0.1, mode="low"), "mode"), (dict(lr=0.1, factor=1.0), "factor"),
    (dict(lr=0.1, factor=-0.5), "factor"), (dict(lr=0.1, patience=-1), "patience"),
    (dict(lr=0.1, patience=2.5), "patience"), (dict(lr=0.1, threshold=-1e-4), "threshold"),
    (dict(lr=0.1, threshold_mode="relative"), "threshold_mode"), (dict(lr=0.1, cooldown=-2), "cooldown"),
    (dict(lr=0.1, min_lr=-1.0), "min_lr"), (dict(lr=0.1, eps=-1e-8), "eps"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, name) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must"):
        ReduceLROnPlateau(**kwargs)
