"""The reference range test and suggestion against the torch-lr-finder package.

The package (``LRFinder.range_test(..., step_mode="exp")`` and the suggestion of ``plot``) is
the oracle: same rates, same smoothed losses, same stop, on small seeded networks, a run that
diverges early and one that never does, float32 and float64, SGD with momentum and Adam, with
and without batch norm. The restore, which the package leaves to ``reset()``, is checked bit for
bit: parameters and buffers with ``torch.equal``, modes, optimizer state and rates. The checks'
own oracle (``oracle_range_test``, ``oracle_suggestion``) is held to the package here too.
"""
from __future__ import annotations

import contextlib
import copy
import io
import math
import warnings

import numpy as np
import pytest
import torch
import torch_lr_finder.lr_finder as package

from course_lib.checks.chapters import lr_finder as checks
from course_lib.lr_finder import lr_range_test, range_test_lrs, suggest_lr
from course_lib.training import torch_threads

package.tqdm = lambda iterable, *args, **kwargs: iterable  # no progress bars in the test output


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest, and every run reduces in the same order (batch norm on
    several threads sums in another order, so the last bits would differ between thread counts)."""
    with torch_threads(1):
        yield

SETTINGS = {
    # name: (problem options, range-test arguments, "diverges" or "never")
    "sgd-float64-diverges": (dict(dtype="float64", loss="mse", optimizer="sgd"),
                             dict(start_lr=1e-4, end_lr=100.0, num_steps=60), "diverges"),
    "sgd-float32-diverges-ce": (dict(dtype="float32", loss="cross_entropy", optimizer="sgd", groups=2),
                                dict(start_lr=1e-3, end_lr=200.0, num_steps=50, smooth_factor=0.2), "diverges"),
    "adam-float32-never": (dict(dtype="float32", loss="mse", optimizer="adam", groups=2),
                           dict(start_lr=1e-6, end_lr=1e-3, num_steps=30), "never"),
    "adam-float64-never-raw": (dict(dtype="float64", loss="cross_entropy", optimizer="adam"),
                               dict(start_lr=1e-6, end_lr=1e-3, num_steps=25, smooth_factor=0.0), "never"),
    "batchnorm-eval-sgd": (dict(dtype="float64", loss="cross_entropy", optimizer="sgd", batch_norm=True, train=False),
                           dict(start_lr=1e-4, end_lr=100.0, num_steps=80, smooth_factor=0.1), "diverges"),
    "batchnorm-float32-adam": (dict(dtype="float32", loss="mse", optimizer="adam", batch_norm=True),
                               dict(start_lr=1e-5, end_lr=10.0, num_steps=70), None),
}


def _problem(name: str, seed: int = 0):
    options, kwargs, _ = SETTINGS[name]
    specs = checks._problem(np.random.default_rng(seed), **options)
    return specs, kwargs


def _package_run(specs: dict, kwargs: dict):
    """LRFinder.range_test on the objects built from ``specs``: (lrs, losses, model, optimizer)."""
    model, loss_fn, batches, optimizer = checks._build_here(specs)
    full = checks._defaults(kwargs)
    finder = package.LRFinder(model, optimizer, loss_fn)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        finder.range_test(package.TrainDataLoaderIter(batches), start_lr=full["start_lr"], end_lr=full["end_lr"],
                          num_iter=full["num_steps"], step_mode="exp", smooth_f=full["smooth_factor"],
                          diverge_th=full["diverge_threshold"])
    return finder.history["lr"], finder.history["loss"], model, optimizer, finder


def _state(model: torch.nn.Module, optimizer: torch.optim.Optimizer):
    return (copy.deepcopy(model.state_dict()), [m.training for m in model.modules()],
            copy.deepcopy(optimizer.state_dict()))


def _assert_same_state(before, model, optimizer) -> None:
    tensors, modes, optimizer_state = before
    now = model.state_dict()
    assert set(now) == set(tensors)
    for key, value in tensors.items():
        assert torch.equal(now[key], value) and now[key].dtype == value.dtype, key
    assert [m.training for m in model.modules()] == modes
    after = optimizer.state_dict()
    assert after["param_groups"] == optimizer_state["param_groups"]
    assert after["state"].keys() == optimizer_state["state"].keys()
    for index, entries in optimizer_state["state"].items():
        assert after["state"][index].keys() == entries.keys()
        for key, value in entries.items():
            assert torch.equal(torch.as_tensor(after["state"][index][key]), torch.as_tensor(value)), (index, key)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_reference_matches_the_package_and_restores_bit_for_bit(name, seed) -> None:
    specs, kwargs = _problem(name, seed)
    want_lrs, want_losses, _, _, _ = _package_run(specs, kwargs)
    model, loss_fn, batches, optimizer = checks._build_here(specs)
    before = _state(model, optimizer)
    lrs, losses = lr_range_test(model, loss_fn, batches, optimizer, **kwargs)
    assert lrs == want_lrs
    assert losses == want_losses  # the same operations in the same order: equal to the last bit
    _assert_same_state(before, model, optimizer)
    kind = SETTINGS[name][2]
    full = checks._defaults(kwargs)
    if kind == "diverges":
        assert len(lrs) <= full["num_steps"] - 2, "this setting is here to stop early"
        assert losses[-1] > full["diverge_threshold"] * min(losses)
    elif kind == "never":
        assert len(lrs) == full["num_steps"]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_the_checks_oracle_matches_the_package(name) -> None:
    specs, kwargs = _problem(name, 5)
    want_lrs, want_losses, _, _, _ = _package_run(specs, kwargs)
    assert checks._oracle(specs, kwargs) == (want_lrs, want_losses)


def test_the_package_restores_only_on_reset_and_leaves_train_mode() -> None:
    """The difference the chapter names: the restore is part of our call, and includes the modes."""
    specs, kwargs = _problem("batchnorm-eval-sgd")
    model, _, _, optimizer = checks._build_here(specs)
    before = _state(model, optimizer)
    _, _, model, optimizer, finder = _package_run(specs, kwargs)
    assert not torch.equal(model[0].weight, before[0]["0.weight"]), "the package leaves the trained weights"
    finder.reset()
    assert torch.equal(model[0].weight, before[0]["0.weight"]) and torch.equal(model[1].running_mean,
                                                                               before[0]["1.running_mean"])
    assert model.training and not before[1][0], "reset() leaves the model in train mode"


def test_rates_are_exponentially_spaced_and_hit_both_ends() -> None:
    lrs = range_test_lrs(1e-7, 10.0, 100)
    assert lrs[0] == 1e-7 and math.isclose(lrs[-1], 10.0, rel_tol=1e-15)
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    np.testing.assert_allclose(ratios, (1e8) ** (1 / 99), rtol=1e-12)


def test_batches_are_cycled_and_the_model_trains_in_train_mode() -> None:
    seen = []

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))

        def forward(self, x):
            seen.append((int(x[0]), self.training))
            return self.weight * x

    model = Probe().eval()
    batches = [(torch.full((1,), float(i + 1), dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
               for i in range(3)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    lrs, _ = lr_range_test(model, torch.nn.functional.mse_loss, batches, optimizer, start_lr=1e-6, end_lr=1e-5,
                           num_steps=7)
    assert len(lrs) == 7 and [i for i, _ in seen] == [1, 2, 3, 1, 2, 3, 1]
    assert all(training for _, training in seen) and not model.training
    assert optimizer.param_groups[0]["lr"] == 0.5 and model.weight.item() == 1.0 and model.weight.grad is None


def test_the_restore_happens_even_when_the_loss_function_raises() -> None:
    specs, _ = _problem("sgd-float64-diverges")
    model, loss_fn, batches, optimizer = checks._build_here(specs)
    before = _state(model, optimizer)
    calls = []

    def failing(outputs, targets):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return loss_fn(outputs, targets)

    with pytest.raises(RuntimeError, match="boom"):
        lr_range_test(model, failing, batches, optimizer, start_lr=1e-3, end_lr=1.0, num_steps=10)
    _assert_same_state(before, model, optimizer)


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(start_lr=0.0), "start_lr"), (dict(start_lr=1.0, end_lr=0.5), "end_lr"), (dict(num_steps=1), "num_steps"),
    (dict(num_steps=10.0), "num_steps"), (dict(smooth_factor=1.0), "smooth_factor"),
    (dict(smooth_factor=-0.1), "smooth_factor"), (dict(diverge_threshold=1.0), "diverge_threshold"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, name) -> None:
    specs, _ = _problem("sgd-float64-diverges")
    model, loss_fn, batches, optimizer = checks._build_here(specs)
    with pytest.raises(ValueError, match=name):
        lr_range_test(model, loss_fn, batches, optimizer, **kwargs)
    with pytest.raises(ValueError, match="batches"):
        lr_range_test(model, loss_fn, [], optimizer)


def _package_suggestion(lrs, losses, skip_start, skip_end) -> float:
    finder = package.LRFinder(torch.nn.Linear(1, 1), torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1),
                              torch.nn.MSELoss())
    finder.history = {"lr": list(lrs), "loss": list(losses)}
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    with contextlib.redirect_stdout(io.StringIO()):
        _, suggestion = finder.plot(skip_start=skip_start, skip_end=skip_end, ax=ax)
    plt.close(fig)
    return suggestion


@pytest.mark.parametrize("seed", range(6))
def test_suggestion_matches_the_package(seed) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 120))
    lrs = list(np.geomspace(1e-6, 10.0, n))
    losses = list(2.0 - np.cumsum(rng.uniform(-0.05, 0.1, n)))
    for skip_start, skip_end in ((10, 5), (0, 0), (3, 0), (int(rng.integers(0, n // 2)), int(rng.integers(0, n // 3)))):
        want = _package_suggestion(lrs, losses, skip_start, skip_end)
        assert suggest_lr(lrs, losses, skip_start, skip_end) == want
        assert checks.oracle_suggestion(lrs, losses, skip_start, skip_end) == want


def test_suggestion_needs_two_points_like_the_package() -> None:
    lrs, losses = [0.1, 0.2, 0.3, 0.4], [1.0, 0.5, 0.2, 3.0]
    with pytest.raises(RuntimeError):  # the package's error type ...
        _package_suggestion(lrs, losses, 2, 1)
    with pytest.raises(ValueError, match=r"skip_start=2 and skip_end=1"):  # ... ours names both arguments
        suggest_lr(lrs, losses, 2, 1)
    assert suggest_lr(lrs, losses, 2, 0) == 0.3 == _package_suggestion(lrs, losses, 2, 0)
    with pytest.raises(ValueError, match="skip_end"):
        suggest_lr(lrs, losses, 0, -1)
    with pytest.raises(ValueError, match="same length"):
        suggest_lr(lrs, losses[:3], 0, 0)


def test_worked_example_of_the_chapter() -> None:
    assert suggest_lr([0.001, 0.01, 0.1, 1.0], [2.0, 1.9, 1.45, 15.725], 0, 0) == 0.01
