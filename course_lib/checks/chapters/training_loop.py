r"""Checks for the training loop (chapter 10): ``train_step``, ``adaptive_clip_grad_``, ``param_groups``, ``fit``.

Every object is described as a plain spec and built where the student's code runs by the trusted
builders of :mod:`course_lib.checks.builders` (MLPs and models of named children with LayerNorm,
BatchNorm, biases, a shared weight, frozen parameters, a parameter registered on the model itself;
SGD or AdamW handed over in mid-run). The oracles are written here, from what they must equal:

- ``train_step``: the same model and optimizer on ONE batch made of all the micro-batches
  (models without batch statistics), ``torch.nn.utils.clip_grad_norm_``, ``optimizer.step()``;
- ``adaptive_clip_grad_``: the closed form of Brock et al. (2021) in numpy, as timm writes it
  (unit norms over every dimension but the first, ``max = λ·max(‖W_i‖, ε)``, rescale a unit
  whose gradient norm is at least that, dividing by ``max(‖G_i‖, 1e-6)``);
- ``param_groups``: what each parameter must get, read off the model's children;
- ``fit``: torch's AdamW driven step by step with the warmup + cosine closed form, the same
  shuffles (``torch.randperm`` with a generator seeded ``seed * 1000 + epoch``) and one big
  batch per optimizer step.

Every setting is drawn from :func:`rng_for`; a drawn ``fit`` problem is kept only when its best
epoch is not the last one and clipping is active at some step, so that the mistakes the hints name
show up whatever the seed.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from course_lib.checks import builders
from course_lib.checks.chapters._spec import CheckSpec, rng_for
from course_lib.checks.forbidden import TRAINING_LOOP_IMPLEMENTATIONS
from course_lib.checks.plain import Opaque
from course_lib.checks.messages import expect_close_array, expect_close_number
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject
from course_lib.training import torch_threads

HINT_STEP = ("zero the gradients first (stale ones must not count); for each micro-batch of n_i examples "
             "backpropagate loss_fn(model(x), y) · n_i / N with N = the examples of ALL micro-batches (not "
             "1/len(micro_batches): the last micro-batch may be smaller); then clip once, on the accumulated "
             "gradient, with torch.nn.utils.clip_grad_norm_(parameters, max_norm) when max_norm is set; then "
             "optimizer.step()")
HINT_STEP_RETURN = ("return (Σ n_i·loss_i / N, the global norm BEFORE clipping): clip_grad_norm_ returns that "
                    "norm; the loss is the mean over all examples, not the mean of the micro-batch means")
HINT_NO_GRAD = "parameters without a gradient (frozen, or unused by the forward pass) are skipped, never a crash"
HINT_AGC = ("per unit (a row: the norm over every dimension but the first; the whole tensor when p.ndim <= 1): "
            "max = clip_factor·max(‖W_i‖, eps); if ‖G_i‖ >= max, G_i ← G_i·max/max(‖G_i‖, 1e-6), otherwise "
            "G_i stays as it is; eps keeps zero-initialised units (biases) trainable")
HINT_GROUPS = ("every trainable parameter exactly once; ndim >= 2: weight_decay, ndim <= 1: 0; the layers are "
               "the top-level children owning a trainable parameter (a shared one counts for the first); layer "
               "k of L gets lr·layer_decay**(L − 1 − k), the same for its weight and its bias")
HINT_FIT_LR = ("T = epochs·ceil(ceil(n/batch_size)/accumulation_steps); W = max(1, round(warmup_fraction·T)); "
               "step k = 0..T−1 runs at chapter 3's warmup + cosine at t = k + 1: peak·t/W for t < W, else "
               "peak·(1 + cos(π·(t − W)/(T − W)))/2; record the rate the step used")
HINT_FIT_STEP = ("each epoch: order = torch.randperm(n, generator=torch.Generator().manual_seed(seed*1000 + epoch)); "
                 "micro-batches of batch_size in that order (the last may be smaller); one train_step per "
                 "accumulation_steps of them (the last group may be shorter, and is clipped too); "
                 "AdamW(param_groups(model, peak_lr, weight_decay)); record the loss and the norm BEFORE clipping")
HINT_FIT_BEST = ("evaluate after every epoch (model.eval(), torch.no_grad(), mean cross-entropy, accuracy as a "
                 "fraction); keep a deep copy of the state_dict of the first epoch with the highest accuracy and "
                 "load it back before returning")

TOLERANCE = {"float64": (1e-9, 1e-12), "float32": (5e-5, 1e-6)}
ORACLE_STEP = "the same model and optimizer on one batch of all the examples, clip_grad_norm_, step()"


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _weights(rng: np.random.Generator, shapes: list[tuple], dtype: str) -> list[np.ndarray]:
    out = []
    for shape in shapes:
        if len(shape) >= 2:
            out.append((rng.standard_normal(shape) / math.sqrt(shape[1])).astype(dtype))
        else:
            out.append((0.5 * rng.standard_normal(shape)).astype(dtype))
    return out


def _net(rng: np.random.Generator, dtype: str, d_in: int, d_out: int, *, norm: str | None = "layer_norm",
         shared: bool = False, direct: bool = False, frozen_child: bool = False) -> dict:
    """A spec of the ``"net"`` builder: linear, [norm], relu, linear (no bias) [, shared copy], tanh, linear."""
    hidden = int(rng.integers(4, 8))
    children: list[list] = [["linear", d_in, hidden]]
    if norm:
        children.append([norm, hidden])
    children += [["relu"], ["linear_nobias", hidden, hidden], ["tanh"]]
    spec: dict[str, Any] = {"dtype": dtype}
    if shared:
        children += [["linear_nobias", hidden, hidden], ["tanh"]]
        spec["shared"] = [[len(children) - 4, len(children) - 2]]
    if frozen_child:
        children += [["linear", hidden, hidden], ["relu"]]
    children.append(["linear", hidden, d_out])
    spec["children"] = children
    if direct:
        spec["direct"] = [[d_out]]
    shapes = builders.net_shapes(spec)
    spec["weights"] = _weights(rng, shapes, dtype)
    if frozen_child:  # the two parameters of the frozen linear sit just before the last linear's two
        n = len(shapes) - (1 if direct else 0)
        spec["frozen"] = [n - 4, n - 3]
    return spec


def _mlp(rng: np.random.Generator, dtype: str, d_in: int, d_out: int) -> dict:
    sizes = [d_in, int(rng.integers(4, 8)), d_out]
    shapes, _ = builders.mlp_shapes(sizes)
    return {"sizes": sizes, "dtype": dtype, "weights": _weights(rng, shapes, dtype)}


def _data(rng: np.random.Generator, dtype: str, loss: str, d_in: int, d_out: int, sizes: list[int]) -> dict:
    inputs = [rng.standard_normal((n, d_in)).astype(dtype) for n in sizes]
    if loss == "cross_entropy":
        targets = [rng.integers(0, d_out, n).astype(np.int64) for n in sizes]
    else:
        targets = [rng.standard_normal((n, d_out)).astype(dtype) for n in sizes]
    return {"inputs": inputs, "targets": targets}


def _optimizer(rng: np.random.Generator, name: str, shapes: list[tuple], dtype: str) -> dict:
    indices = list(range(len(shapes)))
    cut = int(rng.integers(1, len(indices)))
    groups = [indices[:cut], indices[cut:]]
    spec: dict[str, Any] = {"name": name, "groups": groups, "lrs": [_loguniform(rng, 1e-3, 3e-2) for _ in groups]}
    if name == "sgd":
        spec.update(momentum=float(rng.uniform(0.5, 0.9)))
        spec["state"] = [[i, [["momentum_buffer", (0.05 * rng.standard_normal(s)).astype(dtype)]]]
                         for i, s in enumerate(shapes)]
    else:
        spec.update(betas=[0.9, 0.999], weight_decay=float(rng.uniform(0.01, 0.1)))
        spec["state"] = [[i, [["exp_avg", (0.05 * rng.standard_normal(s)).astype(dtype)],
                              ["exp_avg_sq", (0.01 + 0.01 * rng.random(s)).astype(dtype)],
                              ["step", float(rng.integers(5, 30))]]] for i, s in enumerate(shapes)]
    return spec


def _make_here(kind: str, spec: dict, made: dict) -> Any:
    obj, _, _ = builders.build(kind, spec, made.__getitem__)
    made[len(made) + 1] = obj
    return obj


# train_step --------------------------------------------------------------------------------

@oracle
def oracle_train_step(model: nn.Module, loss_fn: Callable, micro_batches: list, optimizer: torch.optim.Optimizer,
                      max_norm: float | None) -> tuple[float, float]:
    """One batch made of every micro-batch: zero_grad, loss, backward, clip_grad_norm_, step."""
    inputs = torch.cat([x for x, _ in micro_batches])
    targets = torch.cat([y for _, y in micro_batches])
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    with_grad = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(with_grad, math.inf if max_norm is None else max_norm)
    optimizer.step()
    return loss.item(), float(norm)


def _step_problem(rng: np.random.Generator, *, dtype: str, model: str, loss: str, optimizer: str,
                  sizes: list[int], clip: str, **net: Any) -> dict:
    d_in, d_out = int(rng.integers(3, 6)), int(rng.integers(2, 4))
    model_spec = _net(rng, dtype, d_in, d_out, **net) if model == "net" else _mlp(rng, dtype, d_in, d_out)
    shapes = (builders.net_shapes(model_spec) if model == "net" else builders.mlp_shapes(model_spec["sizes"])[0])
    specs = {"kind": model, "model": model_spec, "loss": {"name": loss},
             "batches": _data(rng, dtype, loss, d_in, d_out, sizes),
             "optimizer": _optimizer(rng, optimizer, shapes, dtype), "max_norm": None}
    frozen = set(model_spec.get("frozen", []))
    n_direct = len(model_spec.get("direct", []))
    stale = [None if i in frozen or i >= len(shapes) - n_direct else (3.0 * rng.standard_normal(s)).astype(dtype)
             for i, s in enumerate(shapes)]
    specs["stale"] = stale
    if clip != "none":
        _, _, (_, norm), _ = _oracle_step(specs)
        specs["max_norm"] = float(norm * (rng.uniform(0.2, 0.6) if clip == "active" else rng.uniform(1.5, 3.0)))
    return specs


@oracle
def _oracle_step(specs: dict) -> tuple[list, list, tuple[float, float], list]:
    """``(parameters after, grads after, (loss, norm), parameter shapes)`` of the oracle."""
    made: dict[int, Any] = {}
    with torch.random.fork_rng(devices=[]), torch_threads(1):
        model = _make_here("mlp" if specs["kind"] == "mlp" else "net", specs["model"], made)
        loss_fn = _make_here("loss", specs["loss"], made)
        batches = _make_here("batches", specs["batches"], made)
        optimizer = _make_here("optimizer", dict(specs["optimizer"], model=1), made)
        answer = oracle_train_step(model, loss_fn, batches, optimizer, specs["max_norm"])
        params = list(model.parameters())
        return ([p.detach().double().numpy().copy() for p in params],
                [None if p.grad is None else p.grad.detach().double().numpy().copy() for p in params],
                answer, [tuple(p.shape) for p in params])


def _describe_step(specs: dict) -> dict:
    model = specs["model"]
    shown = (f"MLP {model['sizes']}" if specs["kind"] == "mlp"
             else "net of " + ", ".join(c[0] for c in model["children"])
             + (" (a shared weight)" if model.get("shared") else "") + (" (frozen parameters)" if model.get("frozen")
                                                                        else "")
             + (" (a parameter the forward pass does not use)" if model.get("direct") else ""))
    return {"model": shown, "loss": specs["loss"]["name"],
            "micro-batch sizes": [len(t) for t in specs["batches"]["targets"]],
            "optimizer": specs["optimizer"]["name"], "max_norm": specs["max_norm"], "stale grads": "set",
            "dtype": model["dtype"]}


def _run_step(subject: Subject, specs: dict) -> None:
    trace = subject.trace
    trace.begin(**_describe_step(specs))
    want_params, want_grads, (want_loss, want_norm), shapes = _oracle_step(specs)
    model = subject.make("mlp" if specs["kind"] == "mlp" else "net", **specs["model"])
    loss_fn = subject.make("loss", **specs["loss"])
    batches = subject.make("batches", **specs["batches"])
    optimizer = subject.make("optimizer", model=model, **specs["optimizer"])
    n_buffers = len(subject.params(model)) - len(shapes)
    subject.set_grads(model, list(specs["stale"]) + [None] * n_buffers)
    answer = subject.call_with(None, None, None, None, objects=[(0, model), (1, loss_fn), (2, batches),
                                                                (3, optimizer)], max_norm=specs["max_norm"])
    if not (isinstance(answer, list) and len(answer) == 2):
        shown = answer.type_name if isinstance(answer, Opaque) else type(answer).__name__
        trace.fail(f"train_step must return a tuple (mean loss, gradient norm), got {shown}", hint=HINT_STEP_RETURN)
    rtol, atol = TOLERANCE[specs["model"]["dtype"]]
    grads = subject.grads(model)
    for index, want in enumerate(want_grads):
        got = grads[index]
        if want is None:
            if got is not None and not (isinstance(got, np.ndarray) and not np.any(got)):
                trace.fail(f"parameter {index} (shape {shapes[index]}) takes no part in the loss (or is frozen), "
                           "yet its .grad after train_step is not None or zero: stale gradients were not cleared",
                           hint=HINT_STEP)
            continue
        expect_close_array(trace, f"the gradient left in .grad of parameter {index} (shape {shapes[index]})", want,
                           np.zeros_like(want) if got is None else got, rtol=rtol, atol=atol, hint=HINT_STEP,
                           oracle=ORACLE_STEP)
    expect_close_number(trace, "train_step(...)[0], the mean loss", want_loss, answer[0], rtol=rtol, atol=atol,
                        hint=HINT_STEP_RETURN, oracle=ORACLE_STEP)
    expect_close_number(trace, "train_step(...)[1], the gradient norm", want_norm, answer[1], rtol=rtol, atol=atol,
                        hint=HINT_STEP_RETURN, oracle="the global L2 norm before clipping")
    params = subject.params(model)
    for index, want in enumerate(want_params):
        expect_close_array(trace, f"parameter {index} (shape {shapes[index]}) after the step", want, params[index],
                           rtol=rtol, atol=atol, hint=HINT_STEP, oracle=ORACLE_STEP)


def _step_uneven(subject: Subject) -> None:
    rng = rng_for("training_loop.step_uneven")
    for dtype, model, loss, optimizer, clip in (("float64", "mlp", "mse", "sgd", "none"),
                                                ("float32", "net", "cross_entropy", "adamw", "active"),
                                                ("float64", "net", "cross_entropy", "sgd", "active"),
                                                ("float64", "mlp", "cross_entropy", "adamw", "inactive")):
        big = int(rng.integers(5, 9))
        sizes = [big] * int(rng.integers(2, 4)) + [int(rng.integers(1, big - 2))]
        _run_step(subject, _step_problem(rng, dtype=dtype, model=model, loss=loss, optimizer=optimizer,
                                         sizes=sizes, clip=clip))


def _step_no_grad(subject: Subject) -> None:
    rng = rng_for("training_loop.step_no_grad")
    for dtype, sizes in (("float64", None), ("float32", None), ("float64", [int(rng.integers(4, 9))])):
        if sizes is None:
            big = int(rng.integers(5, 9))
            sizes = [int(rng.integers(1, big - 2)), big, big]  # the smaller one first this time
        _run_step(subject, _step_problem(rng, dtype=dtype, model="net", loss="cross_entropy", optimizer="adamw",
                                         sizes=sizes, clip="active", frozen_child=True, direct=True, shared=True))


# adaptive_clip_grad_ -----------------------------------------------------------------------

@oracle
def oracle_agc(values: list[np.ndarray], grads: list[np.ndarray | None], clip_factor: float,
               eps: float) -> list[np.ndarray | None]:
    """The closed form of unit-wise AGC in numpy (float64)."""
    out: list[np.ndarray | None] = []
    for w, g in zip(values, grads):
        if g is None:
            out.append(None)
            continue
        w64, g64 = np.asarray(w, np.float64), np.asarray(g, np.float64)
        if w64.ndim <= 1:
            w_norm, g_norm = np.linalg.norm(w64.ravel()), np.linalg.norm(g64.ravel())
        else:
            axes = tuple(range(1, w64.ndim))
            w_norm = np.sqrt(np.sum(w64 ** 2, axis=axes, keepdims=True))
            g_norm = np.sqrt(np.sum(g64 ** 2, axis=axes, keepdims=True))
        allowed = clip_factor * np.maximum(w_norm, eps)
        out.append(np.where(g_norm < allowed, g64, g64 * allowed / np.maximum(g_norm, 1e-6)))
    return out


def _agc_problem(rng: np.random.Generator, dtype: str, clip_factor: float, eps: float, zero_units: bool) -> dict:
    """Tensors whose units are drawn on either side of their limit (a factor 3 away)."""
    shapes = [(int(rng.integers(3, 7)), int(rng.integers(2, 6))), (int(rng.integers(2, 5)), 2, 3, 3),
              (int(rng.integers(3, 7)),), ()]
    values, grads = [], []
    for shape in shapes:
        w = rng.standard_normal(shape)
        if zero_units and len(shape) == 1:
            w = np.zeros(shape)  # a zero-initialised bias
        if zero_units and len(shape) == 2:
            w[0] = 0.0  # a zero row
        rows = shape[0] if len(shape) >= 2 else 1
        w_units = w.reshape(rows, -1) if len(shape) >= 2 else w.reshape(1, -1)
        limits = clip_factor * np.maximum(np.linalg.norm(w_units, axis=1), eps)
        direction = rng.standard_normal(w_units.shape)
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        factors = np.where(rng.random(rows) < 0.5, 1 / 3, 3.0)
        factors[0] = 3.0  # at least one unit over its limit
        if rows > 1:
            factors[1] = 1 / 3  # and one under it
        g = (direction * (limits * factors)[:, None]).reshape(shape)
        values.append(w.astype(dtype))
        grads.append(g.astype(dtype))
    values.append(rng.standard_normal((3, 2)).astype(dtype))  # a parameter without a gradient
    grads.append(None)
    return {"values": values, "grads": grads, "dtype": dtype}


def _run_agc(subject: Subject, spec: dict, kwargs: dict) -> None:
    trace = subject.trace
    trace.begin(shapes=[tuple(np.shape(v)) for v in spec["values"]], **kwargs,
                single="one tensor" if spec.get("single") else "a list", dtype=spec["dtype"])
    handle = subject.make("tensors", **spec)
    subject.call_with(None, objects=[(0, handle)], **kwargs)
    got = subject.grads(handle)
    want = oracle_agc(spec["values"], spec["grads"], kwargs.get("clip_factor", 0.01), kwargs.get("eps", 1e-3))
    rtol, atol = TOLERANCE[spec["dtype"]]
    for index, (w, g) in enumerate(zip(want, got)):
        if w is None:
            if g is not None:
                trace.fail(f"tensor {index} had no gradient; after adaptive_clip_grad_ it has one", hint=HINT_AGC)
            continue
        expect_close_array(trace, f"the gradient of tensor {index} (shape {tuple(np.shape(w))})", w, g,
                           rtol=rtol, atol=atol, hint=HINT_AGC, oracle="unit-wise AGC (Brock et al. 2021; timm)")
    if got[0] is not None and np.array_equal(got[0], np.asarray(spec["grads"][0], np.float64)):
        trace.fail("adaptive_clip_grad_ did not change .grad in place", hint=HINT_AGC)


def _agc_units(subject: Subject) -> None:
    rng = rng_for("training_loop.agc_units")
    for dtype in ("float64", "float32"):
        clip_factor, eps = _loguniform(rng, 0.01, 0.3), _loguniform(rng, 1e-4, 1e-2)
        _run_agc(subject, _agc_problem(rng, dtype, clip_factor, eps, False), {"clip_factor": clip_factor, "eps": eps})
    _run_agc(subject, _agc_problem(rng, "float64", 0.01, 1e-3, False), {})


def _agc_zero_init(subject: Subject) -> None:
    rng = rng_for("training_loop.agc_zero_init")
    clip_factor, eps = _loguniform(rng, 0.02, 0.2), _loguniform(rng, 1e-3, 1e-1)
    _run_agc(subject, _agc_problem(rng, "float64", clip_factor, eps, True), {"clip_factor": clip_factor, "eps": eps})
    bias = np.zeros(int(rng.integers(3, 8)))
    grad = rng.standard_normal(bias.shape)
    single = {"values": [bias], "grads": [grad], "dtype": "float64", "single": True}
    _run_agc(subject, single, {"clip_factor": clip_factor, "eps": eps})


# param_groups ------------------------------------------------------------------------------

@oracle
def expected_groups(model: nn.Module, lr: float, weight_decay: float, layer_decay: float) -> dict[int, tuple]:
    """``{id(parameter): (lr, weight_decay)}`` read off the model's children."""
    layers, seen = [], set()
    for child in model.children():
        owned = [p for p in child.parameters() if p.requires_grad and id(p) not in seen]
        seen.update(id(p) for p in owned)
        if owned:
            layers.append(owned)
    return {id(p): (lr * layer_decay ** (len(layers) - 1 - k), weight_decay if p.ndim >= 2 else 0.0)
            for k, owned in enumerate(layers) for p in owned}


