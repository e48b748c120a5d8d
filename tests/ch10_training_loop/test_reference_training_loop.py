"""The reference training loop against its oracles: one big batch and torch's clip_grad_norm_ for
train_step, AGC's closed form (row by row, in numpy), the rules for parameter groups, and for fit the
warmup + cosine closed form, recorded pre-clipping norms, the best epoch's weights and a real dataset."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.datasets import load_digits_tensors
from course_lib.training import torch_threads
from course_lib.training_loop import adaptive_clip_grad_, epoch_seed, fit, fit_lrs, param_groups, train_step


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):  # tiny networks: one thread is the fastest, and no waiting on busy cores
        yield


def make_net(dtype=torch.float64, norm=nn.LayerNorm, seed=0, d_in=5, hidden=7, d_out=3):
    torch.manual_seed(seed)
    layers = [nn.Linear(d_in, hidden), norm(hidden), nn.ReLU(), nn.Linear(hidden, hidden, bias=False), nn.Tanh(),
              nn.Linear(hidden, d_out)]
    return nn.Sequential(*[layer.to(dtype) for layer in layers])


def micro_batches(sizes, dtype=torch.float64, d_in=5, classes=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, d_in, generator=g, dtype=dtype), torch.randint(0, classes, (n,), generator=g))
            for n in sizes]


def big_batch_step(model, batches, optimizer, max_norm):
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None],
                                          math.inf if max_norm is None else max_norm)
    optimizer.step()
    return loss.item(), norm.item()


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-10), (torch.float32, 2e-5)])
@pytest.mark.parametrize("sizes", [[8, 8, 3], [1, 6], [5], [4, 7, 2, 9]])
@pytest.mark.parametrize("max_norm", [None, 0.05, 100.0])
@pytest.mark.parametrize("optimizer_class", [torch.optim.SGD, torch.optim.AdamW])
def test_train_step_matches_one_big_batch(dtype, rtol, sizes, max_norm, optimizer_class) -> None:
    batches = micro_batches(sizes, dtype)
    ours, theirs = make_net(dtype), make_net(dtype)
    opt_ours = optimizer_class(ours.parameters(), lr=0.1)
    opt_theirs = optimizer_class(theirs.parameters(), lr=0.1)
    for step in range(3):  # several steps: the optimizer state must follow too
        for p in ours.parameters():
            p.grad = torch.full_like(p, 7.0)  # stale gradients are ignored
        loss, norm = train_step(ours, nn.CrossEntropyLoss(), batches, opt_ours, max_norm)
        want_loss, want_norm = big_batch_step(theirs, batches, opt_theirs, max_norm)
        assert loss == pytest.approx(want_loss, rel=rtol)
        assert norm == pytest.approx(want_norm, rel=rtol)
        for a, b in zip(ours.parameters(), theirs.parameters()):
            torch.testing.assert_close(a.grad, b.grad, rtol=rtol, atol=1e-7 if dtype == torch.float32 else 1e-12)
            torch.testing.assert_close(a, b, rtol=rtol, atol=1e-6 if dtype == torch.float32 else 1e-12)
        if max_norm is not None and want_norm > max_norm:
            clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in ours.parameters()]))
            assert clipped.item() == pytest.approx(max_norm, rel=1e-5)


def test_train_step_skips_parameters_without_gradients() -> None:
    model = make_net()
    model[0].weight.requires_grad_(False)
    unused = nn.Parameter(torch.ones(3, dtype=torch.float64))
    optimizer = torch.optim.SGD(list(model.parameters()) + [unused], lr=0.1)
    before = model[0].weight.detach().clone()
    loss, norm = train_step(model, nn.CrossEntropyLoss(), micro_batches([4, 3]), optimizer, max_norm=0.01)
    assert math.isfinite(loss) and norm > 0.01
    assert model[0].weight.grad is None and unused.grad is None
    assert torch.equal(model[0].weight, before) and torch.equal(unused.detach(), torch.ones(3, dtype=torch.float64))


def test_train_step_with_batch_norm_differs_from_one_big_batch() -> None:
    """What the chapter shows: batch statistics make micro-batches and one batch different."""
    batches = micro_batches([6, 6])
    ours, theirs = make_net(norm=nn.BatchNorm1d), make_net(norm=nn.BatchNorm1d)
    loss, _ = train_step(ours, nn.CrossEntropyLoss(), batches, torch.optim.SGD(ours.parameters(), lr=0.1))
    want, _ = big_batch_step(theirs, batches, torch.optim.SGD(theirs.parameters(), lr=0.1), None)
    assert abs(loss - want) > 1e-6


@pytest.mark.parametrize("bad", [{"micro_batches": []}, {"max_norm": 0.0}, {"max_norm": float("nan")}])
def test_train_step_rejects_bad_arguments(bad) -> None:
    model = make_net()
    arguments = {"micro_batches": micro_batches([3]), "max_norm": None} | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        train_step(model, nn.CrossEntropyLoss(), arguments["micro_batches"], torch.optim.SGD(model.parameters(), lr=0.1),
                   arguments["max_norm"])


def agc_rows(w: np.ndarray, g: np.ndarray, clip_factor: float, eps: float) -> np.ndarray:
    """The paper's closed form, one unit (row) at a time."""
    rows = w.reshape(w.shape[0], -1) if w.ndim >= 2 else w.reshape(1, -1)
    grads = (g.reshape(g.shape[0], -1) if g.ndim >= 2 else g.reshape(1, -1)).copy()
    for i in range(rows.shape[0]):
        limit = clip_factor * max(np.linalg.norm(rows[i]), eps)
        norm = np.linalg.norm(grads[i])
        if norm >= limit:
            grads[i] *= limit / max(norm, 1e-6)
    return grads.reshape(g.shape)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 3, 3), (5,), ()])
