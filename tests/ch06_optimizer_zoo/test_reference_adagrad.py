"""The reference AdagradOptimizer agrees with torch.optim.Adagrad and converges."""
from __future__ import annotations

import pytest
import torch

from course_lib.adagrad import AdagradOptimizer
from tests.strategies import QUADRATIC_MIN, ROSENBROCK_MIN, descend, first_disagreement, quadratic, rosenbrock

# eps = 0.1 with small gradients tells eps outside the square root from eps inside it.
SETTINGS = [
    dict(lr=0.01, eps=1e-10, initial_accumulator_value=0.0),
    dict(lr=0.5, eps=1e-10, initial_accumulator_value=0.1),
    dict(lr=0.1, eps=0.1, initial_accumulator_value=0.0),
    dict(lr=0.0, eps=1e-10, initial_accumulator_value=2.0),
]


def sometimes(step, index, count):
    """Parameter i misses its gradient every third step (staggered); the last never has one."""
    return index < count - 1 and (step + index) % 3 != 0


# float32 rounding accumulates over 200 steps to about 1e-6 of the parameters' size.
PRECISIONS = [(torch.float64, 1e-10, 1e-12), (torch.float32, 1e-5, 1e-5)]


@pytest.mark.parametrize("dtype, rtol, atol", PRECISIONS, ids=["float64", "float32"])
@pytest.mark.parametrize("grad_scale", [1.0, 1e-3, 100.0])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_agrees_with_torch_adagrad(settings, grad_scale, dtype, rtol, atol):
    found = first_disagreement(lambda p: AdagradOptimizer(p, **settings),
                               lambda p: torch.optim.Adagrad(p, **settings, foreach=False),
                               steps=200, grad_scale=grad_scale, dtype=dtype, rtol=rtol, atol=atol)
    assert found is None, found


def test_parameters_without_gradient_are_skipped_and_state_matches_torch():
    settings = dict(lr=0.2, eps=1e-10, initial_accumulator_value=0.3)
    assert first_disagreement(lambda p: AdagradOptimizer(p, **settings),
                              lambda p: torch.optim.Adagrad(p, **settings), has_grad=sometimes) is None
    frozen = torch.ones(3, requires_grad=True)
    live = torch.ones(2, requires_grad=True)
    opt = AdagradOptimizer([frozen, live], **settings)
    oracle_param = torch.ones(2, requires_grad=True)
    oracle = torch.optim.Adagrad([oracle_param], **settings)
    for g in ([1.0, -2.0], [0.5, 3.0]):
        live.grad = torch.tensor(g)
        oracle_param.grad = torch.tensor(g)
        opt.step()
        oracle.step()
    assert frozen.tolist() == [1.0, 1.0, 1.0]
    assert torch.equal(opt.sums[0], torch.full((3,), 0.3))
    assert torch.allclose(opt.sums[1], oracle.state[oracle_param]["sum"])


def test_first_step_by_hand():
    # s = 0 + 2^2 = 4, theta = 1 - 0.1 * 2 / (2 + 1e-10) = 0.9 + 5e-12
    p = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = AdagradOptimizer([p], lr=0.1)
    p.grad = torch.tensor([2.0], dtype=torch.float64)
    opt.step()
    assert opt.sums[0].item() == 4.0
    assert p.item() == pytest.approx(1 - 0.2 / (2 + 1e-10), abs=1e-15)


def test_converges_on_the_test_problems():
    x = descend(quadratic, lambda p: AdagradOptimizer(p, lr=0.5), [-3.0, 4.0], 2000)
    assert torch.allclose(x, QUADRATIC_MIN, atol=1e-4)
    # Adagrad's steps shrink like 1/sqrt(t): it is still creeping along the valley after 5000 steps.
    x = descend(rosenbrock, lambda p: AdagradOptimizer(p, lr=0.5), [-1.2, 1.0], 5000)
    assert torch.allclose(x, ROSENBROCK_MIN, atol=0.03)


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-0.1), "lr"), (dict(eps=-1e-3), "eps"), (dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
])
def test_bad_arguments_raise_value_error(kwargs, name):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"{name} must be >= 0, got {value}"):
        AdagradOptimizer([torch.zeros(2, requires_grad=True)], **kwargs)
