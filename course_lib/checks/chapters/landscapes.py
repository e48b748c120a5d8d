r"""Checks for loss landscapes (chapter 9): ``filter_normalized_direction``, ``loss_along_line``, ``loss_surface``.

Each graded function takes a model (and a loss): a check describes them as plain specs and the subject
builds them where the student's code runs with the trusted builders of
:mod:`course_lib.checks.builders` (an MLP with biases, with batch norm in some settings, or a small
convolutional network whose weights have four dimensions), calls the function and reads the model back.

Oracles:

- the direction: Li et al.'s ``net_plotter.py`` written out in float64 from the weights of the spec:
  one ``torch.randn(shape, generator=g, dtype=dtype)`` per parameter in order (the draw is the one
  thing taken from torch: the generator's stream is the specification), zeros for parameters with
  one dimension or none, and every filter ``d[i]`` scaled by ``‖θ[i]‖/(‖d[i]‖ + 1e-10)``;
- the line and the surface: a fresh copy of the model built here from the same spec, its parameters
  set to the combination computed in float64 (then rounded to the model's dtype), evaluated in eval
  mode; ``tests/ch09_loss_landscapes`` checks this against a closed-form forward pass in numpy.

Weights are drawn with rows (filters) of very different sizes, so that normalising a tensor as a
whole, or along the wrong axis, is far off for any seed; batch-norm running statistics are drawn far
from the batch's own, so that evaluating in train mode is far off too; ``alphas`` and ``betas`` have
different lengths and ranges, so that swapped axes show up in the shape and in the values.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from course_lib.checks import builders
from course_lib.checks.chapters._spec import CheckSpec, rng_for
from course_lib.checks.plain import Opaque
from course_lib.checks.messages import expect_close_array
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject
from course_lib.training import torch_threads

ORACLE_DIRECTION = "Li et al.'s filter normalisation (net_plotter.py), in float64 from the same draws"
ORACLE_LOSS = "a fresh copy of the model at the combined weights (float64 combination), in eval mode"
HINT_DRAW = ("for p in model.parameters(), in order: d = torch.randn(p.shape, generator=generator, dtype=p.dtype) "
             "— one draw per parameter, biases and normalisation weights included, from the generator given")
HINT_FILTER = ("for p.dim() <= 1: zeros; otherwise, for every filter i (d[i], a slice along the FIRST dimension): "
               "d[i] = d[i]·‖p[i]‖/(‖d[i]‖ + 1e-10), Frobenius norms of that one filter, not of the whole tensor")
HINT_LINE = ("for each alpha: set every parameter to (1 − alpha)·start + alpha·end (alpha = 0 is start, 1 is end), "
             "then loss_fn(model(inputs), targets) in eval mode (model.eval(): batch norm uses its running "
             "statistics) under torch.no_grad()")
HINT_SURFACE = ("Z[i, j] = loss at θ + alphas[j]·direction1 + betas[i]·direction2: rows follow betas, columns "
                "alphas, shape (len(betas), len(alphas)); θ is the model's weights when called, and every point "
                "starts again from θ; evaluate in eval mode under torch.no_grad()")
HINT_RESTORE = ("before: copies (clone) of every parameter and buffer and each module's training flag; afterwards "
                "copy the values back in place (p.copy_(saved) under torch.no_grad()) and set each module's flag "
                "back (a try/finally restores even after an error)")
HINT_GRAPH = "evaluate under torch.no_grad(): a landscape needs no gradients, and a graph per point costs memory"

DIRECTION_TOLERANCE = {"float64": (1e-9, 1e-12), "float32": (1e-5, 1e-7)}
LOSS_TOLERANCE = {"float64": (1e-9, 1e-12), "float32": (2e-5, 1e-6)}


# problems ------------------------------------------------------------------------------

def _weights(rng: np.random.Generator, shapes: list[tuple], dtype: str) -> list[np.ndarray]:
    """Weights whose filters (slices along the first dimension) have very different norms."""
    weights = []
    for shape in shapes:
        if len(shape) <= 1:
            weights.append((0.2 * rng.standard_normal(shape) + (1.0 if len(weights) % 4 == 2 else 0.0))
                           .astype(dtype))
            continue
        fan_in = int(np.prod(shape[1:]))
        rows = np.exp(rng.uniform(math.log(0.2), math.log(4.0), (shape[0],) + (1,) * (len(shape) - 1)))
        weights.append((rows * rng.standard_normal(shape) / math.sqrt(fan_in)).astype(dtype))
    return weights


def _buffers(rng: np.random.Generator, shapes: list[tuple], dtype: str) -> list[np.ndarray]:
    """Running statistics far from what a batch gives (means ±1, variances 2 to 6), step counts."""
    buffers = []
    for shape in shapes:
        if shape == ():
            buffers.append(np.array(int(rng.integers(1, 50)), dtype=np.int64))
        elif len(buffers) % 3 == 0:
            buffers.append((rng.choice([-1.0, 1.0], shape) * rng.uniform(0.8, 1.5, shape)).astype(dtype))
        else:
            buffers.append(rng.uniform(2.0, 6.0, shape).astype(dtype))
    return buffers


def _model(rng: np.random.Generator, *, kind: str, dtype: str, batch_norm: bool, train: bool) -> dict[str, Any]:
    """A model spec: ``{"kind", "spec", "input_shape", "outputs"}``."""
    if kind == "mlp":
        d_in, hidden, d_out = int(rng.integers(3, 7)), int(rng.integers(4, 9)), int(rng.integers(2, 5))
        sizes = [d_in, hidden, d_out] if rng.random() < 0.5 else [d_in, hidden, int(rng.integers(4, 9)), d_out]
        param_shapes, buffer_shapes = builders.mlp_shapes(sizes, batch_norm)
        spec: dict[str, Any] = {"sizes": sizes, "dtype": dtype, "batch_norm": batch_norm, "train": train}
        input_shape, outputs = (d_in,), d_out
    else:
        spec = {"in_channels": int(rng.integers(1, 3)), "channels": [int(rng.integers(2, 5))],
                "kernel_size": 3, "image_size": int(rng.integers(3, 5)), "classes": int(rng.integers(2, 4)),
                "dtype": dtype, "batch_norm": batch_norm, "train": train}
        if rng.random() < 0.5:
            spec["channels"].append(int(rng.integers(2, 4)))
        param_shapes, buffer_shapes = builders.convnet_shapes(spec)
        side = spec["image_size"]
        input_shape, outputs = (spec["in_channels"], side, side), spec["classes"]
    spec["weights"] = _weights(rng, param_shapes, dtype)
    if batch_norm:
        spec["buffers"] = _buffers(rng, buffer_shapes, dtype)
    return {"kind": kind, "spec": spec, "input_shape": input_shape, "outputs": outputs, "shapes": param_shapes}


def _data(rng: np.random.Generator, model: dict, loss: str) -> tuple[np.ndarray, np.ndarray]:
    size = int(rng.integers(5, 10))
    dtype = model["spec"]["dtype"]
    inputs = rng.standard_normal((size,) + tuple(model["input_shape"])).astype(dtype)
    if loss == "cross_entropy":
        targets = rng.integers(0, model["outputs"], size).astype(np.int64)
    else:
        targets = rng.standard_normal((size, model["outputs"])).astype(dtype)
    return inputs, targets


def _describe(model: dict, **more: Any) -> dict:
    spec = model["spec"]
    if model["kind"] == "mlp":
        name = f"MLP {spec['sizes']}"
    else:
        side = spec["image_size"]
        name = f"convnet {spec['in_channels']}×{side}×{side} → conv {spec['channels']} (3×3) → {spec['classes']}"
    setting = {"model": name + (" with BatchNorm" if spec["batch_norm"] else ""),
               "mode before": "train" if spec["train"] else "eval"}
    setting.update(more)
    setting["dtype"] = spec["dtype"]
    return setting


# oracles --------------------------------------------------------------------------------

_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@oracle
def oracle_direction(weights: list[np.ndarray], seed: int, dtype: str) -> list[np.ndarray]:
    """Li et al.'s filter-normalised direction for parameters with these values, in float64."""
    generator = torch.Generator().manual_seed(seed)
    direction = []
    for w in weights:
        d = torch.randn(tuple(w.shape), generator=generator, dtype=_TORCH_DTYPES[dtype]).numpy().astype(np.float64)
        if w.ndim <= 1:
            direction.append(np.zeros_like(d))
            continue
        w64 = w.astype(np.float64)
        for i in range(w.shape[0]):
            d[i] *= np.sqrt(np.sum(w64[i] ** 2)) / (np.sqrt(np.sum(d[i] ** 2)) + 1e-10)
        direction.append(d)
    return direction


