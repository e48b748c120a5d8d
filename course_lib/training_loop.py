r"""A training loop you can trust: accumulation, clipping, parameter groups, warmup + cosine, tracking.

Four pieces, each small enough to check against an oracle:

- :func:`train_step`: one optimizer step from several micro-batches of possibly different
  sizes $n_1, \dots, n_M$ ($N = \sum_i n_i$). With ``loss_fn`` averaging over its batch, the
  mean loss over all $N$ examples is

  $$\bar\ell = \sum_{i=1}^{M} \frac{n_i}{N}\,\ell_i,$$

  so each micro-batch's loss is weighted by its share $n_i/N$ before ``backward()``: the
  accumulated gradient is then $\nabla\bar\ell$, the gradient of one big batch (for models
  without batch statistics). When ``max_norm`` is set the global norm
  $\|g\| = \sqrt{\sum_p \|g_p\|^2}$ is clipped as ``torch.nn.utils.clip_grad_norm_`` does,
  then ``optimizer.step()``.
- :func:`adaptive_clip_grad_`: unit-wise adaptive gradient clipping (AGC, Brock et al., 2021).
  For each unit $i$ (a row: every dimension but the first; the whole tensor for 0-1
  dimensional parameters) with weight $W_i$ and gradient $G_i$,

  $$G_i \leftarrow \begin{cases} G_i & \|G_i\| < \lambda \max(\|W_i\|, \epsilon) \\
     \lambda \max(\|W_i\|, \epsilon)\, \dfrac{G_i}{\max(\|G_i\|, 10^{-6})} & \text{otherwise}\end{cases}$$

  exactly as ``timm.utils.agc.adaptive_clip_grad``. The $\epsilon$ keeps zero-initialised
  parameters (biases) trainable: without it their allowed norm is 0 and they never move.
- :func:`param_groups`: groups for a torch optimizer. Parameters with two or more dimensions
  get weight decay, biases and normalisation weights none; with layer-wise decay the
  top-level child $k$ of $L$ gets $\eta\,\gamma^{L-1-k}$ (the last layer gets $\eta$), every
  parameter of one layer the same rate.
- :func:`fit`: AdamW on those groups, warmup + cosine (chapter 3) per optimizer step,
  global-norm clipping, evaluation per epoch, and the weights of the best epoch kept.

References:
    Andrew Brock, Soham De, Samuel L. Smith, Karen Simonyan, *High-Performance Large-Scale Image
    Recognition Without Normalization*, ICML 2021 (arXiv:2102.06171), section 4.1.
    Kevin Clark, Minh-Thang Luong, Quoc V. Le, Christopher D. Manning, *ELECTRA*, ICLR 2020
    (layer-wise learning-rate decay for fine-tuning).
    Ilya Loshchilov, Frank Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from course_lib.schedules import warmup_cosine_schedule

__all__ = ["train_step", "adaptive_clip_grad_", "param_groups", "fit", "epoch_seed", "fit_lrs"]


def _finite_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _global_norm(grads: list[Tensor]) -> Tensor:
    if not grads:
        return torch.tensor(0.0)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads]))


def train_step(model: nn.Module, loss_fn, micro_batches: Sequence[tuple[Tensor, Tensor]],
               optimizer: torch.optim.Optimizer, max_norm: float | None = None) -> tuple[float, float]:
    r"""One optimizer step from ``micro_batches`` (gradient accumulation), optionally clipped.

    Zeroes the gradients, then for each micro-batch $i$ of $n_i$ examples backpropagates
    $\frac{n_i}{N}\,\ell_i$ (``loss_fn`` averages over its batch), so that ``.grad`` holds the
    gradient of the mean loss over all $N$ examples. When ``max_norm`` is set, the global norm
    is clipped with ``torch.nn.utils.clip_grad_norm_``; then ``optimizer.step()``.
    The accumulated, clipped gradient stays in ``.grad``.

    Returns:
        ``(mean loss over all examples, global gradient norm before clipping)`` as floats.
    """
    if not isinstance(micro_batches, (list, tuple)) or not micro_batches:
        raise ValueError(f"micro_batches must be a non-empty list of (inputs, targets), got {micro_batches!r}")
    if max_norm is not None:
        _finite_positive("max_norm", max_norm)
    sizes = [len(targets) for _, targets in micro_batches]
    if min(sizes) < 1:
        raise ValueError(f"micro_batches: every micro-batch needs at least one example, got sizes {sizes}")
    total = sum(sizes)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for (inputs, targets), size in zip(micro_batches, sizes):
        loss = loss_fn(model(inputs), targets)
        (loss * (size / total)).backward()
        loss_sum += loss.item() * size
    parameters = [p for p in model.parameters() if p.grad is not None]
    if max_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    else:
        norm = _global_norm([p.grad for p in parameters])
    optimizer.step()
    return loss_sum / total, float(norm)


def _unit_norm(x: Tensor) -> Tensor:
    if x.ndim <= 1:
        return torch.linalg.vector_norm(x)
    return torch.linalg.vector_norm(x, dim=tuple(range(1, x.ndim)), keepdim=True)


@torch.no_grad()
def adaptive_clip_grad_(parameters: Iterable[Tensor] | Tensor, clip_factor: float = 0.01,
                        eps: float = 1e-3) -> None:
    r"""Unit-wise adaptive gradient clipping, in place (see the module docstring for the formula).

    Args:
        parameters: tensors (or one tensor) whose ``.grad`` is clipped; those without one are skipped.
        clip_factor: $\lambda > 0$, the largest allowed ratio of gradient norm to weight norm.
        eps: $\epsilon \ge 0$, the smallest weight norm a unit is credited with.
    """
    _finite_positive("clip_factor", clip_factor)
    _finite_positive("eps", eps, allow_zero=True)
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    for p in parameters:
        if p.grad is None:
            continue
        allowed = _unit_norm(p.detach()).clamp(min=eps) * clip_factor
        grad_norm = _unit_norm(p.grad)
        scaled = p.grad * (allowed / grad_norm.clamp(min=1e-6))
        p.grad.copy_(torch.where(grad_norm < allowed, p.grad, scaled))


def param_groups(model: nn.Module, lr: float, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    r"""Parameter groups: no weight decay on biases and norms, layer-wise learning-rate decay.

    The layers are ``model``'s top-level children that own a trainable parameter, in order
    ($L$ of them; a parameter shared by two children belongs to the first). Every parameter of
    layer $k$ gets the rate $\eta\,\gamma^{L-1-k}$ and weight decay ``weight_decay`` when it has
    two or more dimensions, 0 otherwise.

    Raises:
        ValueError: on a bad argument, or a trainable parameter registered directly on ``model``
            (it belongs to no layer).
    """
    _finite_positive("lr", lr, allow_zero=True)
    _finite_positive("weight_decay", weight_decay, allow_zero=True)
    _finite_positive("layer_decay", layer_decay)
    direct = [name for name, p in model.named_parameters(recurse=False) if p.requires_grad]
    if direct:
        raise ValueError(f"model: parameter {direct[0]!r} is registered directly on the model, not in a "
                         f"top-level child; layer-wise groups need every trainable parameter inside a child")
    seen: set[int] = set()
    layers: list[list[Tensor]] = []
    for child in model.children():
        owned = []
        for p in child.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                owned.append(p)
        if owned:
            layers.append(owned)
    groups = []
    for k, owned in enumerate(layers):
        rate = lr * layer_decay ** (len(layers) - 1 - k)
        decay = [p for p in owned if p.ndim >= 2]
        no_decay = [p for p in owned if p.ndim < 2]
        for params, wd in ((decay, weight_decay), (no_decay, 0.0)):
            if params:
                groups.append({"params": params, "lr": rate, "weight_decay": wd})
    return groups


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s shuffle: ``seed * 1000 + epoch``."""
    return seed * 1000 + epoch


