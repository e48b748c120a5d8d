"""course_lib.lookahead.Lookahead: the slow weights follow the closed form of Zhang et al. (2019)."""
from __future__ import annotations

import pytest
import torch

from course_lib.lookahead import Lookahead


def _quadratic_run(k: int, alpha: float, lr: float, steps: int) -> torch.Tensor:
    """Lookahead(SGD) on f = theta^2 / 2, whose gradient is theta itself."""
    theta = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = Lookahead([theta], torch.optim.SGD([theta], lr=lr), k=k, alpha=alpha)
    for _ in range(steps):
        opt.zero_grad()
        theta.grad = theta.detach().clone()
        opt.step()
    return theta.detach()


@pytest.mark.parametrize("k, alpha, lr", [(5, 0.5, 0.1), (3, 0.8, 0.3), (1, 0.5, 0.2)])
def test_slow_weights_follow_the_closed_form(k, alpha, lr):
    # k SGD steps multiply theta by (1 - lr)^k; the slow step keeps 1 - alpha + alpha (1 - lr)^k of phi.
    factor = 1 - alpha + alpha * (1 - lr) ** k
    assert _quadratic_run(k, alpha, lr, 3 * k).item() == pytest.approx(factor ** 3, rel=1e-12)
    # Between slow steps (k > 1) the fast weights move from phi as SGD alone would.
    if k > 1:
        assert _quadratic_run(k, alpha, lr, 3 * k + 1).item() == pytest.approx(factor ** 3 * (1 - lr), rel=1e-12)


def test_alpha_one_is_the_inner_optimizer_alone():
    assert _quadratic_run(4, 1.0, 0.1, 12).item() == pytest.approx(0.9 ** 12, rel=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "k must be an integer >= 1, got 0"),
    ({"k": 2.5}, "k must be an integer >= 1, got 2.5"),
    ({"alpha": 0.0}, "alpha must be in (0.0, 1.0], got 0.0"),
    ({"alpha": 1.5}, "alpha must be in (0.0, 1.0], got 1.5"),
])
def test_arguments_out_of_range_raise(kwargs, message):
    theta = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]").replace("[", r"\[")):
        Lookahead([theta], torch.optim.SGD([theta], lr=0.1), **kwargs)