def _builder_of(model: dict) -> Callable[[dict], torch.nn.Module]:
    return builders.build_mlp if model["kind"] == "mlp" else builders.build_convnet


@oracle
def oracle_losses(model: dict, loss: str, inputs: np.ndarray, targets: np.ndarray,
                  points: list[list[np.ndarray]]) -> np.ndarray:
    """The loss of a fresh copy of the model, in eval mode, at each list of parameter values (float64)."""
    values = np.empty(len(points))
    with torch.random.fork_rng(devices=[]), torch_threads(1), torch.no_grad():
        net = _builder_of(model)(model["spec"]).eval()
        loss_fn = builders.build_loss({"name": loss})
        x, y = torch.from_numpy(inputs.copy()), torch.from_numpy(targets.copy())
        for k, point in enumerate(points):
            for p, value in zip(net.parameters(), point):
                p.copy_(torch.from_numpy(value).to(p.dtype))
            values[k] = float(loss_fn(net(x), y))
    return values


# running ----------------------------------------------------------------------------------

def _fail_type(subject: Subject, answer: Any, what: str, hint: str) -> None:
    shown = answer.type_name if isinstance(answer, Opaque) else answer if isinstance(answer, str) \
        else type(answer).__name__
    subject.trace.fail(f"{what}, got {shown}", hint=hint)


