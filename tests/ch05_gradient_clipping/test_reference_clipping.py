"""The reference ClippingOptimizer and clipping functions agree with torch.nn.utils and
with the closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from course_lib.clipping import ClippingOptimizer, clip_grad_norm, clip_grad_value, global_grad_norm
from tests.strategies import (
    QUADRATIC_MIN,
    ROSENBROCK_MIN,
    descend,
    first_disagreement,
    gradient_lists,
    positive_bounds,
    quadratic,
    rosenbrock,
)

HYPOTHESIS = settings(max_examples=50, deadline=None)
# The reference sums squares literally, so a norm made only of entries below ~1e-154
# underflows to 0 (torch rescales and does not): compare norms up to this absolute slack.
TINY = 1e-150

# N(0, 1) gradients on the default shapes have a global norm of about 4.5 and
# per-parameter norms of 1.7 to 3.2: clip_norm=1 clips both ways, 100 never clips.
SETTINGS = [
    dict(clip_norm=1.0, clip_value=None),
    dict(clip_norm=None, clip_value=0.5),
    dict(clip_norm=2.0, clip_value=0.3),
    dict(clip_norm=100.0, clip_value=None),
    dict(clip_norm=None, clip_value=None),
]


# torch scales by clip_norm / (norm + 1e-6): each clipped step moves a parameter by up to
# lr * clip_norm * 1e-6 / norm (about 1e-7 here) less; over 50 steps this stays below 1e-6.
# The closed-form comparison below is exact (1e-12).
TORCH_ATOL = 1e-6


class TorchClipping:
    """torch.nn.utils.clip_grad_norm_ / clip_grad_value_ then torch.optim.SGD."""

    def __init__(self, params, lr, clip_norm=None, clip_value=None):
        self.params, self.clip_norm, self.clip_value = params, clip_norm, clip_value
        self.sgd = torch.optim.SGD(params, lr=lr)
        self.grad_norms = []

    def step(self):
        with_grad = [p for p in self.params if p.grad is not None]
        if self.clip_norm is not None or self.clip_value is not None:
            self.grad_norms.append(float(torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(p.grad) for p in with_grad]))))
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(with_grad, self.clip_norm)
        if self.clip_value is not None:
            torch.nn.utils.clip_grad_value_(with_grad, self.clip_value)
        self.sgd.step()


class NumpyClipping:
    """Closed form in numpy: g * min(1, c / ||g||), clamp to [-v, v], optional pull, x -= lr g."""

    def __init__(self, params, lr, clip_norm=None, clip_value=None, kl_penalty=0.0, reference=None):
        self.params, self.lr, self.clip_norm, self.clip_value = params, lr, clip_norm, clip_value
        self.kl_penalty, self.reference = kl_penalty, reference
        self.grad_norms = []

    def step(self):
        live = [(i, p) for i, p in enumerate(self.params) if p.grad is not None]
        grads = [p.grad.numpy().copy() for _, p in live]
        norm = math.sqrt(sum(float(np.sum(g**2)) for g in grads))
        if self.clip_norm is not None or self.clip_value is not None:
            self.grad_norms.append(norm)
        if self.clip_norm is not None and norm > self.clip_norm:
            grads = [g * (self.clip_norm / norm) for g in grads]
        if self.clip_value is not None:
            grads = [np.clip(g, -self.clip_value, self.clip_value) for g in grads]
        for (i, p), g in zip(live, grads):
            x = p.detach().numpy()  # shares memory with p
            if self.reference is not None:
                g = g + self.kl_penalty * (x - self.reference[i].numpy())
            x -= self.lr * g


def recording(factory, store):
    """Wrap an optimizer factory so the test can read the optimizer afterwards."""
    def make(params):
        store.append(factory(params))
        return store[-1]
    return make


@pytest.mark.parametrize("config", SETTINGS, ids=str)
def test_agrees_with_torch_clipping(config):
    ours, theirs = [], []
    found = first_disagreement(recording(lambda p: ClippingOptimizer(p, lr=0.1, **config), ours),
                               recording(lambda p: TorchClipping(p, lr=0.1, **config), theirs),
                               atol=TORCH_ATOL)
    assert found is None
    assert len(ours[0].grad_norms) == (50 if any(v is not None for v in config.values()) else 0)
    np.testing.assert_allclose(ours[0].grad_norms, theirs[0].grad_norms, rtol=1e-12)


@pytest.mark.parametrize("config", SETTINGS, ids=str)
def test_agrees_with_closed_form_exactly(config):
    found = first_disagreement(lambda p: ClippingOptimizer(p, lr=0.1, **config),
                               lambda p: NumpyClipping(p, lr=0.1, **config), rtol=1e-12)
    assert found is None


class WithReference:
    """Drives step_with_constraint(reference) through the side-by-side driver's step()."""

    def __init__(self, optimizer, reference):
        self.optimizer, self.reference = optimizer, reference

    def step(self):
        self.optimizer.step_with_constraint(self.reference)