@oracle
def _groups_wanted(spec: dict, lr: float, weight_decay: float, layer_decay: float) -> list[tuple | None]:
    """Per parameter of the net built from ``spec``: ``(lr, weight_decay)``, None for a frozen one."""
    with torch.random.fork_rng(devices=[]):
        model = _make_here("net", spec, {})
        want = expected_groups(model, lr, weight_decay, layer_decay)
        return [want.get(id(p)) for p in model.parameters()]


def _run_groups(subject: Subject, spec: dict, args: tuple, kwargs: dict) -> None:
    trace = subject.trace
    trace.begin(children=[c[0] for c in spec["children"]], shared=bool(spec.get("shared")),
                frozen=spec.get("frozen", []), lr=args[0], weight_decay=args[1], **kwargs)
    made: dict[int, Any] = {}
    model = _make_here("net", spec, made)
    parameters = list(model.parameters())
    want = _groups_wanted(spec, *args, kwargs.get("layer_decay", 1.0))
    handle = subject.make("net", **spec)
    answer = subject.call_with(None, *args, objects=[(0, handle)], **kwargs)
    if not isinstance(answer, list) or not all(isinstance(g, dict) for g in answer):
        shown = answer.type_name if isinstance(answer, Opaque) else type(answer).__name__
        trace.fail(f"param_groups must return a list of dicts, got {shown}", hint=HINT_GROUPS)
    found: dict[int, list[tuple]] = {}
    for number, group in enumerate(answer):
        for key in ("params", "lr", "weight_decay"):
            if key not in group:
                trace.fail(f"group {number} has no key {key!r} (keys: {sorted(group)})", hint=HINT_GROUPS)
        if not isinstance(group["params"], list):
            trace.fail(f"group {number}: 'params' must be a list of parameters", hint=HINT_GROUPS)
        for tensor in group["params"]:
            matches = [i for i, p in enumerate(parameters) if isinstance(tensor, np.ndarray)
                       and tensor.shape == tuple(p.shape) and np.array_equal(tensor, p.detach().double().numpy())]
            if len(matches) != 1:
                trace.fail(f"group {number} holds something that is not one of the model's parameters",
                           hint=HINT_GROUPS)
            found.setdefault(matches[0], []).append((group["lr"], group["weight_decay"], number))
    for index, p in enumerate(parameters):
        where = f"parameter {index} (shape {tuple(p.shape)}, in {_owner(model, p)})"
        if want[index] is None:
            if index in found:
                trace.fail(f"{where} is frozen (requires_grad=False) but appears in a group", hint=HINT_GROUPS)
            continue
        if index not in found:
            trace.fail(f"{where} appears in no group", hint=HINT_GROUPS)
        if len(found[index]) > 1:
            trace.fail(f"{where} appears in {len(found[index])} groups (a shared parameter appears once)",
                       hint=HINT_GROUPS)
        lr, decay, number = found[index][0]
        want_lr, want_decay = want[index]
        expect_close_number(trace, f"the lr of {where} (group {number})", want_lr, lr, rtol=1e-12, atol=0.0,
                            hint=HINT_GROUPS, oracle="lr·layer_decay**(L − 1 − k)")
        expect_close_number(trace, f"the weight_decay of {where} (group {number})", want_decay, decay, rtol=1e-12,
                            atol=0.0, hint=HINT_GROUPS, oracle="weight_decay for ndim >= 2, 0 otherwise")


