r"""Gradient clipping by the infinity norm (the largest absolute gradient entry).

All gradients of a list of parameters are treated as one long vector $g$, and

$$\lVert g \rVert_\infty = \max_{p, i} \lvert g_{p,i} \rvert, \qquad
  g \leftarrow g \cdot \frac{c}{\lVert g \rVert_\infty} \quad \text{if } \lVert g \rVert_\infty > c.$$

Like clipping by the L2 norm (:func:`course_lib.clipping.clip_grad_norm`), every entry is
multiplied by the same factor, so the direction of the update is kept; unlike clipping by
value (:func:`course_lib.clipping.clip_grad_value`), which also bounds every entry by $c$
but clamps each one separately. It is ``torch.nn.utils.clip_grad_norm_(params, c,
norm_type=math.inf)`` without torch's $10^{-6}$ in the denominator.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

from course_lib.validation import check_positive


def grad_inf_norm(params: Iterable[torch.Tensor]) -> float:
    r"""The infinity norm $\max_{p,i} \lvert g_{p,i}\rvert$ of the gradients of ``params``.

    Args:
        params: tensors; those whose ``.grad`` is ``None`` (or empty) are skipped.

    Returns:
        The norm as a Python float (0.0 when no parameter has a gradient).
    """
    largest = 0.0
    for param in params:
        if param.grad is not None and param.grad.numel():
            largest = max(largest, float(param.grad.abs().max()))
    return largest


@torch.no_grad()
def clip_grad_inf_norm(params: Iterable[torch.Tensor], max_norm: float) -> float:
    r"""Rescale all gradients together so that no entry exceeds ``max_norm`` in absolute value.

    $$g \leftarrow g \cdot \frac{c}{\lVert g\rVert_\infty} \quad \text{if } \lVert g\rVert_\infty > c$$

    Args:
        params: tensors whose ``.grad`` is rescaled in place.
        max_norm: $c > 0$.

    Returns:
        The infinity norm *before* clipping.

    Raises:
        ValueError: if ``max_norm`` is not > 0.
    """
    check_positive("max_norm", max_norm)
    params = list(params)
    norm = grad_inf_norm(params)
    if norm > max_norm:
        scale = max_norm / norm
        for param in params:
            if param.grad is not None:
                param.grad.mul_(scale)
    return norm