def references(params):
    return [torch.full_like(p, 0.25).detach() for p in params]


@pytest.mark.parametrize("kl_penalty", [0.0, 0.5, 3.0])
@pytest.mark.parametrize("config", SETTINGS[:3], ids=str)
def test_step_with_constraint_agrees_with_closed_form(config, kl_penalty):
    def ours(params):
        return WithReference(ClippingOptimizer(params, lr=0.1, kl_penalty=kl_penalty, **config),
                             references(params))

    def oracle(params):
        return NumpyClipping(params, lr=0.1, kl_penalty=kl_penalty, reference=references(params), **config)

    assert first_disagreement(ours, oracle, rtol=1e-12) is None


# ---------------------------------------------------------------- the checks have teeth

class PerParameterNorm(ClippingOptimizer):
    """Wrong: clips each parameter's gradient by its own norm instead of the global norm."""

    def clip_by_norm(self):
        if self.clip_norm is not None:
            for p in self.params:
                if p.grad is not None:
                    torch.nn.utils.clip_grad_norm_([p], self.clip_norm)


class ValueBeforeNorm(ClippingOptimizer):
    def step(self):
        if self.clip_norm is not None or self.clip_value is not None:
            self.grad_norms.append(self.compute_grad_norm())
        self.clip_by_value()
        self.clip_by_norm()
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-self.lr)


class PenaltyBeforeClipping(ClippingOptimizer):
    @torch.no_grad()
    def step_with_constraint(self, reference_params=None):
        for p, ref in zip(self.params, reference_params):
            if p.grad is not None:
                p.grad.add_(p - ref, alpha=self.kl_penalty)
        self.step()


@pytest.mark.parametrize("broken, config", [
    (PerParameterNorm, SETTINGS[0]),
    (ValueBeforeNorm, SETTINGS[2]),
], ids=str)
def test_agreement_check_catches_wrong_clipping(broken, config):
    wrong = lambda p: broken(p, lr=0.1, **config)  # noqa: E731
    assert first_disagreement(wrong, lambda p: TorchClipping(p, lr=0.1, **config), atol=TORCH_ATOL) is not None


def test_constraint_check_catches_penalty_before_clipping():
    def wrong(params):
        return WithReference(PenaltyBeforeClipping(params, lr=0.1, kl_penalty=3.0, **SETTINGS[0]),
                             references(params))

    def oracle(params):
        return NumpyClipping(params, lr=0.1, kl_penalty=3.0, reference=references(params), **SETTINGS[0])

    assert first_disagreement(wrong, oracle, rtol=1e-12) is not None


# ---------------------------------------------------------------- the functions

def make_grads(seed=0, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.zeros(shape, dtype=torch.float64, requires_grad=True) for shape in [(3,), (2, 4), (5, 1, 2)]]
    for p in params:
        p.grad = scale * torch.randn(p.shape, generator=gen, dtype=torch.float64)
    params.append(torch.zeros(4, dtype=torch.float64, requires_grad=True))  # no gradient
    return params


@pytest.mark.parametrize("max_norm", [0.5, 2.0, 1e3])
def test_clip_grad_norm_against_closed_form_and_torch(max_norm):
    ours, theirs = make_grads(), make_grads()
    flat = np.concatenate([p.grad.numpy().ravel() for p in ours if p.grad is not None])
    norm = float(np.sqrt(np.sum(flat**2)))
    expected = [p.grad.clone() * min(1.0, max_norm / norm) for p in ours if p.grad is not None]
    returned = clip_grad_norm(ours, max_norm)
    torch_norm = torch.nn.utils.clip_grad_norm_([p for p in theirs if p.grad is not None], max_norm)
    assert returned == pytest.approx(norm, rel=1e-14) == float(torch_norm)
    for got, want in zip([p.grad for p in ours if p.grad is not None], expected):
        torch.testing.assert_close(got, want, rtol=1e-14, atol=0)
    # torch multiplies by max_norm / (norm + 1e-6): relatively smaller by at most 1e-6 / norm
    for got, want in zip(ours, theirs):
        if got.grad is not None:
            torch.testing.assert_close(got.grad, want.grad, rtol=1.01e-6 / norm + 1e-14, atol=0)