def _owner(model: nn.Module, parameter: torch.Tensor) -> str:
    for name, child in model.named_children():
        if any(p is parameter for p in child.parameters()):
            return f"child {name} ({type(child).__name__})"
    return "the model itself"


def _groups_weight_decay(subject: Subject) -> None:
    rng = rng_for("training_loop.groups_weight_decay")
    for norm in ("layer_norm", "batch_norm"):
        spec = _net(rng, "float64", int(rng.integers(3, 6)), int(rng.integers(2, 4)), norm=norm)
        _run_groups(subject, spec, (_loguniform(rng, 1e-4, 1e-2), float(rng.uniform(0.01, 0.1))), {})


def _groups_layer_decay(subject: Subject) -> None:
    rng = rng_for("training_loop.groups_layer_decay")
    for shared, frozen in ((False, False), (True, True)):
        spec = _net(rng, "float64", int(rng.integers(3, 6)), int(rng.integers(2, 4)), shared=shared,
                    frozen_child=frozen)
        _run_groups(subject, spec, (_loguniform(rng, 1e-4, 1e-2), float(rng.uniform(0.01, 0.1))),
                    {"layer_decay": float(rng.uniform(0.5, 0.9))})


# fit ---------------------------------------------------------------------------------------

@oracle
def fit_rates(peak_lr: float, total: int, warmup_fraction: float) -> list[float]:
    """Warmup + cosine (chapter 3) at t = k + 1 for k = 0..T−1, W = max(1, round(f·T))."""
    warmup = max(1, round(warmup_fraction * total))
    rates = []
    for t in range(1, total + 1):
        if t < warmup:
            rates.append(peak_lr * t / warmup)
        else:
            rates.append(peak_lr * 0.5 * (1 + math.cos(math.pi * min((t - warmup) / (total - warmup), 1.0))))
    return rates


