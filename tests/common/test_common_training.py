"""The trainer against a hand-written loop, plus determinism, schedules, clipping and speed."""
from __future__ import annotations

import copy
import math
import time

import pytest
import torch
from torch import nn

from course_lib.datasets import load_digits_tensors, make_regression_problem
from course_lib.training import TrainingHistory, make_mlp, torch_threads, train


@pytest.fixture(scope="module")
def digits():
    return load_digits_tensors()


def sgd(lr):
    return lambda params: torch.optim.SGD(params, lr=lr)


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(("depth", "linears"), [(0, 1), (1, 2), (2, 3), (3, 4)])
def test_make_mlp_layout(depth, linears):
    model = make_mlp(64, 32, 10, depth=depth)
    layers = [m for m in model if isinstance(m, nn.Linear)]
    assert len(layers) == linears
    assert sum(isinstance(m, nn.ReLU) for m in model) == depth
    assert layers[0].in_features == 64 and layers[-1].out_features == 10
    assert model(torch.zeros(5, 64)).shape == (5, 10)


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_make_mlp_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = make_mlp(8, 16, 3, seed=7)
    assert torch.equal(torch.rand(3), expected_next)
    b = make_mlp(8, 16, 3, seed=7)
    c = make_mlp(8, 16, 3, seed=8)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_make_mlp_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden must be an integer >= 1, got 0"):
        make_mlp(4, 0, 2)
    with pytest.raises(ValueError, match="depth must be an integer >= 0, got -1"):
        make_mlp(4, 8, 2, depth=-1)


def test_full_batch_training_equals_a_hand_written_gradient_descent_loop(digits):
    X, y = digits[0][:200], digits[1][:200]
    model = make_mlp(64, 16, 10, depth=1, seed=1)
    reference = copy.deepcopy(model)
    history = train(model, sgd(0.3), X, y, epochs=4, batch_size=len(X))

    expected_losses = []
    with torch_threads(1):
        for _ in range(4):
            reference.zero_grad()
            loss = nn.functional.cross_entropy(reference(X), y)
            loss.backward()
            expected_losses.append(float(loss.detach()))
            with torch.no_grad():
                for p in reference.parameters():
                    p -= 0.3 * p.grad
    assert history.losses == pytest.approx(expected_losses, rel=1e-5)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
    assert history.lrs == [0.3] * 4
    assert history.steps_per_epoch == 1


def test_history_lengths_accuracy_and_determinism(digits):
    X_train, y_train, X_test, y_test = digits
    runs = []
    for _ in range(2):
        model = make_mlp(64, 32, 10)
        runs.append(
            train(model, lambda p: torch.optim.Adam(p, lr=1e-2), X_train, y_train, epochs=3, batch_size=128,
                  X_test=X_test, y_test=y_test, seed=5)
        )
    first, second = runs
    steps = 3 * math.ceil(len(X_train) / 128)
    assert len(first.losses) == len(first.lrs) == len(first.grad_norms) == steps
    assert len(first.train_accuracy) == len(first.test_accuracy) == len(first.test_losses) == 3
    assert first.losses == second.losses and first.test_accuracy == second.test_accuracy
    assert first.test_accuracy[-1] > 0.9
    assert first.final_loss == first.losses[-1]
    dropped = train(make_mlp(64, 32, 10), sgd(0.1), X_train, y_train, epochs=2, batch_size=128, drop_last=True)
    assert len(dropped.losses) == 2 * (len(X_train) // 128) == 2 * dropped.steps_per_epoch
    different_shuffle = train(make_mlp(64, 32, 10), lambda p: torch.optim.Adam(p, lr=1e-2), X_train, y_train,
                              epochs=1, batch_size=128, seed=6)
    assert different_shuffle.losses[1] != first.losses[1]


class PlainGD:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad


@pytest.mark.parametrize("make_optimizer", [sgd(99.0), lambda p: PlainGD(p, 99.0)], ids=["torch", "lr-attribute"])
def test_lr_schedule_sets_the_rate_of_every_step(digits, make_optimizer):
    X, y = digits[0][:256], digits[1][:256]
    schedule = lambda step: 0.1 * 0.5**step  # noqa: E731
    history = train(make_mlp(64, 8, 10), make_optimizer, X, y, epochs=2, batch_size=64, lr_schedule=schedule)
    assert history.lrs == pytest.approx([schedule(s) for s in range(8)])


def test_clipping_bounds_the_update_and_records_the_norm_before_clipping(digits):
    X, y = digits[0][:300], digits[1][:300]
    model = make_mlp(64, 16, 10, seed=2)
    before = _weights(model)
    history = train(model, sgd(1.0), X, y, epochs=1, batch_size=len(X), clip_norm=1e-3)
    update = math.sqrt(sum(float(((p - q) ** 2).sum()) for p, q in zip(_weights(model), before)))
    assert update == pytest.approx(1e-3, rel=1e-4)  # lr * c: the clipped gradient has norm c

    unclipped = make_mlp(64, 16, 10, seed=2)  # the same initial model; its gradient by hand
    with torch_threads(1):
        loss = nn.functional.cross_entropy(unclipped(X), y)
        grads = torch.autograd.grad(loss, list(unclipped.parameters()))
    expected_norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    assert history.grad_norms == pytest.approx([expected_norm], rel=1e-5)
    assert expected_norm > 1e-2


def test_regression_with_mse_records_test_loss_but_no_accuracy():
    X, y, _ = make_regression_problem(n=128, d=6, noise=0.05, seed=1)
    model = make_mlp(6, 1, 1, depth=0)
    history = train(model, sgd(0.1), X, y.unsqueeze(1), epochs=30, batch_size=32,
                    loss_fn=nn.functional.mse_loss, X_test=X[:16], y_test=y[:16].unsqueeze(1))
    assert history.train_accuracy == [] and history.test_accuracy == []
    assert len(history.test_losses) == 30
    assert history.test_losses[-1] < 0.01 < history.test_losses[0]


def test_divergence_stops_training():
    X, y, _ = make_regression_problem(n=64, d=4, seed=0)
    history = train(make_mlp(4, 1, 1, depth=0), sgd(1e6), X, y.unsqueeze(1), epochs=50, batch_size=64,
                    loss_fn=nn.functional.mse_loss)
    assert history.diverged
    assert len(history.losses) < 50
    assert not math.isfinite(history.losses[-1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
     ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
     ({"clip_norm": -1.0}, "clip_norm must be a finite number > 0 or None, got -1.0"),
     ({"X_test": torch.zeros(2, 64)}, "X_test and y_test must be given together")],
)
def test_train_rejects_bad_arguments(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(make_mlp(64, 4, 10), sgd(0.1), digits[0], digits[1], **kwargs)


def test_five_epochs_on_digits_take_about_a_second(digits):
    X_train, y_train, X_test, y_test = digits
    start = time.perf_counter()
    history = train(make_mlp(64, 64, 10), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), X_train, y_train,
                    epochs=5, batch_size=64, X_test=X_test, y_test=y_test, progress=False)
    elapsed = time.perf_counter() - start
    assert isinstance(history, TrainingHistory)
    assert history.test_accuracy[-1] > 0.9
    assert elapsed < 6.0, f"5 epochs took {elapsed:.1f} s"