def test_clip_grad_value_against_torch():
    ours, theirs = make_grads(), make_grads()
    clip_grad_value(ours, 0.7)
    torch.nn.utils.clip_grad_value_([p for p in theirs if p.grad is not None], 0.7)
    for a, b in zip(ours, theirs):
        assert (a.grad is None and b.grad is None) or torch.equal(a.grad, b.grad)


def test_compute_grad_norm_by_hand():
    x = torch.tensor([3.0, 4.0], requires_grad=True)
    (x**2).sum().backward()  # gradient (6, 8)
    frozen = torch.ones(2, requires_grad=True)
    opt = ClippingOptimizer([x, frozen], lr=0.1, clip_norm=5.0)
    norm = opt.compute_grad_norm()
    assert type(norm) is float and norm == pytest.approx(10.0, rel=1e-7)
    opt.clip_by_norm()
    assert torch.allclose(x.grad, torch.tensor([3.0, 4.0]))
    assert opt.compute_grad_norm() == pytest.approx(5.0, rel=1e-6)
    assert ClippingOptimizer([frozen]).compute_grad_norm() == 0.0


def test_clip_by_value_by_hand_and_disabled_clipping_is_a_no_op():
    x = torch.tensor([10.0, -8.0, 2.0], requires_grad=True)
    (x**2).sum().backward()
    ClippingOptimizer([x], clip_value=5.0).clip_by_value()
    assert torch.equal(x.grad, torch.tensor([5.0, -5.0, 4.0]))
    plain = ClippingOptimizer([x])
    plain.clip_by_norm()
    plain.clip_by_value()
    plain.step()
    assert torch.equal(x.grad, torch.tensor([5.0, -5.0, 4.0])) and plain.grad_norms == []