def _expect_unchanged(subject: Subject, name: str, handle: int, before: dict, restore_hint: str) -> None:
    after = subject.snapshot(handle)
    for index, (old, new) in enumerate(zip(before["tensors"], after["tensors"])):
        if not (isinstance(new, np.ndarray) and new.shape == old.shape and np.array_equal(old, new)):
            changed = int(np.sum(old != new)) if isinstance(new, np.ndarray) and new.shape == old.shape else "all"
            subject.trace.fail(f"after {name} returned, tensor {index} of model.parameters() + model.buffers() "
                               f"(shape {tuple(old.shape)}) is not what it was before the call ({changed} entries "
                               f"differ)", hint=restore_hint)
    if before["training"] != after["training"]:
        subject.trace.fail(f"after {name} returned, the modules' training flags are {after['training']}; before the "
                           f"call they were {before['training']}", hint=restore_hint)


def _direction_case(subject: Subject, rng: np.random.Generator, kind: str, dtype: str, batch_norm: bool) -> None:
    model = _model(rng, kind=kind, dtype=dtype, batch_norm=batch_norm, train=bool(rng.random() < 0.5))
    seed = int(rng.integers(0, 2**31 - 1))
    subject.trace.begin(**_describe(model, **{"generator seed": seed}))
    handle = subject.make(kind, **model["spec"])
    generator = subject.make("generator", seed=seed)
    before = subject.snapshot(handle)
    answer = subject.call_with(None, None, objects=[(0, handle), (1, generator)])
    expected = oracle_direction(model["spec"]["weights"], seed, dtype)
    if not (isinstance(answer, list) and len(answer) == len(expected)):
        _fail_type(subject, answer, f"filter_normalized_direction must return a list of {len(expected)} tensors "
                   f"(one per parameter, shapes {model['shapes']})", HINT_DRAW)
    rtol, atol = DIRECTION_TOLERANCE[dtype]
    for index, (want, got) in enumerate(zip(expected, answer)):
        shape = tuple(want.shape)
        what = f"direction[{index}] (parameter of shape {shape}" + (", one dimension: zeros)" if len(shape) <= 1
                                                                     else f", {shape[0]} filters)")
        if not isinstance(got, np.ndarray) or got.shape != want.shape:
            _fail_type(subject, got if not isinstance(got, np.ndarray) else f"shape {got.shape}",
                       f"{what} must be a tensor of shape {shape}", HINT_DRAW)
        hint = HINT_FILTER if len(shape) > 1 else "parameters with one dimension or none (biases, batch-norm " \
                                                  "weights) get a zero direction — but still one draw each"
        if len(shape) > 1 and not np.allclose(got, want, rtol=100 * rtol, atol=100 * atol):
            hint = _diagnose(want, got, model["spec"]["weights"][index]) or hint
        expect_close_array(subject.trace, what, want, got, rtol=rtol, atol=atol, hint=hint, oracle=ORACLE_DIRECTION)
    _expect_unchanged(subject, "filter_normalized_direction", handle, before,
                      "filter_normalized_direction only reads the weights: do not change the model")