def fit_lrs(peak_lr: float, total_steps: int, warmup_fraction: float) -> list[float]:
    r"""The rate of each optimizer step $k = 0..T-1$: chapter 3's warmup + cosine at step $k + 1$,
    $W = \max(1, \operatorname{round}(f\,T))$ (Python's ``round``: halves to even)."""
    warmup = max(1, round(warmup_fraction * total_steps))
    if warmup >= total_steps:
        raise ValueError(f"warmup_fraction={warmup_fraction!r} gives {warmup} warmup steps of {total_steps}: "
                         f"fewer than the total are needed (more epochs, smaller batches or a smaller fraction)")
    schedule = warmup_cosine_schedule(peak_lr, warmup, total_steps)
    return [schedule(k + 1) for k in range(total_steps)]


@torch.no_grad()
def _evaluate(model: nn.Module, inputs: Tensor, targets: Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(inputs)
    loss = nn.functional.cross_entropy(logits, targets).item()
    accuracy = (logits.argmax(dim=1) == targets).double().mean().item()
    return loss, accuracy


def fit(model: nn.Module, train_set: tuple[Tensor, Tensor], val_set: tuple[Tensor, Tensor], *, epochs: int,
        batch_size: int, peak_lr: float, warmup_fraction: float = 0.1, weight_decay: float = 0.01,
        max_norm: float | None = 1.0, accumulation_steps: int = 1, seed: int = 0) -> dict:
    r"""Train a classifier with cross-entropy; keep the weights of the best epoch.

    Epoch $e$ shuffles the training set with ``torch.randperm(n, generator=g)``, ``g`` a
    ``torch.Generator`` seeded with ``seed * 1000 + e`` (:func:`epoch_seed`), cuts it into
    micro-batches of ``batch_size`` (the last may be smaller) and takes one :func:`train_step`
    per ``accumulation_steps`` micro-batches (the last group may be shorter), clipping at
    ``max_norm``. AdamW (torch's defaults otherwise) runs on ``param_groups(model, peak_lr,
    weight_decay)``; step $k$ uses :func:`fit_lrs`'s rate. After each epoch the model is
    evaluated (eval mode, one batch).

    Returns:
        ``{"lr", "loss", "grad_norm"}`` (one entry per optimizer step; the norms before clipping),
        ``{"val_loss", "val_accuracy"}`` (one per epoch, accuracy as a fraction) and
        ``"best_epoch"`` (from 0, the first epoch with the highest accuracy), whose weights the
        model holds on return.
    """
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size)
    _positive_int("accumulation_steps", accumulation_steps)
    _finite_positive("peak_lr", peak_lr)
    if not (isinstance(warmup_fraction, (int, float)) and 0 <= warmup_fraction < 1):
        raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    inputs, targets = train_set
    val_inputs, val_targets = val_set
    n = len(targets)
    if n < 1 or len(inputs) != n:
        raise ValueError(f"train_set must be (inputs, targets) with the same number >= 1 of rows, got {len(inputs)} "
                         f"and {n}")
    micro = math.ceil(n / batch_size)
    steps_per_epoch = math.ceil(micro / accumulation_steps)
    lrs = fit_lrs(peak_lr, epochs * steps_per_epoch, warmup_fraction)
    groups = param_groups(model, peak_lr, weight_decay)
    optimizer = torch.optim.AdamW(groups)
    loss_fn = nn.CrossEntropyLoss()
    history: dict = {"lr": [], "loss": [], "grad_norm": [], "val_loss": [], "val_accuracy": [], "best_epoch": 0}
    best_state, best_accuracy, step = None, -1.0, 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))
        batches = [(inputs[order[i:i + batch_size]], targets[order[i:i + batch_size]])
                   for i in range(0, n, batch_size)]
        for start in range(0, len(batches), accumulation_steps):
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
            loss, norm = train_step(model, loss_fn, batches[start:start + accumulation_steps], optimizer, max_norm)
            history["lr"].append(lrs[step])
            history["loss"].append(loss)
            history["grad_norm"].append(norm)
            step += 1
        val_loss, accuracy = _evaluate(model, val_inputs, val_targets)
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(accuracy)
        if accuracy > best_accuracy:
            best_accuracy, best_state, history["best_epoch"] = accuracy, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    model.train()
    return history