@oracle
def oracle_fit(model: nn.Module, train_set: tuple, val_set: tuple, *, epochs: int, batch_size: int, peak_lr: float,
               warmup_fraction: float = 0.1, weight_decay: float = 0.01, max_norm: float = 1.0,
               accumulation_steps: int = 1, seed: int = 0) -> dict:
    """The loop the chapter defines, with torch's AdamW and one big batch per optimizer step."""
    inputs, targets = train_set
    n = len(targets)
    micro = math.ceil(n / batch_size)
    per_epoch = math.ceil(micro / accumulation_steps)
    rates = fit_rates(peak_lr, epochs * per_epoch, warmup_fraction)
    settings = expected_groups(model, peak_lr, weight_decay, 1.0)
    optimizer = torch.optim.AdamW([{"params": [p], "weight_decay": settings[id(p)][1]}
                                   for p in model.parameters() if id(p) in settings], lr=peak_lr)
    history: dict = {"lr": [], "loss": [], "grad_norm": [], "val_loss": [], "val_accuracy": []}
    best, best_state, best_epoch, step = -1.0, None, 0, 0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        span = accumulation_steps * batch_size
        for start in range(0, n, span):
            model.train()
            for group in optimizer.param_groups:
                group["lr"] = rates[step]
            loss, norm = oracle_train_step(model, nn.CrossEntropyLoss(),
                                           [(inputs[order[start:start + span]], targets[order[start:start + span]])],
                                           optimizer, max_norm)
            history["lr"].append(rates[step])
            history["loss"].append(loss)
            history["grad_norm"].append(norm)
            step += 1
        model.eval()
        with torch.no_grad():
            logits = model(val_set[0])
            history["val_loss"].append(nn.functional.cross_entropy(logits, val_set[1]).item())
            accuracy = (logits.argmax(1) == val_set[1]).double().mean().item()
        history["val_accuracy"].append(accuracy)
        if accuracy > best:
            best, best_state, best_epoch = accuracy, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    history["best_epoch"] = best_epoch
    return history


