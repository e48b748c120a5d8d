"""Argument checks shared by every constructor in the course library.

Each helper raises :class:`ValueError` with a message that names the argument,
the value it received and what is allowed, for example
``ValueError("lr must be >= 0, got -0.1")``. A NaN fails every check.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch


def check_non_negative(name: str, value: float) -> None:
    """Require ``value >= 0``.

    Args:
        name: the argument's name, used in the message.
        value: the value to check.

    Raises:
        ValueError: ``"<name> must be >= 0, got <value>"``.
    """
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_positive(name: str, value: float) -> None:
    """Require ``value > 0``.

    Raises:
        ValueError: ``"<name> must be > 0, got <value>"``.
    """
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_in_range(
    name: str,
    value: float,
    low: float,
    high: float,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    high_name: str | None = None,
) -> None:
    """Require ``value`` to lie between ``low`` and ``high``.

    Args:
        name: the argument's name, used in the message.
        value: the value to check.
        low: lower end of the allowed interval.
        high: upper end of the allowed interval.
        low_inclusive: whether ``low`` itself is allowed.
        high_inclusive: whether ``high`` itself is allowed.
        high_name: name of the argument that sets ``high``, shown as ``name=value``.

    Raises:
        ValueError: ``"<name> must be in [low, high), got <value>"`` (brackets as allowed).
    """
    above_low = value >= low if low_inclusive else value > low
    below_high = value <= high if high_inclusive else value < high
    if not (above_low and below_high):
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        upper = f"{high_name}={high}" if high_name else f"{high}"
        raise ValueError(f"{name} must be in {left}{low}, {upper}{right}, got {value}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Require ``value`` to be one of ``choices``.

    Raises:
        ValueError: ``"<name> must be one of 'a', 'b', got 'c'"``.
    """
    if value not in choices:
        allowed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_params(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """Turn ``params`` into a list of tensors, as every optimizer stores them.

    Args:
        params: an iterable of tensors (a list, or ``model.parameters()``).

    Returns:
        The parameters as a list.

    Raises:
        ValueError: when the list is empty or holds something that is not a tensor.
    """
    if isinstance(params, torch.Tensor):
        raise ValueError(
            "params must be a list of tensors, got a single tensor: wrap it as [tensor]"
        )
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one tensor, got an empty list")
    for index, param in enumerate(params):
        if not isinstance(param, torch.Tensor):
            raise ValueError(f"params[{index}] must be a torch.Tensor, got {type(param).__name__}")
    return params


def check_betas(betas: Sequence[float]) -> tuple[float, float]:
    """Require a pair ``(beta1, beta2)`` of decay rates, each in ``[0, 1)``.

    Returns:
        The pair as floats.

    Raises:
        ValueError: ``"betas must be a pair (beta1, beta2), ..."`` or
        ``"betas[0] must be in [0.0, 1.0), got 1.0"``.
    """
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    beta1, beta2 = betas
    check_in_range("betas[0]", beta1, 0.0, 1.0, high_inclusive=False)
    check_in_range("betas[1]", beta2, 0.0, 1.0, high_inclusive=False)
    return float(beta1), float(beta2)
