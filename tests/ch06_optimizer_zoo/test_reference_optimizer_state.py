"""Optimizer state is measured from the state tensors; block-wise 8-bit quantisation round-trips."""
from __future__ import annotations

import pytest
import torch

from course_lib.adagrad import AdagradOptimizer
from course_lib.adam import AdamOptimizer, AdamWOptimizer
from course_lib.lamb import LAMBOptimizer
from course_lib.lion import LionOptimizer
from course_lib.optimizer_state import (QuantizedStateAdam, bytes_per_parameter, dequantize_blockwise,
                                        quantize_blockwise, state_tensors)
from tests.strategies import first_disagreement


def _stepped(make, dtype=torch.float32):
    params = [torch.randn(30, 20, dtype=dtype, requires_grad=True), torch.randn(20, dtype=dtype, requires_grad=True)]
    optimizer = make(params)
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer.step()
    return optimizer, params


@pytest.mark.parametrize("make, expected", [
    (lambda p: torch.optim.SGD(p, lr=0.1), 0.0),
    (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), 4.0),
    (lambda p: AdagradOptimizer(p), 4.0),
    (lambda p: LionOptimizer(p), 4.0),
    (lambda p: AdamOptimizer(p), 8.0),
    (lambda p: AdamWOptimizer(p), 8.0),
    (lambda p: LAMBOptimizer(p), 8.0),
], ids=["sgd", "momentum", "adagrad", "lion", "adam", "adamw", "lamb"])
def test_bytes_per_parameter_counts_the_state_tensors(make, expected):
    optimizer, params = _stepped(make)
    assert bytes_per_parameter(optimizer, params) == pytest.approx(expected)


def test_torch_adam_state_includes_its_step_counters_and_float64_doubles():
    optimizer, params = _stepped(lambda p: torch.optim.Adam(p))
    assert bytes_per_parameter(optimizer, params) == pytest.approx(8.0 + 2 * 4 / 620)  # two float32 scalar steps
    optimizer, params = _stepped(lambda p: LionOptimizer(p), dtype=torch.float64)
    assert bytes_per_parameter(optimizer, params) == pytest.approx(8.0)


def test_parameters_are_not_counted_as_state():
    optimizer, params = _stepped(lambda p: AdamOptimizer(p))
    assert all(all(t is not p for p in params) for t in state_tensors(optimizer))
    assert len(state_tensors(optimizer)) == 4


def test_adafactor_keeps_factored_statistics():
    optimizer, params = _stepped(lambda p: torch.optim.Adafactor(p))
    # 30 + 20 row/column statistics for the matrix, 20 for the vector, plus step counters: far below 4 bytes.
    assert bytes_per_parameter(optimizer, params) < 1.0


@pytest.mark.parametrize("power", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("shape, block_size", [((1000,), 256), ((7, 13), 64), ((3,), 256), ((2, 2, 5), 1)])
def test_quantisation_round_trip(shape, block_size, power):
    x = torch.randn(shape, dtype=torch.float64)
    q = quantize_blockwise(x, block_size=block_size, power=power)
    back = dequantize_blockwise(q)
    assert back.shape == x.shape and back.dtype == x.dtype
    assert q.codes.dtype == torch.uint8 and q.scales.dtype == torch.float32
    assert q.codes.numel() == -(-x.numel() // block_size) * block_size
    # Each block's largest magnitude is exact, zero is exact, every entry keeps its sign.
    flat, flat_back = x.reshape(-1), back.reshape(-1)
    largest = flat.abs().argmax()
    assert flat_back[largest].item() == pytest.approx(flat[largest].item(), rel=1e-6)
    assert torch.all(torch.sign(flat_back) * torch.sign(flat) >= 0)
    assert dequantize_blockwise(quantize_blockwise(torch.zeros(shape), block_size, power)).abs().max() == 0
    if power == 1.0:  # linear code: error at most half a level of the block's scale
        step = q.scales.max().item() / 127
        assert (back - x).abs().max().item() <= 0.5 * step * (1 + 1e-5)


def test_a_code_with_more_levels_near_zero_keeps_small_entries():
    x = torch.cat([torch.full((255,), 1e-6), torch.tensor([1.0])])
    assert (dequantize_blockwise(quantize_blockwise(x, 256, power=1.0))[:255] == 0).all()
    kept = dequantize_blockwise(quantize_blockwise(x, 256, power=4.0))[:255]
    assert (kept > 0).all() and ((kept - 1e-6).abs() / 1e-6).max() < 0.1


def test_quantized_adam_state_is_two_bytes_and_it_tracks_adam():
    optimizer, params = _stepped(lambda p: QuantizedStateAdam(p, block_size=20))
    assert bytes_per_parameter(optimizer, params) == pytest.approx(2 * (1 + 4 / 20))
    # Close to Adam over a few steps: the quantisation error is about 1% of each moment.
    found = first_disagreement(lambda p: QuantizedStateAdam(p, lr=0.01), lambda p: AdamOptimizer(p, lr=0.01),
                               steps=10, rtol=1e-3, atol=1e-3, dtype=torch.float32)
    assert found is None, found


@pytest.mark.parametrize("kwargs, message", [
    (dict(block_size=0), "block_size must be an integer >= 1, got 0"),
    (dict(power=0.0), "power must be > 0, got 0.0"),
])
def test_bad_quantisation_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        quantize_blockwise(torch.ones(3), **kwargs)


def test_bytes_per_parameter_needs_parameters():
    optimizer, _ = _stepped(lambda p: AdamOptimizer(p))
    with pytest.raises(ValueError, match="params must hold at least one entry"):
        bytes_per_parameter(optimizer, [])