def _fit_problem(rng: np.random.Generator, defaults: bool) -> tuple[dict, dict]:
    d_in, classes = int(rng.integers(4, 7)), int(rng.integers(3, 5))
    n, n_val = int(rng.integers(40, 70)), int(rng.integers(20, 40))
    teacher = rng.standard_normal((d_in, classes))

    def labelled(count: int) -> dict:
        x = rng.standard_normal((count, d_in))
        logits = x @ teacher + 1.5 * rng.standard_normal((count, classes))  # noisy labels
        return {"inputs": x, "targets": np.argmax(logits, axis=1).astype(np.int64)}

    specs = {"model": _net(rng, "float64", d_in, classes), "train": labelled(n), "val": labelled(n_val)}
    batch_size = int(rng.integers(5, 12))
    while n % batch_size == 0:
        batch_size += 1
    kwargs: dict[str, Any] = {"epochs": int(rng.integers(4, 7)), "batch_size": batch_size,
                              "peak_lr": _loguniform(rng, 0.02, 0.2)}
    if not defaults:
        accumulation = int(rng.integers(2, 4))
        while math.ceil(n / batch_size) % accumulation == 0:
            accumulation += 1
        per_epoch = math.ceil(math.ceil(n / batch_size) / accumulation)
        total = kwargs["epochs"] * per_epoch
        whole = int(rng.integers(1, max(2, total // 3)))
        kwargs.update(accumulation_steps=accumulation, warmup_fraction=(whole + 0.7) / total,  # round ≠ int
                      weight_decay=float(rng.uniform(0.05, 0.3)), max_norm=float(rng.uniform(0.3, 0.8)),
                      seed=int(rng.integers(0, 50)))
    return specs, kwargs


@oracle
def _oracle_fit(specs: dict, kwargs: dict) -> tuple[dict, list[np.ndarray]]:
    made: dict[int, Any] = {}
    with torch.random.fork_rng(devices=[]), torch_threads(1):
        model = _make_here("net", specs["model"], made)
        train = _make_here("dataset", specs["train"], made)
        val = _make_here("dataset", specs["val"], made)
        history = oracle_fit(model, train, val, **kwargs)
        return history, [p.detach().double().numpy().copy() for p in model.parameters()]


def _draw_fit(rng: np.random.Generator, defaults: bool) -> tuple[dict, dict, dict, list]:
    """Problems whose best epoch is not the last and whose clipping acts at some step."""
    for _ in range(60):
        specs, kwargs = _fit_problem(rng, defaults)
        history, params = _oracle_fit(specs, kwargs)
        clipped = max(history["grad_norm"]) > kwargs.get("max_norm", 1.0) * 1.2
        last_best = history["best_epoch"] == kwargs["epochs"] - 1
        if clipped and not last_best:
            return specs, kwargs, history, params
    raise RuntimeError("no fit problem of the wanted kind was drawn")  # pragma: no cover


def _run_fit(subject: Subject, specs: dict, kwargs: dict, history: dict, params: list) -> None:
    trace = subject.trace
    trace.begin(model="net of " + ", ".join(c[0] for c in specs["model"]["children"]),
                train_examples=len(specs["train"]["targets"]), val_examples=len(specs["val"]["targets"]), **kwargs)
    model = subject.make("net", **specs["model"])
    train = subject.make("dataset", **specs["train"])
    val = subject.make("dataset", **specs["val"])
    answer = subject.call_with(None, None, None, objects=[(0, model), (1, train), (2, val)], **kwargs)
    if not isinstance(answer, dict):
        shown = answer.type_name if isinstance(answer, Opaque) else type(answer).__name__
        trace.fail(f"fit must return a dict (the history), got {shown}", hint=HINT_FIT_STEP)
    for key in ("lr", "loss", "grad_norm", "val_loss", "val_accuracy", "best_epoch"):
        if key not in answer:
            trace.fail(f"the history has no key {key!r} (keys: {sorted(answer)})", hint=HINT_FIT_STEP)
    for key in ("lr", "loss", "grad_norm", "val_loss", "val_accuracy"):
        if not isinstance(answer[key], list) or len(answer[key]) != len(history[key]):
            got = len(answer[key]) if isinstance(answer[key], list) else type(answer[key]).__name__
            trace.fail(f"history[{key!r}] must be a list of {len(history[key])} numbers "
                       f"({'one per optimizer step' if key in ('lr', 'loss', 'grad_norm') else 'one per epoch'}), "
                       f"got {got}", hint=HINT_FIT_LR if key == "lr" else HINT_FIT_STEP)
    rtol, atol = 1e-7, 1e-9
    total = len(history["lr"])
    for step in range(total):
        trace.step, trace.steps = step + 1, total
        expect_close_number(trace, f"history['lr'][{step}]", history["lr"][step], answer["lr"][step], rtol=1e-12,
                            atol=0.0, hint=HINT_FIT_LR, oracle="warmup + cosine at step k + 1")
    for step in range(total):
        trace.step, trace.steps = step + 1, total
        expect_close_number(trace, f"history['grad_norm'][{step}]", history["grad_norm"][step],
                            answer["grad_norm"][step], rtol=rtol, atol=atol, hint=HINT_FIT_STEP,
                            oracle="the global norm before clipping, torch's AdamW on the chapter's groups")
        expect_close_number(trace, f"history['loss'][{step}]", history["loss"][step], answer["loss"][step],
                            rtol=rtol, atol=atol, hint=HINT_FIT_STEP, oracle="the mean loss of the step")
    trace.step = None
    for epoch in range(len(history["val_loss"])):
        expect_close_number(trace, f"history['val_loss'][{epoch}]", history["val_loss"][epoch],
                            answer["val_loss"][epoch], rtol=rtol, atol=atol, hint=HINT_FIT_BEST)
        expect_close_number(trace, f"history['val_accuracy'][{epoch}]", history["val_accuracy"][epoch],
                            answer["val_accuracy"][epoch], rtol=0.0, atol=1e-6, hint=HINT_FIT_BEST)
    if answer["best_epoch"] != history["best_epoch"]:
        trace.fail(f"history['best_epoch'] is {answer['best_epoch']!r}; the first epoch with the highest accuracy "
                   f"is {history['best_epoch']} (accuracies {[round(a, 4) for a in history['val_accuracy']]})",
                   hint=HINT_FIT_BEST)
    got = subject.params(model)
    for index, want in enumerate(params):
        expect_close_array(trace, f"parameter {index} (shape {want.shape}) of the returned model", want, got[index],
                           rtol=rtol, atol=atol, hint=HINT_FIT_BEST,
                           oracle=f"the weights after epoch {history['best_epoch']} (the best)")


def _fit_settings(subject: Subject) -> None:
    rng = rng_for("training_loop.fit_settings")
    _run_fit(subject, *_draw_fit(rng, defaults=False))


def _fit_defaults(subject: Subject) -> None:
    rng = rng_for("training_loop.fit_defaults")
    _run_fit(subject, *_draw_fit(rng, defaults=True))


def _spec(name: str, unit: str, description: str, func: Callable[[Subject], None]) -> CheckSpec:
    return CheckSpec(f"training_loop.{name}", unit, description, func, kind="function",
                     forbidden=TRAINING_LOOP_IMPLEMENTATIONS)


CHECKS = [
    _spec("step_uneven", "train_step",
          "train_step matches one big batch with uneven micro-batches, stale gradients, SGD and AdamW, clipped or not",
          _step_uneven),
    _spec("step_no_grad", "train_step",
          "train_step skips frozen and unused parameters and clips the accumulated gradient once", _step_no_grad),
    _spec("agc_units", "adaptive_clip_grad_",
          "adaptive_clip_grad_ clips unit by unit (rows, conv filters, whole vectors and scalars) as AGC defines it",
          _agc_units),
    _spec("agc_zero_init", "adaptive_clip_grad_",
          "adaptive_clip_grad_ keeps zero-initialised units trainable through eps, for a list or one tensor",
          _agc_zero_init),
    _spec("groups_weight_decay", "param_groups",
          "param_groups puts every trainable parameter once, with weight decay on matrices only", _groups_weight_decay),
    _spec("groups_layer_decay", "param_groups",
          "param_groups gives layer k of L the rate lr·decay^(L−1−k), shared and frozen parameters handled",
          _groups_layer_decay),
    _spec("fit_settings", "fit",
          "fit matches the chapter's loop step by step (accumulation, uneven groups, warmup, clipping, best epoch)",
          _fit_settings),
    _spec("fit_defaults", "fit", "fit with its defaults matches the chapter's loop and keeps the best epoch",
          _fit_defaults),
]

__all__ = ["CHECKS", "oracle_train_step", "oracle_agc", "expected_groups", "fit_rates", "oracle_fit"]
