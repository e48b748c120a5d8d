"""Infinity-norm clipping agrees with torch's ``norm_type=inf``; AutoClip's threshold is the running percentile."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.autoclip import AutoClip
from course_lib.inf_norm_clipping import clip_grad_inf_norm, grad_inf_norm


def _params(*grads):
    params = []
    for grad in grads:
        param = torch.zeros(len(grad) if grad is not None else 1, dtype=torch.float64, requires_grad=True)
        param.grad = None if grad is None else torch.tensor(grad, dtype=torch.float64)
        params.append(param)
    return params


def test_inf_norm_is_the_largest_entry_and_skips_missing_gradients():
    assert grad_inf_norm(_params([3.0, -7.0], None, [5.0])) == 7.0
    assert grad_inf_norm(_params(None)) == 0.0


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_inf_norm_clipping_matches_torch_and_keeps_the_direction(max_norm):
    ours = _params([3.0, -7.0], None, [5.0, 0.0])
    theirs = _params([3.0, -7.0], None, [5.0, 0.0])
    before = clip_grad_inf_norm(ours, max_norm)
    torch_before = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=math.inf)
    assert before == pytest.approx(float(torch_before))
    for mine, ref in zip(ours, theirs):
        if mine.grad is not None:
            torch.testing.assert_close(mine.grad, ref.grad, rtol=1e-5, atol=0)
    assert grad_inf_norm(ours) == pytest.approx(min(7.0, max_norm))
    assert ours[0].grad[0] / ours[0].grad[1] == pytest.approx(3.0 / -7.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_inf_norm_clipping_refuses_a_bad_threshold(bad):
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_inf_norm(_params([1.0]), bad)


def test_autoclip_threshold_is_the_percentile_of_the_window():
    clipper = AutoClip(percentile=50.0, window=3)
    norms = [1.0, 3.0, 10.0, 2.0]
    for norm in norms:
        clipper.clip(_params([norm]))
    assert clipper.norms == norms
    expected = [np.percentile(norms[max(0, t - 2):t + 1], 50) for t in range(len(norms))]
    assert clipper.thresholds == pytest.approx(expected)


def test_autoclip_clips_a_spike_and_never_the_first_step():
    clipper = AutoClip(percentile=10.0)  # the paper's default: whole history
    first = _params([4.0])
    assert clipper.clip(first) == 4.0 and first[0].grad.item() == 4.0  # c_1 = n_1
    clipper.clip(_params([5.0]))
    spike = _params([-300.0])
    assert clipper.clip(spike) == 300.0
    assert spike[0].grad.item() == pytest.approx(-clipper.thresholds[-1])
    assert clipper.thresholds[-1] == pytest.approx(np.percentile([4.0, 5.0, 300.0], 10.0))


def test_autoclip_refuses_bad_arguments():
    for bad in (-1.0, 100.5, math.nan):
        with pytest.raises(ValueError, match="percentile"):
            AutoClip(percentile=bad)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="window"):
            AutoClip(window=bad)
    with pytest.raises(ValueError, match="threshold"):
        AutoClip().threshold()