@pytest.mark.parametrize("clip_factor,eps", [(0.01, 1e-3), (0.1, 1e-2), (0.5, 0.0)])
def test_agc_matches_the_closed_form(dtype, shape, clip_factor, eps) -> None:
    g = torch.Generator().manual_seed(3)
    w = torch.randn(shape, generator=g, dtype=dtype)
    grad = torch.randn(shape, generator=g, dtype=dtype) * torch.logspace(-3, 1, w.numel(), dtype=dtype).reshape(shape)
    p = w.clone().requires_grad_(True)
    p.grad = grad.clone()
    adaptive_clip_grad_([p], clip_factor, eps)
    want = agc_rows(w.double().numpy(), grad.double().numpy(), clip_factor, eps)
    np.testing.assert_allclose(p.grad.double().numpy(), want, rtol=1e-5 if dtype == torch.float32 else 1e-12)


def test_agc_eps_keeps_zero_initialised_biases_trainable() -> None:
    bias = torch.zeros(4, requires_grad=True)
    bias.grad = torch.ones(4)
    adaptive_clip_grad_(bias, clip_factor=0.1, eps=1e-3)
    assert bias.grad.norm().item() == pytest.approx(0.1 * 1e-3, rel=1e-5)
    frozen = torch.zeros(4, requires_grad=True)
    frozen.grad = torch.ones(4)
    adaptive_clip_grad_([frozen], clip_factor=0.1, eps=0.0)  # without eps the update vanishes
    assert frozen.grad.abs().max().item() == 0.0


def test_agc_skips_missing_gradients_and_rejects_bad_arguments() -> None:
    p = torch.ones(3, requires_grad=True)
    adaptive_clip_grad_([p])
    assert p.grad is None
    with pytest.raises(ValueError, match="clip_factor"):
        adaptive_clip_grad_([p], clip_factor=0.0)
    with pytest.raises(ValueError, match="eps"):
        adaptive_clip_grad_([p], eps=-1.0)


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 4)
        self.act = nn.ReLU()
        self.norm = nn.LayerNorm(4)
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(4, 4, bias=False)
        self.head.weight = self.embed.weight  # tied


@pytest.mark.parametrize("layer_decay", [1.0, 0.75])
def test_param_groups_rules(layer_decay) -> None:
    model = Shared()
    groups = param_groups(model, 0.1, 0.05, layer_decay)
    seen = [p for g in groups for p in g["params"]]
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(seen) == len({id(p) for p in seen}) == len(trainable)
    assert {id(p) for p in seen} == {id(p) for p in trainable}
    rate = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    # layers: embed (0), norm (1); act, frozen own nothing trainable, head's weight belongs to embed
    assert rate[id(model.embed.weight)] == (pytest.approx(0.1 * layer_decay), 0.05)
    assert rate[id(model.embed.bias)] == (pytest.approx(0.1 * layer_decay), 0.0)
    assert rate[id(model.norm.weight)] == (0.1, 0.0) and rate[id(model.norm.bias)] == (0.1, 0.0)
    optimizer = torch.optim.AdamW(groups)  # torch accepts them as they are
    assert len(optimizer.param_groups) == len(groups)


def test_param_groups_rejects_a_parameter_on_the_model_itself() -> None:
    model = make_net()
    model.register_parameter("temperature", nn.Parameter(torch.ones(())))
    with pytest.raises(ValueError, match="temperature"):
        param_groups(model, 0.1, 0.0)
    with pytest.raises(ValueError, match="layer_decay"):
        param_groups(make_net(), 0.1, 0.0, layer_decay=0.0)