def _diagnose(want: np.ndarray, got: np.ndarray, weight: np.ndarray) -> str | None:
    """Name the mistake when the answer has the right draw but the wrong scale, or the wrong draw."""
    flat_want, flat_got = want.reshape(want.shape[0], -1), got.reshape(got.shape[0], -1)
    norms_w = np.linalg.norm(weight.astype(np.float64).reshape(weight.shape[0], -1), axis=1)
    norms_got = np.linalg.norm(flat_got, axis=1)
    cos = np.sum(flat_want * flat_got, axis=1) / (np.linalg.norm(flat_want, axis=1) * norms_got + 1e-300)
    if np.all(cos > 1 - 1e-6):  # the right random numbers, the wrong size of each filter
        if np.allclose(norms_got, 1.0, rtol=1e-4):
            return "each filter has norm 1: scale it to the norm of the matching filter of the weights, ‖p[i]‖"
        total = np.linalg.norm(flat_got) / np.linalg.norm(weight.astype(np.float64))
        if abs(total - 1) < 1e-4:
            return ("the whole tensor was scaled to ‖p‖ (per-tensor normalisation): Li et al. scale every FILTER "
                    "d[i] to ‖p[i]‖, so that each filter moves in proportion to its own size")
        return HINT_FILTER
    return ("these are not the random numbers of the oracle's draw: " + HINT_DRAW
            + "; then normalise along the first dimension (filters), not along another axis")


def _line_case(subject: Subject, rng: np.random.Generator, *, kind: str, dtype: str, batch_norm: bool, train: bool,
               loss: str, restore_only: bool = False) -> None:
    model = _model(rng, kind=kind, dtype=dtype, batch_norm=batch_norm, train=train)
    start = _weights(rng, model["shapes"], dtype)
    end = [(s.astype(np.float64) + rng.standard_normal(s.shape) * (0.5 + np.abs(s))).astype(dtype) for s in start]
    n = int(rng.integers(5, 9))
    alphas = [float(a) for a in rng.uniform(-0.6, 1.6, n)]
    alphas[int(rng.integers(0, n))] = 0.0 if rng.random() < 0.5 else 1.0
    alphas.sort()
    inputs, targets = _data(rng, model, loss)
    subject.trace.begin(**_describe(model, loss=loss, alphas=[round(a, 3) for a in alphas]))
    handle = subject.make(kind, **model["spec"])
    loss_handle = subject.make("loss", name=loss)
    before = subject.snapshot(handle)
    answer = subject.call_with(None, None, inputs, targets, start, end, alphas, objects=[(0, handle), (1, loss_handle)])
    points = [[((1 - a) * s.astype(np.float64) + a * e.astype(np.float64)) for s, e in zip(start, end)]
              for a in alphas]
    expected = oracle_losses(model, loss, inputs, targets, points)
    if not isinstance(answer, np.ndarray) or answer.shape != expected.shape:
        _fail_type(subject, answer if not isinstance(answer, np.ndarray) else f"an array of shape {answer.shape}",
                   f"loss_along_line must return an np.ndarray of shape ({len(alphas)},), one loss per alpha",
                   HINT_LINE)
    rtol, atol = LOSS_TOLERANCE[dtype]
    expect_close_array(subject.trace, f"losses at alphas {[round(a, 3) for a in alphas]}", expected, answer,
                       rtol=rtol, atol=atol, hint=HINT_LINE, oracle=ORACLE_LOSS)
    _expect_unchanged(subject, "loss_along_line", handle, before, HINT_RESTORE)


def _grid(rng: np.random.Generator, low: float, high: float, n: int) -> list[float]:
    values = [float(v) for v in rng.uniform(low, high, n)]
    values[int(rng.integers(0, n))] = 0.0
    return sorted(values)