def test_grad_norms_record_the_norm_before_clipping():
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = ClippingOptimizer([x], lr=1.0, clip_norm=1.0)
    for grad in ([3.0, 4.0], [0.3, 0.4], [0.0, 0.0]):
        x.grad = torch.tensor(grad, dtype=torch.float64)
        opt.step()
    assert opt.grad_norms == pytest.approx([5.0, 0.5, 0.0], rel=1e-15)
    torch.testing.assert_close(x.detach(), torch.tensor([-0.9, -1.2], dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_updates_in_place_keeps_leaf_and_dtype(dtype):
    a = torch.ones(3, dtype=dtype, requires_grad=True)
    a.grad = torch.ones_like(a)
    ref = [torch.zeros(3, dtype=dtype)]
    storage = a.data_ptr()
    ClippingOptimizer([a], lr=0.5, clip_norm=1.0, kl_penalty=0.1).step_with_constraint(ref)
    assert a.is_leaf and a.requires_grad and a.dtype == dtype and a.data_ptr() == storage


# ---------------------------------------------------------------- convergence

def test_pull_alone_contracts_towards_the_reference_geometrically():
    """With no loss gradient, theta_t - ref = (1 - lr beta)^t (theta_0 - ref)."""
    x = torch.tensor([2.0, -1.0], dtype=torch.float64, requires_grad=True)
    ref = [torch.tensor([0.5, 0.5], dtype=torch.float64)]
    opt = ClippingOptimizer([x], lr=0.1, kl_penalty=2.0)
    for _ in range(30):
        x.grad = torch.zeros_like(x)
        opt.step_with_constraint(ref)
    expected = ref[0] + 0.8**30 * (torch.tensor([2.0, -1.0], dtype=torch.float64) - ref[0])
    torch.testing.assert_close(x.detach(), expected, rtol=1e-12, atol=0)


def test_pull_moves_the_minimum_between_loss_and_reference():
    """f(x) = 1/2 |x - c|^2 with pull beta towards r: fixed point (c + beta r) / (1 + beta)."""
    c, r, beta = torch.tensor([4.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 2.0], dtype=torch.float64), 3.0
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = ClippingOptimizer([x], lr=0.1, kl_penalty=beta)
    for _ in range(300):
        opt.zero_grad()
        (0.5 * ((x - c) ** 2).sum()).backward()
        opt.step_with_constraint([r])
    torch.testing.assert_close(x.detach(), (c + beta * r) / (1 + beta), rtol=0, atol=1e-10)


def test_reaches_the_minimum_of_a_quadratic_from_far_away():
    x = descend(quadratic, lambda p: ClippingOptimizer(p, lr=0.2, clip_norm=1.0), [-30.0, 40.0], 600)
    torch.testing.assert_close(x, QUADRATIC_MIN, atol=1e-6, rtol=0)


def test_gets_close_on_rosenbrock():
    x = descend(rosenbrock, lambda p: ClippingOptimizer(p, lr=2e-3, clip_norm=10.0), [-1.2, 1.0], 4000)
    assert torch.linalg.vector_norm(x - ROSENBROCK_MIN) < 0.05


# ---------------------------------------------------------------- properties

def flat(grads):
    return torch.cat([g.reshape(-1) for g in grads])


def as_params(grads):
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    return params


@HYPOTHESIS
@given(gradient_lists(), positive_bounds)
def test_clip_by_norm_bounds_the_norm_and_keeps_the_direction(grads, max_norm):
    params = as_params(grads)
    before = flat(grads)
    returned = clip_grad_norm(params, max_norm)
    after = flat([p.grad for p in params])
    assert returned == pytest.approx(float(torch.linalg.vector_norm(before)), rel=1e-12, abs=TINY)
    assert global_grad_norm(params) <= max_norm * (1 + 1e-12)
    if returned <= max_norm:
        assert torch.equal(after, before)
    elif float(torch.linalg.vector_norm(after)) > 0:
        cosine = torch.dot(before, after) / (torch.linalg.vector_norm(before) * torch.linalg.vector_norm(after))
        assert float(cosine) == pytest.approx(1.0, abs=1e-12)


@HYPOTHESIS
@given(gradient_lists(), positive_bounds)
def test_clip_by_value_bounds_every_entry(grads, clip_value):
    params = as_params(grads)
    clip_grad_value(params, clip_value)
    before, after = flat(grads), flat([p.grad for p in params])
    assert torch.all(after.abs() <= clip_value)
    inside = before.abs() <= clip_value
    assert torch.equal(after[inside], before[inside])
    assert torch.all(after[~inside] == torch.sign(before[~inside]) * clip_value)


@HYPOTHESIS
@given(gradient_lists(), positive_bounds, positive_bounds)
def test_optimizer_step_bounds_the_applied_update(grads, clip_norm, clip_value):
    params = as_params(grads)
    opt = ClippingOptimizer(params, lr=1.0, clip_norm=clip_norm, clip_value=clip_value)
    opt.step()
    update = -flat([p.detach() for p in params])  # parameters started at zero, lr = 1
    assert float(torch.linalg.vector_norm(update)) <= clip_norm * (1 + 1e-12)
    assert torch.all(update.abs() <= clip_value)
    assert opt.grad_norms == [pytest.approx(float(torch.linalg.vector_norm(flat(grads))), rel=1e-12, abs=TINY)]


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), r"lr must be >= 0, got -0\.1"),
    (dict(clip_norm=0.0), r"clip_norm must be > 0, got 0\.0"),
    (dict(clip_norm=-1.0), r"clip_norm must be > 0, got -1\.0"),
    (dict(clip_value=0), r"clip_value must be > 0, got 0"),
    (dict(kl_penalty=-0.1), r"kl_penalty must be >= 0, got -0\.1"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClippingOptimizer([torch.zeros(2, requires_grad=True)], **kwargs)


def test_bad_function_and_reference_arguments_raise():
    params = make_grads()
    with pytest.raises(ValueError, match=r"max_norm must be > 0, got 0\.0"):
        clip_grad_norm(params, 0.0)
    with pytest.raises(ValueError, match=r"clip_value must be > 0, got -1"):
        clip_grad_value(params, -1)
    opt = ClippingOptimizer(params, kl_penalty=1.0)
    with pytest.raises(ValueError, match=r"reference_params must hold one tensor per parameter \(4\), got 1"):
        opt.step_with_constraint([torch.zeros(3)])
    with pytest.raises(ValueError, match=r"reference_params\[1\] must have shape \(2, 4\), got \(8,\)"):
        opt.step_with_constraint([torch.zeros(s) for s in [(3,), (8,), (5, 1, 2), (4,)]])
