r"""The learning-rate range test (Smith, 2017) and the suggestion read from its curve.

The test trains for at most ``num_steps`` mini-batches while the learning rate grows
exponentially from $\eta_{\text{start}}$ to $\eta_{\text{end}}$:

$$\eta_i = \eta_{\text{start}}\left(\frac{\eta_{\text{end}}}{\eta_{\text{start}}}\right)^{i/(N-1)},
\qquad i = 0, \dots, N-1,$$

written into every parameter group *before* step $i$ (zero the gradients, forward, loss,
backward, ``optimizer.step()``). The recorded loss is smoothed with an exponential moving
average, $s_0 = \ell_0$, $s_i = f\,\ell_i + (1-f)\,s_{i-1}$ ($f = 0$ records the raw losses),
and the test stops right after recording the first $s_i > \tau \cdot \min_{j \le i} s_j$
(the loss has diverged). Afterwards the model (parameters, buffers, train/eval mode) and the
optimizer (state and learning rates) are exactly as they were.

The suggestion is the learning rate where the trimmed curve falls fastest:
$\arg\min_i \nabla s_i$, with ``np.gradient`` over the index.

These are the semantics of the ``torch-lr-finder`` package (``LRFinder.range_test`` with
``step_mode="exp"``, then ``plot(suggest_lr=True)``), with three differences: the start rate is
an argument here (the package takes the optimizer's rate when ``start_lr`` is None), the restore
is part of the call (the package restores only when ``reset()`` is called, and never the
train/eval mode), and too short a curve raises ``ValueError`` (the package raises
``RuntimeError``).

References:
    Leslie N. Smith, *Cyclical Learning Rates for Training Neural Networks*, WACV 2017
    (arXiv:1506.01186), section 3.3.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["lr_range_test", "suggest_lr", "range_test_lrs"]


def range_test_lrs(start_lr: float, end_lr: float, num_steps: int) -> list[float]:
    r"""The exponentially spaced rates $\eta_i = \eta_s (\eta_e/\eta_s)^{i/(N-1)}$, $i = 0..N-1$."""
    return [start_lr * (end_lr / start_lr) ** (i / (num_steps - 1)) for i in range(num_steps)]


def _check_arguments(start_lr: float, end_lr: float, num_steps: int, smooth_factor: float,
                     diverge_threshold: float, batches: Sequence) -> None:
    if not (isinstance(start_lr, (int, float)) and math.isfinite(start_lr) and start_lr > 0):
        raise ValueError(f"start_lr must be a finite number > 0, got {start_lr!r}")
    if not (isinstance(end_lr, (int, float)) and math.isfinite(end_lr) and end_lr > start_lr):
        raise ValueError(f"end_lr must be a finite number > start_lr = {start_lr!r}, got {end_lr!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    if not (isinstance(smooth_factor, (int, float)) and 0 <= smooth_factor < 1):
        raise ValueError(f"smooth_factor must be in [0, 1), got {smooth_factor!r}")
    if not (isinstance(diverge_threshold, (int, float)) and diverge_threshold > 1):
        raise ValueError(f"diverge_threshold must be a number > 1, got {diverge_threshold!r}")
    if len(batches) == 0:
        raise ValueError("batches must hold at least one (inputs, targets) pair, got an empty sequence")


def lr_range_test(model: nn.Module, loss_fn: Callable, batches: Sequence, optimizer: torch.optim.Optimizer,
                  start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 100,
                  smooth_factor: float = 0.05, diverge_threshold: float = 5.0) -> tuple[list[float], list[float]]:
    r"""Run the learning-rate range test and put the model and optimizer back as they were.

    Step $i$ ($i = 0, 1, \dots$) writes $\eta_i = \eta_s(\eta_e/\eta_s)^{i/(N-1)}$ into every
    parameter group, then zeroes the gradients, computes ``loss_fn(model(x), y)`` on batch
    ``i mod len(batches)``, calls ``backward()`` and ``optimizer.step()``. It records $\eta_i$ and
    $s_i$ ($s_0 = \ell_0$, $s_i = f\ell_i + (1-f)s_{i-1}$), updates
    $\text{best} = \min(\text{best}, s_i)$, and stops after recording the first
    $s_i > \tau\cdot\text{best}$.

    Args:
        model: the network; in train mode during the test.
        loss_fn: ``loss_fn(outputs, targets) -> scalar tensor``.
        batches: ``(inputs, targets)`` pairs, used in order and cycled.
        optimizer: a torch optimizer over the model's parameters.
        start_lr: $\eta_s > 0$, the rate of step 0.
        end_lr: $\eta_e > \eta_s$, the rate of step $N - 1$.
        num_steps: $N \ge 2$, the most steps the test takes.
        smooth_factor: $f \in [0, 1)$, the weight of the newest loss (0: no smoothing).
        diverge_threshold: $\tau > 1$; stop once the smoothed loss exceeds $\tau$ times the best.

    Returns:
        ``(lrs, losses)``: the rate of each step taken and its smoothed loss, as floats.
    """
    _check_arguments(start_lr, end_lr, num_steps, smooth_factor, diverge_threshold, batches)
    model_state = copy.deepcopy(model.state_dict())
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    modes = [module.training for module in model.modules()]
    grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    lrs: list[float] = []
    losses: list[float] = []
    try:
        model.train()
        best = math.inf
        for i, lr in enumerate(range_test_lrs(start_lr, end_lr, num_steps)):
            for group in optimizer.param_groups:
                group["lr"] = lr
            inputs, targets = batches[i % len(batches)]
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            value = float(loss.item())
            smoothed = value if i == 0 or smooth_factor == 0 else smooth_factor * value + (1 - smooth_factor) * losses[-1]
            lrs.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if smoothed > diverge_threshold * best:
                break
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        for module, training in zip(model.modules(), modes):
            module.training = training
        for parameter, grad in zip(model.parameters(), grads):
            parameter.grad = grad
    return lrs, losses


def suggest_lr(lrs: Sequence[float], losses: Sequence[float], skip_start: int = 10, skip_end: int = 5) -> float:
    r"""The learning rate where the trimmed loss curve falls fastest.

    Both lists are trimmed to ``[skip_start : len - skip_end]`` (``skip_end = 0`` keeps the tail);
    the answer is ``lrs[k]`` with $k = \arg\min_i \nabla s_i$, where $\nabla$ is ``np.gradient`` over
    the index (central differences inside, one-sided at the ends), the first index on a tie.

    Args:
        lrs: the rates of the range test.
        losses: the (smoothed) losses, as long as ``lrs``.
        skip_start: points dropped at the start (the flat, noisy beginning), >= 0.
        skip_end: points dropped at the end (the blow-up), >= 0.

    Returns:
        The suggested learning rate, a float.

    Raises:
        ValueError: negative skips, lists of different lengths, or fewer than 2 points left.
    """
    for name, value in (("skip_start", skip_start), ("skip_end", skip_end)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if len(lrs) != len(losses):
        raise ValueError(f"lrs and losses must have the same length, got {len(lrs)} and {len(losses)}")
    kept = len(lrs) - skip_start - skip_end
    if kept < 2:
        raise ValueError(f"skip_start={skip_start} and skip_end={skip_end} leave {max(kept, 0)} of {len(lrs)} "
                         "points; at least 2 are needed (run more steps or skip fewer)")
    trimmed_lrs = list(lrs)[skip_start:len(lrs) - skip_end]
    trimmed_losses = np.asarray(list(losses)[skip_start:len(losses) - skip_end], dtype=np.float64)
    return float(trimmed_lrs[int(np.argmin(np.gradient(trimmed_losses)))])
