"""What an optimizer remembers: measuring its state in bytes, and storing it in 8 bits.

Memory per parameter is read off the state tensors themselves, never quoted:
$\\text{bytes per parameter} = \\sum_{s \\in \\text{state}} \\text{numel}(s)\\cdot\\text{itemsize}(s)
\\,/\\, \\sum_{p} \\text{numel}(p)$.

Block-wise quantisation (Dettmers et al., 2022, "8-bit Optimizers via Block-wise
Quantization") splits a state tensor into blocks of ``block_size`` entries, divides each
block by its largest magnitude $a_b$ and stores one 8-bit code per entry plus $a_b$ in
float32: $1 + 4/\\text{block\\_size}$ bytes per entry instead of 4. The codes here are
$q_k = \\operatorname{sign}(u_k)\\,|u_k|^{p}$ for 255 evenly spaced $u_k \\in [-1, 1]$ (0 among them): $p = 1$
is linear, $p > 1$ spends more codes near zero, a simple stand-in for the non-linear
"dynamic" code of bitsandbytes.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from course_lib.validation import check_betas, check_non_negative, check_params, check_positive

__all__ = ["state_tensors", "bytes_per_parameter", "QuantizedTensor", "quantize_blockwise", "dequantize_blockwise",
           "QuantizedStateAdam"]


def state_tensors(optimizer: Any) -> list[Tensor]:
    """Every tensor an optimizer keeps between steps (its parameters excluded).

    Works for ``torch.optim`` optimizers (``optimizer.state``) and for the course's
    classes, whose state is kept in attributes holding tensors or lists of tensors
    (``m``, ``v``, ``sums``, ``exp_avg``, ...). A :class:`QuantizedTensor` counts
    with its codes and scales.
    """
    found: list[Tensor] = []

    def collect(value: Any) -> None:
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, QuantizedTensor):
            found.extend([value.codes, value.scales])
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)

    if isinstance(optimizer, torch.optim.Optimizer):
        for per_param in optimizer.state.values():
            collect(per_param)
        return found
    params = {id(p) for p in getattr(optimizer, "params", [])}
    for name, value in vars(optimizer).items():
        if name != "params":
            collect(value)
    return [t for t in found if id(t) not in params]


def bytes_per_parameter(optimizer: Any, params: Iterable[Tensor]) -> float:
    """Bytes of optimizer state per parameter entry, measured from :func:`state_tensors`.

    Take one step first: ``torch.optim`` creates its state lazily.
    """
    count = sum(p.numel() for p in params)
    if count == 0:
        raise ValueError("params must hold at least one entry, got none")
    return sum(t.numel() * t.element_size() for t in state_tensors(optimizer)) / count


class QuantizedTensor(NamedTuple):
    """A tensor stored as 8-bit codes with one float32 scale per block.

    Attributes:
        codes: uint8 codes, one per entry (flattened, padded to whole blocks).
        scales: float32 largest magnitude of each block.
        shape: the original shape.
        dtype: the original dtype.
        power: exponent $p$ of the code values.
    """

    codes: Tensor
    scales: Tensor
    shape: torch.Size
    dtype: torch.dtype
    power: float


def quantize_blockwise(x: Tensor, block_size: int = 256, power: float = 1.0) -> QuantizedTensor:
    """Quantise ``x`` block by block to 8-bit codes (see the module docstring).

    Args:
        x: the tensor to store.
        block_size: entries per block sharing one scale, an integer >= 1.
        power: exponent $p > 0$ of the code values (1: linear).

    Returns:
        The :class:`QuantizedTensor`; :func:`dequantize_blockwise` reads it back.
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    check_positive("power", power)
    flat = x.detach().reshape(-1).to(torch.float32)
    padding = (-flat.numel()) % block_size
    blocks = torch.nn.functional.pad(flat, (0, padding)).reshape(-1, block_size)
    scales = blocks.abs().amax(dim=1)
    normalised = blocks / torch.where(scales > 0, scales, torch.ones_like(scales))[:, None]
    u = normalised.sign() * normalised.abs().pow(1.0 / power)
    codes = torch.round((u + 1) * 127).clamp(0, 254).to(torch.uint8)
    return QuantizedTensor(codes.reshape(-1), scales, x.shape, x.dtype, float(power))


def dequantize_blockwise(q: QuantizedTensor) -> Tensor:
    """The tensor a :class:`QuantizedTensor` stands for (shape and dtype restored)."""
    u = q.codes.to(torch.float32) / 127 - 1
    values = (u.sign() * u.abs().pow(q.power)).reshape(q.scales.numel(), -1) * q.scales[:, None]
    count = 1
    for size in q.shape:
        count *= size
    return values.reshape(-1)[:count].reshape(q.shape).to(q.dtype)


class QuantizedStateAdam:
    r"""Adam whose moments live between steps as 8-bit block-quantised tensors.

    Each step dequantises $m$ and $v$, takes the Adam step of
    :class:`course_lib.adam.AdamOptimizer` and quantises them again, so the state costs
    about $2\,(1 + 4/\text{block\_size})$ bytes per parameter instead of 8. Both use the code
    with exponent ``power``: their entries span orders of magnitude within a block.
    A simulation of 8-bit Adam: the arithmetic itself stays in float32.

    Args:
        params: the tensors to optimize.
        lr: learning rate $\eta \ge 0$.
        betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
        eps: $\epsilon \ge 0$.
        block_size: entries per block, an integer >= 1.
        power: exponent of the code values, > 0 (1: linear).

    Attributes:
        t: steps taken.
        m, v: one :class:`QuantizedTensor` per parameter.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, block_size: int = 256, power: float = 4.0) -> None:
        check_non_negative("lr", lr)
        self.beta1, self.beta2 = check_betas(betas)
        check_non_negative("eps", eps)
        self.params = check_params(params)
        self.lr, self.eps, self.block_size, self.power = lr, eps, block_size, power
        self.t = 0
        self.m = [quantize_blockwise(torch.zeros_like(p), block_size, power) for p in self.params]
        self.v = [quantize_blockwise(torch.zeros_like(p), block_size, power) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on the dequantised moments, which are then stored in 8 bits again."""
        self.t += 1
        for i, param in enumerate(self.params):
            if param.grad is None:
                continue
            grad = param.grad
            m = self.beta1 * dequantize_blockwise(self.m[i]) + (1 - self.beta1) * grad
            v = self.beta2 * dequantize_blockwise(self.v[i]) + (1 - self.beta2) * grad * grad
            m_hat = m / (1 - self.beta1**self.t)
            v_hat = v / (1 - self.beta2**self.t)
            param.add_(m_hat / (torch.sqrt(v_hat) + self.eps), alpha=-self.lr)
            self.m[i] = quantize_blockwise(m, self.block_size, self.power)
            self.v[i] = quantize_blockwise(v, self.block_size, self.power)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter that has one to zero."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
