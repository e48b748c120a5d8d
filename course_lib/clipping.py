r"""Gradient clipping by global norm and by value, and an optimizer that uses them.

All functions act on the ``.grad`` of a list of parameters, in place, and skip
parameters whose gradient is ``None``. The global norm treats all gradients as
one long vector:

$$\lVert g \rVert = \sqrt{\textstyle\sum_{p} \sum_i g_{p,i}^2}.$$
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from course_lib.validation import check_non_negative, check_params, check_positive


def global_grad_norm(params: Iterable[torch.Tensor]) -> float:
    r"""Global L2 norm $\sqrt{\sum_p \sum_i g_{p,i}^2}$ of the gradients of ``params``.

    Args:
        params: tensors; those whose ``.grad`` is ``None`` are skipped.

    Returns:
        The norm as a Python float (0.0 when no parameter has a gradient).
    """
    total = 0.0
    for param in params:
        if param.grad is not None:
            total += float(torch.sum(param.grad * param.grad))
    return math.sqrt(total)


@torch.no_grad()
def clip_grad_norm(params: Iterable[torch.Tensor], max_norm: float) -> float:
    r"""Rescale all gradients together so that their global norm is at most ``max_norm``.

    $$g \leftarrow g \cdot \frac{c}{\lVert g \rVert} \quad \text{if } \lVert g \rVert > c$$

    Every gradient is multiplied by the same factor, so the direction of the joint
    update is kept. (``torch.nn.utils.clip_grad_norm_`` divides by
    $\lVert g \rVert + 10^{-6}$, so it clips very slightly more.)

    Args:
        params: tensors whose ``.grad`` is clipped in place.
        max_norm: $c > 0$.

    Returns:
        The global norm *before* clipping.
    """
    check_positive("max_norm", max_norm)
    params = list(params)
    norm = global_grad_norm(params)
    if norm > max_norm:
        scale = max_norm / norm
        for param in params:
            if param.grad is not None:
                param.grad.mul_(scale)
    return norm


@torch.no_grad()
def clip_grad_value(params: Iterable[torch.Tensor], clip_value: float) -> None:
    r"""Clamp every gradient entry to $[-c, c]$ in place: $g_i \leftarrow \min(\max(g_i, -c), c)$.

    Unlike clipping by norm, this can change the direction of the gradient.

    Args:
        params: tensors whose ``.grad`` is clipped in place.
        clip_value: $c > 0$.
    """
    check_positive("clip_value", clip_value)
    for param in params:
        if param.grad is not None:
            param.grad.clamp_(-clip_value, clip_value)


class ClippingOptimizer:
    r"""Gradient descent with gradient clipping and an optional pull towards reference parameters.

    :meth:`step` records the global gradient norm (before clipping, whenever some
    clipping is on) in ``grad_norms``, clips by norm, then by value, and updates
    $\theta \leftarrow \theta - \eta\, g$.

    :meth:`step_with_constraint` also adds the gradient of the penalty
    $\tfrac{\beta}{2}\lVert\theta - \theta_{\text{ref}}\rVert_2^2$ after clipping:

    $$g \leftarrow g + \beta\,(\theta - \theta_{\text{ref}}), \qquad
      \theta \leftarrow \theta - \eta\, g.$$

    This is an L2 (trust-region, or proximal) pull that keeps the parameters near
    $\theta_{\text{ref}}$. Its name, ``kl_penalty``, calls it a KL penalty:
    it equals one only for Gaussians of a fixed, shared variance $\sigma^2$, for which
    $\mathrm{KL}(\mathcal N(\theta, \sigma^2 I)\,\|\,\mathcal N(\theta_{\text{ref}}, \sigma^2 I))
    = \lVert\theta - \theta_{\text{ref}}\rVert^2 / (2\sigma^2)$. In general (e.g. between
    two policies' action distributions) a KL term is a different function of $\theta$.

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$.
        clip_norm: maximum global gradient norm $> 0$, or ``None`` (no clipping by norm).
        clip_value: maximum absolute gradient entry $> 0$, or ``None`` (no clipping by value).
        kl_penalty: coefficient $\beta \ge 0$ of the pull in :meth:`step_with_constraint`.

    Attributes:
        grad_norms: the pre-clipping global norm of every step taken with clipping on.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        kl_penalty: float = 0.0,
    ) -> None:
        check_non_negative("lr", lr)
        if clip_norm is not None:
            check_positive("clip_norm", clip_norm)
        if clip_value is not None:
            check_positive("clip_value", clip_value)
        check_non_negative("kl_penalty", kl_penalty)
        self.params = check_params(params)
        self.lr = lr
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.kl_penalty = kl_penalty
        self.grad_norms: list[float] = []

    def compute_grad_norm(self) -> float:
        r"""Global L2 norm $\sqrt{\sum_p \sum_i g_{p,i}^2}$ of the current gradients, as a float.

        Returns:
            The norm (0.0 when no parameter has a gradient).
        """
        return global_grad_norm(self.params)

    def clip_by_norm(self) -> None:
        r"""If $\lVert g\rVert > c$, scale every gradient by $c / \lVert g\rVert$, in place.

        $c$ is ``clip_norm``; does nothing when ``clip_norm`` is ``None``.
        """
        if self.clip_norm is not None:
            clip_grad_norm(self.params, self.clip_norm)

    def clip_by_value(self) -> None:
        """Clamp every gradient entry to ``[-clip_value, clip_value]`` (in place).

        Does nothing when ``clip_value`` is ``None``.
        """
        if self.clip_value is not None:
            clip_grad_value(self.params, self.clip_value)

    def _clip(self) -> None:
        """Record the pre-clipping norm, then clip by norm, then by value (when enabled)."""
        if self.clip_norm is not None or self.clip_value is not None:
            self.grad_norms.append(self.compute_grad_norm())
        self.clip_by_norm()
        self.clip_by_value()

    @torch.no_grad()
    def _descend(self) -> None:
        for param in self.params:
            if param.grad is not None:
                param.add_(param.grad, alpha=-self.lr)

    @torch.no_grad()
    def step_with_constraint(self, reference_params: Sequence[torch.Tensor] | None = None) -> None:
        r"""Clip, add the pull $\beta(\theta - \theta_{\text{ref}})$ to each gradient, then step.

        The pull is added (in place, to ``.grad``) only when ``kl_penalty > 0`` and
        ``reference_params`` is given; otherwise this is :meth:`step`. The pull is
        added after clipping, so it is never clipped.

        Args:
            reference_params: one tensor per parameter, same shapes, or ``None``.
        """
        if reference_params is not None:
            reference_params = list(reference_params)
            if len(reference_params) != len(self.params):
                raise ValueError(
                    f"reference_params must hold one tensor per parameter ({len(self.params)}), "
                    f"got {len(reference_params)}"
                )
            for index, (param, ref) in enumerate(zip(self.params, reference_params)):
                if tuple(ref.shape) != tuple(param.shape):
                    raise ValueError(
                        f"reference_params[{index}] must have shape {tuple(param.shape)}, "
                        f"got {tuple(ref.shape)}"
                    )
        self._clip()
        if self.kl_penalty > 0 and reference_params is not None:
            for param, ref in zip(self.params, reference_params):
                if param.grad is not None:
                    param.grad.add_(param - ref, alpha=self.kl_penalty)
        self._descend()

    def step(self) -> None:
        """Record the pre-clipping norm (if clipping is on), clip by norm, then by value, step."""
        self._clip()
        self._descend()

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
