"""A small, complete mini-batch trainer for "same model, different optimizer" demos.

One training step on a mini-batch $B$:

$$\\mathcal{L}_B(\\theta) = \\frac{1}{|B|}\\sum_{i \\in B} \\ell(f_\\theta(x_i), y_i), \\qquad
g = \\nabla_\\theta \\mathcal{L}_B,$$

then, if clipping, $g \\leftarrow g \\cdot \\min\\left(1, c / \\lVert g \\rVert_2\\right)$,
and finally ``optimizer.step()``. The recorded gradient norm is the global
norm $\\lVert g \\rVert_2$ over all parameters *before* clipping, which is the
quantity a clipping threshold is compared with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from course_lib.trajectories import get_learning_rate, set_learning_rate

__all__ = ["make_mlp", "TrainingHistory", "train", "accuracy", "torch_threads"]


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the previous setting.

    The course's models are tiny: splitting their matrix products across
    threads gains nothing, and on a shared machine (Binder, a busy laptop)
    threads that wait for a busy core can make training ten times slower.
    ``None`` leaves the setting alone.
    """
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def make_mlp(
    in_features: int, hidden: int, out_features: int, depth: int = 2, seed: int = 0
) -> nn.Sequential:
    """A multilayer perceptron with ``depth`` hidden ReLU layers of width ``hidden``.

    ``depth=2`` gives ``Linear(in, h) -> ReLU -> Linear(h, h) -> ReLU -> Linear(h, out)``;
    ``depth=0`` gives a single linear layer (logistic / linear regression).
    Weights use PyTorch's default initialisation drawn under ``seed``; the
    global random state is left untouched.

    Args:
        in_features: input dimension, >= 1.
        hidden: width of each hidden layer, >= 1.
        out_features: output dimension (number of classes), >= 1.
        depth: number of hidden layers, >= 0.
        seed: seed of the initialisation.

    Returns:
        The model as an ``nn.Sequential``.
    """
    for name, value, low in (
        ("in_features", in_features, 1),
        ("hidden", hidden, 1),
        ("out_features", out_features, 1),
        ("depth", depth, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, out_features))
        return nn.Sequential(*layers)


@dataclass
class TrainingHistory:
    """What :func:`train` recorded.

    Attributes:
        losses: mini-batch loss at every step.
        lrs: learning rate used at every step.
        grad_norms: global gradient norm at every step, before clipping.
        train_accuracy: accuracy on the whole training set after every epoch
            (classification only: integer labels).
        test_accuracy: accuracy on the test set after every epoch (when given).
        test_losses: loss on the test set after every epoch (when given).
        steps_per_epoch: mini-batches per epoch.
        diverged: True when training stopped because the loss became non-finite.
    """

    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    test_losses: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    diverged: bool = False

    @property
    def final_loss(self) -> float:
        """The last recorded mini-batch loss."""
        return self.losses[-1] if self.losses else math.nan


def accuracy(model: nn.Module, X: Tensor, y: Tensor) -> float:
    """Share of samples whose arg-max output equals the label."""
    with torch.no_grad():
        return float((model(X).argmax(dim=1) == y).to(torch.float64).mean())


def _global_grad_norm(parameters: list[Tensor]) -> float:
    """$\\sqrt{\\sum_p \\lVert \\nabla_p \\rVert_2^2}$ over the parameters that have a gradient."""
    grads = [p.grad.detach().to(torch.float64) for p in parameters if p.grad is not None]
    squares = [torch.sum(g**2) for g in grads]
    return math.sqrt(float(sum(squares))) if squares else 0.0