def _surface_case(subject: Subject, rng: np.random.Generator, *, kind: str, dtype: str, batch_norm: bool, train: bool,
                  loss: str) -> None:
    model = _model(rng, kind=kind, dtype=dtype, batch_norm=batch_norm, train=train)
    centre = model["spec"]["weights"]
    d1 = [(0.5 * rng.standard_normal(w.shape)).astype(dtype) for w in centre]
    d2 = [(0.5 * rng.standard_normal(w.shape)).astype(dtype) for w in centre]
    n_alpha = int(rng.integers(3, 6))
    n_beta = n_alpha + int(rng.integers(1, 3))
    alphas, betas = _grid(rng, -1.0, 1.0, n_alpha), _grid(rng, -0.4, 1.5, n_beta)
    inputs, targets = _data(rng, model, loss)
    subject.trace.begin(**_describe(model, loss=loss, alphas=[round(a, 3) for a in alphas],
                                    betas=[round(b, 3) for b in betas]))
    handle = subject.make(kind, **model["spec"])
    loss_handle = subject.make("loss", name=loss, record_graphs=True)
    before = subject.snapshot(handle)
    answer = subject.call_with(None, None, inputs, targets, d1, d2, alphas, betas,
                               objects=[(0, handle), (1, loss_handle)])
    points = [[w.astype(np.float64) + a * u.astype(np.float64) + b * v.astype(np.float64)
               for w, u, v in zip(centre, d1, d2)] for b in betas for a in alphas]
    expected = oracle_losses(model, loss, inputs, targets, points).reshape(len(betas), len(alphas))
    if not isinstance(answer, np.ndarray) or answer.shape != expected.shape:
        got = answer if not isinstance(answer, np.ndarray) else f"an array of shape {answer.shape}"
        hint = HINT_SURFACE
        if isinstance(answer, np.ndarray) and answer.shape == expected.shape[::-1]:
            hint = "the axes are swapped: " + HINT_SURFACE
        _fail_type(subject, got, f"loss_surface must return an np.ndarray of shape (len(betas), len(alphas)) = "
                   f"{expected.shape}", hint)
    rtol, atol = LOSS_TOLERANCE[dtype]
    expect_close_array(subject.trace, "Z (rows: betas, columns: alphas)", expected, answer, rtol=rtol, atol=atol,
                       hint=HINT_SURFACE, oracle=ORACLE_LOSS)
    _expect_unchanged(subject, "loss_surface", handle, before, HINT_RESTORE)
    _expect_no_graphs(subject, dict(subject.snapshot(loss_handle)))


def _expect_no_graphs(subject: Subject, record: dict) -> None:
    """Fail if ``loss_fn`` saw outputs with an autograd graph, or was altered so that it could not count.

    The counts come from the record the builder kept beside the loss, not from the loss object
    the function held (see :class:`course_lib.checks.builders.GraphRecord`).
    """
    if record.get("intact") is not True:
        subject.trace.fail("loss_fn's class or methods were replaced, so its calls could not be counted: call "
                           "loss_fn(outputs, targets) and leave the object as it is", hint=HINT_GRAPH)
    if not isinstance(record.get("graphs"), int) or record["graphs"] > 0:
        subject.trace.fail(f"loss_fn received outputs that carry an autograd graph in {record.get('graphs')} of "
                           f"{record.get('calls')} calls", hint=HINT_GRAPH)


HINT_ARGUMENTS = ("check the arguments before touching the model, as the task says: {lists} must be lists with one "
                  "tensor per parameter, shaped like model.parameters(), and {grids} a 1-D list of numbers; otherwise "
                  "raise ValueError with a message that names the argument, e.g. "
                  "raise ValueError(f\"{first} must be a list of tensors with the shapes {{shapes}}\")")


def _wrong_shape(array: np.ndarray) -> np.ndarray:
    """Zeros with one more row than ``array`` (a shape no parameter of the model has at that place)."""
    return np.zeros((array.shape[0] + 1,) + array.shape[1:], dtype=array.dtype)


def _refusals(subject: Subject, rng: np.random.Generator, names: tuple[str, str], grids: tuple[str, ...]) -> None:
    """Bad arguments raise ValueError naming them: a list one tensor short (``names[0]``), a tensor of the wrong
    shape (``names[1]``), a 2-D grid (each of ``grids``); the other arguments are valid each time."""
    model = _model(rng, kind="mlp", dtype="float64", batch_norm=False, train=False)
    inputs, targets = _data(rng, model, "mse")
    lists = {name: _weights(rng, model["shapes"], "float64") for name in names}
    values = {name: [0.0, 0.5, 1.0] for name in grids}
    hint = HINT_ARGUMENTS.format(lists=" and ".join(names), grids=" and ".join(grids), first=names[0])
    bad_shape = list(lists[names[1]])
    bad_shape[-1] = _wrong_shape(bad_shape[-1])
    cases = [(names[0], lists[names[0]][:-1], "one tensor fewer than model.parameters()",
              f"{names[0]} must have one tensor per parameter"),
             (names[1], bad_shape, "its last tensor has one row too many",
              f"{names[1]} must have the shapes of model.parameters()")]
    cases += [(grid, [[0.0, 0.5], [1.0, 1.5]], "a 2-D list", f"{grid} must be a 1-D list of numbers") for grid in grids]
    for argument, bad, problem, rule in cases:
        subject.trace.begin(**_describe(model, loss="mse"), bad_argument=argument, problem=problem)
        handle, loss_handle = subject.make("mlp", **model["spec"]), subject.make("loss", name="mse")
        arguments = {**lists, **values, argument: bad}
        subject.expect_error("function", None, None, inputs, targets, *(arguments[n] for n in names + grids),
                             objects=[(0, handle), (1, loss_handle)], names=(argument,), rule=rule, hint=hint)