def toy_problem(n=57, n_val=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(5, 3, generator=g, dtype=torch.float64)
    x = torch.randn(n + n_val, 5, generator=g, dtype=torch.float64)
    y = (x @ teacher + torch.randn(n + n_val, 3, generator=g, dtype=torch.float64)).argmax(1)
    return (x[:n], y[:n]), (x[n:], y[n:])


def test_fit_lrs_follow_the_closed_form_and_norms_are_before_clipping() -> None:
    train, val = toy_problem()
    model = make_net()
    history = fit(model, train, val, epochs=3, batch_size=5, peak_lr=0.05, warmup_fraction=0.25,
                  max_norm=0.05, accumulation_steps=3)
    steps = 3 * math.ceil(math.ceil(57 / 5) / 3)
    warmup = max(1, round(0.25 * steps))
    want = [0.05 * t / warmup if t < warmup else
            0.05 * 0.5 * (1 + math.cos(math.pi * (t - warmup) / (steps - warmup))) for t in range(1, steps + 1)]
    assert history["lr"] == pytest.approx(want, rel=1e-14, abs=0.0)
    assert history["lr"] == fit_lrs(0.05, steps, 0.25)
    assert len(history["loss"]) == len(history["grad_norm"]) == steps
    assert min(history["grad_norm"]) > 0.05  # clipping acted on every step: these are the norms before it


def test_fit_keeps_the_best_epoch() -> None:
    train, val = toy_problem(seed=2)
    model = make_net(seed=3)
    history = fit(model, train, val, epochs=6, batch_size=4, peak_lr=0.3, seed=4)
    best = history["best_epoch"]
    assert history["val_accuracy"][best] == max(history["val_accuracy"])
    assert best == history["val_accuracy"].index(max(history["val_accuracy"]))
    model.eval()
    with torch.no_grad():
        accuracy = (model(val[0]).argmax(1) == val[1]).double().mean().item()
    assert accuracy == history["val_accuracy"][best]


def test_fit_accumulation_equals_bigger_batches() -> None:
    """batch 4 x 2 micro-batches = batch 8 when every group is full (the same shuffle)."""
    train, val = toy_problem(n=64)
    a, b = make_net(), make_net()
    ha = fit(a, train, val, epochs=2, batch_size=4, accumulation_steps=2, peak_lr=0.05)
    hb = fit(b, train, val, epochs=2, batch_size=8, peak_lr=0.05)
    assert ha["lr"] == hb["lr"]
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-10)
    np.testing.assert_allclose(ha["grad_norm"], hb["grad_norm"], rtol=1e-10)


def test_fit_shuffles_with_the_documented_seed() -> None:
    assert epoch_seed(3, 2) == 3002
    train, val = toy_problem()
    h1 = fit(make_net(), train, val, epochs=2, batch_size=6, peak_lr=0.05, seed=1)
    h2 = fit(make_net(), train, val, epochs=2, batch_size=6, peak_lr=0.05, seed=1)
    h3 = fit(make_net(), train, val, epochs=2, batch_size=6, peak_lr=0.05, seed=2)
    assert h1 == h2 and h1["loss"] != h3["loss"]


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"batch_size": 0}, {"peak_lr": -1.0}, {"warmup_fraction": 1.0},
                                 {"accumulation_steps": 0}, {"seed": -1}])
def test_fit_rejects_bad_arguments(bad) -> None:
    train, val = toy_problem()
    kwargs = {"epochs": 2, "batch_size": 8, "peak_lr": 0.01} | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        fit(make_net(), train, val, **kwargs)


#: the reference run of the chapter (section 5 of the notebook): 98.0 % with seed 0; seeds 0, 1, 2 gave 98.0 %,
#: 98.2 %, 97.8 % on the machine the chapter was written on; the margin is two points (four times that spread)
DIGITS_SETTINGS = {"epochs": 12, "batch_size": 32, "peak_lr": 3e-3, "warmup_fraction": 0.1, "weight_decay": 0.01,
                   "max_norm": 1.0}
DIGITS_REFERENCE, DIGITS_MARGIN = 0.98, 0.02


def digits_net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)

    def block(d_in: int, d_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(d_in, d_out), nn.LayerNorm(d_out), nn.ReLU())

    return nn.Sequential(block(64, 128), block(128, 128), nn.Linear(128, 10))


def test_fit_reaches_the_reference_accuracy_on_the_digits() -> None:
    x_train, y_train, x_test, y_test = load_digits_tensors()
    model = digits_net(0)
    with torch.random.fork_rng():
        history = fit(model, (x_train, y_train), (x_test, y_test), **DIGITS_SETTINGS)
    best = max(history["val_accuracy"])
    print(f"digits: best accuracy {best:.4f} at epoch {history['best_epoch']} (reference {DIGITS_REFERENCE})")
    assert best >= DIGITS_REFERENCE - DIGITS_MARGIN
    model.eval()
    with torch.no_grad():
        assert (model(x_test).argmax(1) == y_test).double().mean().item() == best