def train(
    model: nn.Module,
    make_optimizer: Callable[[list[Tensor]], Any],
    X: Tensor,
    y: Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    clip_norm: float | None = None,
    seed: int = 0,
    progress: bool = False,
    X_test: Tensor | None = None,
    y_test: Tensor | None = None,
    num_threads: int | None = 1,
    drop_last: bool = False,
) -> TrainingHistory:
    """Train ``model`` with mini-batches and record losses, learning rates and gradient norms.

    Args:
        model: the network; trained in place.
        make_optimizer: called once with ``list(model.parameters())``; returns
            an object with ``zero_grad()`` and ``step()`` (torch.optim or a course class).
        X, y: training inputs and targets.
        epochs: passes over the training set, >= 1.
        batch_size: samples per mini-batch, >= 1 (the last batch may be smaller).
        loss_fn: ``(outputs, targets) -> scalar``; cross-entropy when None.
        lr_schedule: optional ``step -> lr`` over global steps, set before each
            step as in :func:`course_lib.trajectories.run_optimizer`.
        clip_norm: if given, clip the global gradient norm to this value with
            ``torch.nn.utils.clip_grad_norm_`` before each step.
        seed: seed of the mini-batch shuffling (the initialisation is
            :func:`make_mlp`'s seed).
        progress: show a tqdm progress bar over epochs.
        X_test, y_test: optional held-out data evaluated after every epoch.
        num_threads: torch threads used while training (see :func:`torch_threads`);
            None keeps the current setting.
        drop_last: skip the last mini-batch of an epoch when it is smaller than
            ``batch_size`` (a tiny batch gives a noisy gradient, visible as a
            spike in the gradient norm once per epoch).

    Returns:
        The :class:`TrainingHistory`. Training stops early, with
        ``diverged=True``, when a mini-batch loss is not finite.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if clip_norm is not None and not (clip_norm > 0 and math.isfinite(clip_norm)):
        raise ValueError(f"clip_norm must be a finite number > 0 or None, got {clip_norm}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")

    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    classification = not y.is_floating_point()
    optimizer = make_optimizer(list(model.parameters()))
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(X) // batch_size if drop_last else math.ceil(len(X) / batch_size)
    if steps_per_epoch == 0:
        raise ValueError(
            f"batch_size must be <= len(X) = {len(X)} when drop_last=True, got {batch_size}"
        )
    history = TrainingHistory(steps_per_epoch=steps_per_epoch)

    with torch_threads(num_threads):
        for _ in _epochs(epochs, progress, history):
            _train_one_epoch(
                model, optimizer, loss_fn, X, y, batch_size, lr_schedule, clip_norm, generator,
                history, history.steps_per_epoch,
            )
            if history.diverged:
                break
            model.eval()
            if classification:
                history.train_accuracy.append(accuracy(model, X, y))
            if X_test is not None and y_test is not None:
                with torch.no_grad():
                    history.test_losses.append(float(loss_fn(model(X_test), y_test)))
                if classification:
                    history.test_accuracy.append(accuracy(model, X_test, y_test))
    return history


def _epochs(epochs: int, progress: bool, history: TrainingHistory) -> Iterator[int]:
    """Yield the epoch numbers, with a tqdm bar showing the last loss when ``progress``."""
    if not progress:
        yield from range(epochs)
        return
    from tqdm.auto import tqdm

    with tqdm(total=epochs, desc="epochs") as bar:
        for epoch in range(epochs):
            yield epoch
            bar.update(1)
            if history.losses:
                bar.set_postfix(loss=f"{history.losses[-1]:.3g}")


def _train_one_epoch(
    model: nn.Module,
    optimizer: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    X: Tensor,
    y: Tensor,
    batch_size: int,
    lr_schedule: Callable[[int], float] | None,
    clip_norm: float | None,
    generator: torch.Generator,
    history: TrainingHistory,
    steps: int,
) -> None:
    """One shuffled pass of ``steps`` mini-batches; stops at a non-finite loss."""
    parameters = list(model.parameters())
    model.train()
    order = torch.randperm(len(X), generator=generator)
    for k in range(steps):
        batch = order[k * batch_size : (k + 1) * batch_size]
        if lr_schedule is not None:
            set_learning_rate(optimizer, float(lr_schedule(len(history.losses))))
        optimizer.zero_grad()
        loss = loss_fn(model(X[batch]), y[batch])
        loss.backward()
        grad_norm = _global_grad_norm(parameters)  # before clipping
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, clip_norm)
        history.losses.append(float(loss.detach()))
        history.lrs.append(get_learning_rate(optimizer))
        history.grad_norms.append(grad_norm)
        if not math.isfinite(history.losses[-1]):
            history.diverged = True
            return
        optimizer.step()