# checks ------------------------------------------------------------------------------------

def _direction_mlp(subject: Subject) -> None:
    rng = rng_for("landscapes.direction_mlp")
    for dtype, batch_norm in (("float64", False), ("float32", False), ("float64", True), ("float32", True)):
        _direction_case(subject, rng, "mlp", dtype, batch_norm)


def _direction_convnet(subject: Subject) -> None:
    rng = rng_for("landscapes.direction_convnet")
    for dtype, batch_norm in (("float64", True), ("float32", False), ("float32", True)):
        _direction_case(subject, rng, "convnet", dtype, batch_norm)


def _line_values(subject: Subject) -> None:
    rng = rng_for("landscapes.line_values")
    for kind, dtype, loss in (("mlp", "float64", "mse"), ("mlp", "float32", "cross_entropy"),
                              ("convnet", "float64", "cross_entropy")):
        _line_case(subject, rng, kind=kind, dtype=dtype, batch_norm=False, train=bool(rng.random() < 0.5), loss=loss)
    _refusals(subject, rng, ("start", "end"), ("alphas",))


def _line_eval_and_restore(subject: Subject) -> None:
    rng = rng_for("landscapes.line_eval_and_restore")
    for kind, dtype, train in (("mlp", "float64", True), ("convnet", "float32", True), ("mlp", "float32", False)):
        _line_case(subject, rng, kind=kind, dtype=dtype, batch_norm=True, train=train, loss="cross_entropy")


def _surface_values(subject: Subject) -> None:
    rng = rng_for("landscapes.surface_values")
    for kind, dtype, loss in (("mlp", "float64", "mse"), ("mlp", "float32", "cross_entropy"),
                              ("convnet", "float64", "cross_entropy")):
        _surface_case(subject, rng, kind=kind, dtype=dtype, batch_norm=False, train=bool(rng.random() < 0.5),
                      loss=loss)
    _refusals(subject, rng, ("direction1", "direction2"), ("alphas", "betas"))


def _surface_eval_and_restore(subject: Subject) -> None:
    rng = rng_for("landscapes.surface_eval_and_restore")
    for kind, dtype, train in (("mlp", "float64", True), ("convnet", "float32", True), ("mlp", "float64", False)):
        _surface_case(subject, rng, kind=kind, dtype=dtype, batch_norm=True, train=train, loss="cross_entropy")


def _spec(name: str, unit: str, description: str, func: Callable[[Subject], None]) -> CheckSpec:
    return CheckSpec(f"landscapes.{name}", unit, description, func, kind="function")


CHECKS = [
    _spec("direction_mlp", "filter_normalized_direction",
          "filter_normalized_direction draws like Li et al. and normalises every row of MLPs (with biases, batch "
          "norm) to its weight row", _direction_mlp),
    _spec("direction_convnet", "filter_normalized_direction",
          "filter_normalized_direction normalises every filter of 4-D convolution weights", _direction_convnet),
    _spec("line_values", "loss_along_line",
          "loss_along_line matches the loss at (1 − α)·start + α·end, inside and outside [0, 1], and restores the "
          "model; start or end of the wrong length or shapes and 2-D alphas raise ValueError naming them",
          _line_values),
    _spec("line_eval_and_restore", "loss_along_line",
          "loss_along_line evaluates batch norm in eval mode and restores parameters, buffers and modes bit for bit",
          _line_eval_and_restore),
    _spec("surface_values", "loss_surface",
          "loss_surface matches Z[i, j] = L(θ + alphas[j]·d1 + betas[i]·d2), shape (len(betas), len(alphas)); "
          "directions of the wrong length or shapes and 2-D alphas or betas raise ValueError naming them",
          _surface_values),
    _spec("surface_eval_and_restore", "loss_surface",
          "loss_surface evaluates in eval mode without autograd graphs and restores everything bit for bit",
          _surface_eval_and_restore),
]

__all__ = ["CHECKS", "oracle_direction", "oracle_losses"]
