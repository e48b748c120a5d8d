r"""Checks for the learning-rate range test (chapter 8): ``lr_range_test`` and ``suggest_lr``.

``lr_range_test`` takes a model, a loss function, batches and an optimizer. A check describes
each as a plain spec; the subject builds them where the student's code runs with the trusted
builders of :mod:`course_lib.checks.builders` (an MLP from given weights, with batch norm in
some settings; mse or cross-entropy; SGD with momentum or Adam, handed over in mid-run with a
state and several parameter groups), calls the function, and reads the model and optimizer
back. The oracle builds the same objects here from the same specs and runs the range test as
the ``torch-lr-finder`` package defines it (``LRFinder.range_test(..., step_mode="exp")``: the
rate of a step is recorded with its loss, the first loss is not smoothed, smoothing starts from
the previous *smoothed* value, best is updated after smoothing, the test stops right after
recording the first smoothed loss above ``diverge_threshold·best``), with the package's restore
made part of the call (parameters, buffers, train/eval mode, optimizer state and rates, bit for
bit). ``tests/ch08_lr_finder`` checks this oracle against the package itself.

``suggest_lr`` is called with plain lists: curves built so that the steepest point of the
trimmed curve is not the steepest of the whole curve, not its minimum, not where a forward
difference or a derivative with respect to the rate would point; the oracle is the package's
``np.gradient`` rule, in closed form.

Every setting is drawn from :func:`rng_for`; each drawn problem is kept only if it shows the
behaviour it is there for (a run that diverges at least two steps before the end, a run that
never diverges), so the mistakes the hints name show up whatever the seed.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from course_lib.checks import builders
from course_lib.checks.chapters._spec import CheckSpec, rng_for
from course_lib.checks.forbidden import LR_FINDER_IMPLEMENTATIONS
from course_lib.checks.plain import Opaque
from course_lib.checks.messages import expect_close_number
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject
from course_lib.training import torch_threads

ORACLE = "the range test as torch-lr-finder's LRFinder.range_test(step_mode='exp') runs it"
HINT_SPACING = ("lr_i = start_lr·(end_lr/start_lr)**(i/(num_steps − 1)) for i = 0, 1, ...: exponential spacing "
                "(equal ratios, not equal differences), start_lr at step 0, end_lr at step num_steps − 1; "
                "record the rate the step used")
HINT_LOSS = ("per step: write lr_i into every param group, zero the gradients, loss = loss_fn(model(x), y) on "
             "batch i mod len(batches), backward, optimizer.step(); the model trains in train mode; record "
             "s_0 = loss_0 and s_i = smooth_factor·loss_i + (1 − smooth_factor)·s_(i−1), smoothing from the "
             "previous SMOOTHED value (smooth_factor = 0: the raw losses)")
HINT_STOP = ("best = the smallest recorded (smoothed) value so far, updated after smoothing; stop right after "
             "recording the first s_i > diverge_threshold·best (that step is recorded, no step after it), "
             "otherwise run all num_steps steps")
HINT_RESTORE = ("save copies before the test: copy.deepcopy(model.state_dict()) and "
                "copy.deepcopy(optimizer.state_dict()) (state_dict() returns references to the live tensors, "
                "which the test changes in place), each module's training flag; afterwards load_state_dict both "
                "and put every module back in its mode (a try/finally restores even after an error)")
HINT_SUGGEST = ("trim both lists to [skip_start : len − skip_end] (skip_end = 0 keeps the tail), then return the "
                "trimmed lrs[k] with k = argmin(np.gradient(trimmed_losses)): central differences over the index "
                "(not over the rate, not a forward difference), the first index on a tie")

LOSS_TOLERANCE = {"float64": (1e-9, 1e-12), "float32": (1e-5, 1e-7)}


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


# problems ------------------------------------------------------------------------------

def _problem(rng: np.random.Generator, *, dtype: str, loss: str, optimizer: str, batch_norm: bool = False,
             train: bool = True, groups: int = 1, warm_state: bool = True, n_batches: int = 3,
             lr_scale: float = 1.0) -> dict[str, dict]:
    """Plain specs of a model, loss, batches and optimizer (see :mod:`course_lib.checks.builders`)."""
    d_in, hidden, d_out = int(rng.integers(3, 7)), int(rng.integers(4, 9)), int(rng.integers(2, 5))
    sizes = [d_in, hidden, d_out] if rng.random() < 0.5 else [d_in, hidden, hidden, d_out]
    param_shapes, buffer_shapes = builders.mlp_shapes(sizes, batch_norm)
    weights = []
    for shape in param_shapes:
        scale = 1.0 / math.sqrt(shape[1]) if len(shape) == 2 else 0.1
        weights.append((scale * rng.standard_normal(shape)).astype(dtype))
    model: dict[str, Any] = {"sizes": sizes, "dtype": dtype, "batch_norm": batch_norm, "weights": weights,
                             "train": train}
    if batch_norm:
        buffers = []
        for shape in buffer_shapes:
            if shape == ():
                buffers.append(np.array(int(rng.integers(1, 50)), dtype=np.int64))
            elif len(buffers) % 3 == 0:
                buffers.append((0.3 * rng.standard_normal(shape)).astype(dtype))
            else:
                buffers.append(rng.uniform(0.5, 2.0, shape).astype(dtype))
        model["buffers"] = buffers
    size = int(rng.integers(6, 12))
    inputs = [rng.standard_normal((size, d_in)).astype(dtype) for _ in range(n_batches)]
    if loss == "cross_entropy":
        targets = [rng.integers(0, d_out, size).astype(np.int64) for _ in range(n_batches)]
    else:
        teacher = rng.standard_normal((d_in, d_out))
        targets = [(x.astype(np.float64) @ teacher + 0.1 * rng.standard_normal((size, d_out))).astype(dtype)
                   for x in inputs]
    indices = list(range(len(param_shapes)))
    if groups == 1:
        group_lists = [indices]
    else:
        cut = int(rng.integers(1, len(indices)))
        group_lists = [indices[:cut], indices[cut:]]
    opt: dict[str, Any] = {"name": optimizer, "groups": group_lists,
                           "lrs": [lr_scale * _loguniform(rng, 1e-3, 1e-1) for _ in group_lists]}
    if optimizer == "sgd":
        opt.update(momentum=float(rng.uniform(0.5, 0.95)), weight_decay=float(rng.choice([0.0, 1e-3])))
    else:
        opt.update(betas=[float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.99, 0.9999))],
                   eps=_loguniform(rng, 1e-8, 1e-6))
    if warm_state:
        state = []
        for index, shape in enumerate(param_shapes):
            if optimizer == "sgd":
                state.append([index, [["momentum_buffer", (0.05 * rng.standard_normal(shape)).astype(dtype)]]])
            else:
                state.append([index, [["exp_avg", (0.05 * rng.standard_normal(shape)).astype(dtype)],
                                      ["exp_avg_sq", (0.01 * rng.random(shape)).astype(dtype)],
                                      ["step", float(rng.integers(1, 30))]]])
        opt["state"] = state
    return {"model": model, "loss": {"name": loss}, "batches": {"inputs": inputs, "targets": targets},
            "optimizer": opt}


@oracle
def _build_here(specs: dict[str, dict]) -> tuple:
    """The same objects as the subject builds, in this process, for the oracle."""
    made: dict[int, Any] = {}

    def make(kind: str, spec: dict) -> Any:
        obj, _, _ = builders.build(kind, spec, made.__getitem__)
        made[len(made) + 1] = obj
        return obj

    model = make("mlp", specs["model"])
    loss_fn = make("loss", specs["loss"])
    batches = make("batches", specs["batches"])
    optimizer = make("optimizer", dict(specs["optimizer"], model=1))
    return model, loss_fn, batches, optimizer


@oracle
def oracle_range_test(model: torch.nn.Module, loss_fn: Callable, batches: list, optimizer: torch.optim.Optimizer,
                      start_lr: float, end_lr: float, num_steps: int, smooth_factor: float,
                      diverge_threshold: float) -> tuple[list[float], list[float]]:
    """The range test as torch-lr-finder runs it, written out: ``(lrs, smoothed losses)``.

    The package sets every group's rate to ``start_lr``, then at iteration ``i`` trains one batch
    with the rate ``start_lr·(end_lr/start_lr)**(i/(num_iter − 1))`` (its ExponentialLR), records that
    rate, smooths (``iteration == 0``: the loss as it is and best = loss; else
    ``loss = f·loss + (1 − f)·history[-1]`` when f > 0 and best = min), appends, and breaks when
    ``loss > diverge_th·best``. The model and optimizer are left as the test left them.
    """
    lrs: list[float] = []
    losses: list[float] = []
    best = None
    for iteration in range(num_steps):
        lr = start_lr * (end_lr / start_lr) ** (iteration / (num_steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        optimizer.zero_grad()
        inputs, targets = batches[iteration % len(batches)]
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        value = loss.item()
        lrs.append(lr)
        if iteration == 0:
            best = value
        else:
            if smooth_factor > 0:
                value = smooth_factor * value + (1 - smooth_factor) * losses[-1]
            if value < best:
                best = value
        losses.append(value)
        if value > diverge_threshold * best:
            break
    return lrs, losses


# running one problem -------------------------------------------------------------------

def _defaults(kwargs: dict) -> dict:
    full = {"start_lr": 1e-7, "end_lr": 10.0, "num_steps": 100, "smooth_factor": 0.05, "diverge_threshold": 5.0}
    full.update(kwargs)
    return full


@oracle
def _oracle(specs: dict, kwargs: dict) -> tuple[list[float], list[float]]:
    with torch.random.fork_rng(devices=[]), torch_threads(1):
        return oracle_range_test(*_build_here(specs), **_defaults(kwargs))


def _draw(rng: np.random.Generator, draw: Callable[[np.random.Generator], tuple[dict, dict]],
          keep: Callable[[int, int], bool]) -> tuple[dict, dict, tuple]:
    """Draw ``(specs, kwargs)`` until the oracle's run is of the kind wanted (``keep(steps, num_steps)``)."""
    for _ in range(50):
        specs, kwargs = draw(rng)
        expected = _oracle(specs, kwargs)
        if keep(len(expected[0]), _defaults(kwargs)["num_steps"]) and all(map(math.isfinite, expected[1])):
            return specs, kwargs, expected
    raise RuntimeError("no problem of the wanted kind was drawn")  # pragma: no cover - the draws are built for it


def diverges_early(steps: int, num_steps: int) -> bool:
    return 3 <= steps <= num_steps - 2


def never_diverges(steps: int, num_steps: int) -> bool:
    return steps == num_steps


def _describe_run(specs: dict, kwargs: dict) -> dict:
    model, opt = specs["model"], specs["optimizer"]
    setting: dict[str, Any] = {"model": f"MLP {model['sizes']}" + (" with BatchNorm" if model["batch_norm"] else ""),
                               "mode before": "train" if model["train"] else "eval",
                               "loss": specs["loss"]["name"], "batches": len(specs["batches"]["inputs"]),
                               "optimizer": opt["name"], "param groups": len(opt["groups"])}
    setting.update(kwargs)
    setting["dtype"] = model["dtype"]
    return setting


def _run(subject: Subject, specs: dict, kwargs: dict, expected: tuple[list[float], list[float]]) -> None:
    subject.trace.begin(**_describe_run(specs, kwargs))
    model = subject.make("mlp", **specs["model"])
    loss_fn = subject.make("loss", **specs["loss"])
    batches = subject.make("batches", **specs["batches"])
    optimizer = subject.make("optimizer", model=model, **specs["optimizer"])
    before = (subject.snapshot(model), subject.snapshot(optimizer))
    answer = subject.call_with(None, None, None, None, objects=[(0, model), (1, loss_fn), (2, batches), (3, optimizer)],
                               **kwargs)
    _expect_curve(subject, answer, expected, specs["model"]["dtype"])
    _expect_restored(subject, before, (subject.snapshot(model), subject.snapshot(optimizer)))


def _expect_curve(subject: Subject, answer: Any, expected: tuple[list[float], list[float]], dtype: str) -> None:
    trace = subject.trace
    if isinstance(answer, list) and len(answer) == 2:  # arrays or tensors of numbers are fine too
        answer = [a.tolist() if isinstance(a, np.ndarray) and a.ndim == 1 else a for a in answer]
    if not (isinstance(answer, list) and len(answer) == 2 and all(isinstance(a, list) for a in answer)):
        shown = answer.type_name if isinstance(answer, Opaque) else type(answer).__name__
        trace.fail(f"lr_range_test must return a tuple (lrs, losses) of two lists, got {shown}",
                   hint="return lrs, losses")
    lrs, losses = answer
    if not all(type(v) in (int, float) for v in lrs + losses):
        trace.fail("lrs and losses must hold plain numbers (floats)", hint="record loss.item(), not the tensor")
    want_lrs, want_losses = expected
    if len(lrs) != len(losses):
        trace.fail(f"lrs has {len(lrs)} entries but losses has {len(losses)}: record one of each per step",
                   hint=HINT_STOP)
    rtol, atol = LOSS_TOLERANCE[dtype]
    for step, (want_lr, want_loss, lr, loss) in enumerate(zip(want_lrs, want_losses, lrs, losses)):
        trace.step, trace.steps = step + 1, len(want_lrs)
        expect_close_number(trace, f"lrs[{step}]", want_lr, lr, rtol=1e-9, atol=0.0, hint=HINT_SPACING,
                            oracle=ORACLE)
        expect_close_number(trace, f"losses[{step}]", want_loss, loss, rtol=rtol, atol=atol, hint=HINT_LOSS,
                            oracle=ORACLE)
    trace.step = None
    if len(lrs) != len(want_lrs):
        trace.fail(f"your test took {len(lrs)} steps; the oracle took {len(want_lrs)}"
                   + (" (it stopped there: the smoothed loss went above diverge_threshold·best)"
                      if len(want_lrs) < trace.setting.get("num_steps", 100) else " (all num_steps: no divergence)"),
                   [f"last losses expected: {[float(f'{v:.6g}') for v in want_losses[-4:]]}",
                    f"last losses got: {[float(f'{v:.6g}') for v in losses[-4:]]}" if losses else "got no losses"],
                   hint=HINT_STOP)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and bool(np.array_equal(a, b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _expect_restored(subject: Subject, before: tuple[dict, dict], after: tuple[dict, dict]) -> None:
    trace = subject.trace
    (model_before, optimizer_before), (model_after, optimizer_after) = before, after
    for index, (old, new) in enumerate(zip(model_before["tensors"], model_after["tensors"])):
        if not _same(old, new):
            changed = int(np.sum(old != new)) if isinstance(new, np.ndarray) and new.shape == old.shape else "all"
            trace.fail(f"after lr_range_test returned, tensor {index} of model.parameters() + model.buffers() "
                       f"(shape {tuple(old.shape)}) is not what it was before the call ({changed} entries differ)",
                       hint=HINT_RESTORE)
    if not _same(model_before["training"], model_after["training"]):
        trace.fail(f"after lr_range_test returned, the modules' training flags are {model_after['training']}; "
                   f"before the call they were {model_before['training']}", hint=HINT_RESTORE)
    for index, (old, new) in enumerate(zip(optimizer_before["groups"], optimizer_after["groups"])):
        if not _same(old, new):
            trace.fail(f"after lr_range_test returned, param group {index} is {dict(_shown(new))}; before the "
                       f"call it was {dict(_shown(old))}", hint=HINT_RESTORE)
    if len(optimizer_before["groups"]) != len(optimizer_after["groups"]):
        trace.fail("after lr_range_test returned, the optimizer has a different number of param groups",
                   hint=HINT_RESTORE)
    for index, (old, new) in enumerate(zip(optimizer_before["state"], optimizer_after["state"])):
        if not _same(old, new):
            trace.fail(f"after lr_range_test returned, the optimizer's state of parameter {index} "
                       f"({sorted(k for k, _ in new)}) is not what it was before the call "
                       f"({sorted(k for k, _ in old)})", hint=HINT_RESTORE)


def _shown(pairs: list) -> list:
    return [(key, value if not isinstance(value, np.ndarray) else "<tensor>") for key, value in pairs]


# lr_range_test checks --------------------------------------------------------------------

def _range_sgd_diverges(subject: Subject) -> None:
    rng = rng_for("lr_finder.range_sgd_diverges")

    def draw_with(dtype: str, loss: str, smooth: bool) -> Callable:
        def draw(rng: np.random.Generator) -> tuple[dict, dict]:
            specs = _problem(rng, dtype=dtype, loss=loss, optimizer="sgd", n_batches=int(rng.integers(2, 5)))
            kwargs: dict[str, Any] = {"start_lr": _loguniform(rng, 1e-5, 1e-3), "end_lr": _loguniform(rng, 20, 200),
                                      "num_steps": int(rng.integers(40, 70))}
            if smooth:
                kwargs["smooth_factor"] = float(rng.uniform(0.1, 0.4))
            return specs, kwargs
        return draw

    for dtype, loss, smooth in (("float64", "mse", False), ("float32", "cross_entropy", True),
                                ("float64", "cross_entropy", True)):
        _run(subject, *_draw(rng, draw_with(dtype, loss, smooth), diverges_early))


def _range_adam_never_diverges(subject: Subject) -> None:
    rng = rng_for("lr_finder.range_adam_never_diverges")

    def draw_with(dtype: str, loss: str, smooth: str) -> Callable:
        def draw(rng: np.random.Generator) -> tuple[dict, dict]:
            specs = _problem(rng, dtype=dtype, loss=loss, optimizer="adam", groups=2, n_batches=int(rng.integers(2, 6)))
            kwargs: dict[str, Any] = {"start_lr": _loguniform(rng, 1e-6, 1e-4), "end_lr": _loguniform(rng, 1e-3, 1e-2),
                                      "num_steps": int(rng.integers(15, 40))}
            if smooth == "raw":
                kwargs["smooth_factor"] = 0.0
            elif smooth == "drawn":
                kwargs["smooth_factor"] = float(rng.uniform(0.2, 0.6))
            return specs, kwargs
        return draw

    for dtype, loss, smooth in (("float32", "mse", "raw"), ("float64", "cross_entropy", "drawn"),
                                ("float64", "mse", "default")):
        _run(subject, *_draw(rng, draw_with(dtype, loss, smooth), never_diverges))


def _range_batch_norm_restore(subject: Subject) -> None:
    rng = rng_for("lr_finder.range_batch_norm_restore")

    def draw_with(dtype: str, optimizer: str, train: bool) -> Callable:
        def draw(rng: np.random.Generator) -> tuple[dict, dict]:
            specs = _problem(rng, dtype=dtype, loss="cross_entropy", optimizer=optimizer, batch_norm=True,
                             train=train, groups=2, n_batches=int(rng.integers(2, 4)))
            end = _loguniform(rng, 20, 200) if optimizer == "sgd" else _loguniform(rng, 0.5, 5)
            kwargs = {"start_lr": _loguniform(rng, 1e-5, 1e-3), "end_lr": end, "num_steps": int(rng.integers(30, 60)),
                      "smooth_factor": float(rng.uniform(0.05, 0.3))}
            return specs, kwargs
        return draw

    for dtype, optimizer, train in (("float64", "sgd", False), ("float32", "adam", False), ("float64", "adam", True)):
        _run(subject, *_draw(rng, draw_with(dtype, optimizer, train), lambda steps, n: steps >= 3))


def _range_defaults_and_edges(subject: Subject) -> None:
    rng = rng_for("lr_finder.range_defaults_and_edges")

    def defaults(rng: np.random.Generator) -> tuple[dict, dict]:  # every argument at its default
        return _problem(rng, dtype="float64", loss="mse", optimizer="sgd", n_batches=int(rng.integers(3, 8))), {}

    def tight(rng: np.random.Generator) -> tuple[dict, dict]:  # a threshold just above 1: stops after a few steps
        specs = _problem(rng, dtype="float64", loss="cross_entropy", optimizer="sgd", warm_state=False)
        return specs, {"start_lr": _loguniform(rng, 1e-2, 1e-1), "end_lr": _loguniform(rng, 50, 500),
                       "num_steps": int(rng.integers(10, 20)), "smooth_factor": 0.0,
                       "diverge_threshold": float(rng.uniform(1.05, 1.3))}

    def two_steps(rng: np.random.Generator) -> tuple[dict, dict]:  # num_steps = 2: start_lr, then end_lr
        specs = _problem(rng, dtype="float32", loss="mse", optimizer="adam", n_batches=1)
        return specs, {"start_lr": _loguniform(rng, 1e-4, 1e-3), "end_lr": _loguniform(rng, 1e-3, 1e-2),
                       "num_steps": 2, "smooth_factor": float(rng.uniform(0.1, 0.9))}

    _run(subject, *_draw(rng, defaults, diverges_early))
    _run(subject, *_draw(rng, tight, diverges_early))
    _run(subject, *_draw(rng, two_steps, never_diverges))


# suggest_lr checks -----------------------------------------------------------------------

@oracle
def oracle_suggestion(lrs: list[float], losses: list[float], skip_start: int, skip_end: int) -> float:
    """torch-lr-finder's ``plot(suggest_lr=True)`` rule: ``lrs[argmin(np.gradient(losses))]`` after trimming."""
    if skip_end == 0:
        lrs, losses = lrs[skip_start:], losses[skip_start:]
    else:
        lrs, losses = lrs[skip_start:-skip_end], losses[skip_start:-skip_end]
    return float(lrs[int(np.gradient(np.array(losses)).argmin())])


def _curve(rng: np.random.Generator, n: int, cliff: int, head: int = 0, tail: int = 0,
           geometric: bool = True) -> tuple[list[float], list[float]]:
    """A range-test-like curve: slowly falling, a two-step cliff at ``cliff`` (the steepest point of the
    central-difference gradient is ``cliff + 1``, of a forward difference ``cliff``), keeps falling after it
    (so the minimum is elsewhere), with steeper drops in the first ``head`` and last ``tail`` points."""
    if geometric:
        lrs = list(np.geomspace(_loguniform(rng, 1e-6, 1e-4), _loguniform(rng, 1.0, 10.0), n))
    else:
        lrs = list(np.sort(rng.uniform(1e-4, 1.0, n)) + np.arange(n) * 1e-6)
    drops = rng.uniform(0.001, 0.01, n - 1)
    drops[cliff], drops[cliff + 1] = 1.0, 0.9
    for i in range(head):
        drops[i] = 3.0
    for i in range(n - 1 - tail, n - 1):
        drops[i] = 3.0
    losses = list(float(rng.uniform(5, 10)) - np.concatenate([[0.0], np.cumsum(drops)]))
    return [float(x) for x in lrs], [float(x) for x in losses]


def _expect_suggestions(subject: Subject, cases: list[tuple[list, list, dict]]) -> None:
    calls = [((lrs, losses), kwargs) for lrs, losses, kwargs in cases]
    answers = subject.function_values(calls)
    for (lrs, losses, kwargs), got in zip(cases, answers):
        skip = (kwargs.get("skip_start", 10), kwargs.get("skip_end", 5))
        subject.trace.begin(points=len(lrs), **kwargs)
        want = oracle_suggestion(lrs, losses, *skip)
        index = lrs.index(want)
        expect_close_number(subject.trace, f"suggest_lr(lrs, losses{''.join(f', {k}={v}' for k, v in kwargs.items())})"
                            f" on a curve of {len(lrs)} points (the answer is lrs[{index}])", want, got,
                            rtol=1e-12, atol=0.0, hint=HINT_SUGGEST,
                            oracle="lrs[argmin(np.gradient(losses))] on the trimmed lists (torch-lr-finder)")


def _suggest_matches_package(subject: Subject) -> None:
    rng = rng_for("lr_finder.suggest_matches_package")
    cases = []
    for geometric in (True, False, True):
        n = int(rng.integers(40, 100))
        start, end = int(rng.integers(3, 12)), int(rng.integers(2, 8))
        cases.append((*_curve(rng, n, int(rng.integers(start + 1, n - end - 4)), head=start, tail=end,
                              geometric=geometric), {"skip_start": start, "skip_end": end}))
    n = int(rng.integers(30, 80))  # the defaults: skip_start=10, skip_end=5
    cases.append((*_curve(rng, n, int(rng.integers(11, n - 9)), head=10, tail=5), {}))
    _expect_suggestions(subject, cases)


HINT_SHORT_CURVE = ("count the points left, len(lrs) − skip_start − skip_end, before anything else, and when fewer "
                    "than 2 remain raise ValueError naming skip_start and skip_end, e.g. raise ValueError(f\""
                    "skip_start={skip_start} and skip_end={skip_end} leave {left} points; 2 are needed\")")


def _suggest_edges(subject: Subject) -> None:
    rng = rng_for("lr_finder.suggest_edges")
    cases = []
    n = int(rng.integers(20, 50))  # skip_end = 0 keeps the tail, where the cliff is
    start = int(rng.integers(2, 6))
    cases.append((*_curve(rng, n, n - 3, head=start), {"skip_start": start, "skip_end": 0}))
    n = int(rng.integers(8, 15))  # exactly two points left (one-sided differences)
    start = int(rng.integers(1, n - 3))
    lrs, losses = _curve(rng, n, 0)
    losses[start + 1] = losses[start] + 0.5  # the two kept points rise: the answer is the first
    cases.append((lrs, losses, {"skip_start": start, "skip_end": n - start - 2}))
    n = int(rng.integers(20, 40))  # a tie: two identical cliffs on a dyadic grid (exact differences), the first counts
    drops = rng.integers(1, 4, n - 1).astype(np.float64) / 64
    later = int(rng.integers(9, n - 4))
    for at in (3, later):
        drops[at - 1], drops[at], drops[at + 1], drops[at + 2] = 2 / 64, 1.0, 58 / 64, 2 / 64
    losses = [float(x) for x in 100.0 - np.concatenate([[0.0], np.cumsum(drops)])]
    lrs = [float(x) for x in np.geomspace(_loguniform(rng, 1e-6, 1e-4), _loguniform(rng, 1.0, 10.0), n)]
    cases.append((lrs, losses, {"skip_start": 1, "skip_end": 1}))
    _expect_suggestions(subject, cases)
    # too short a curve: fewer than 2 points left after trimming is the function's own ValueError, naming
    # both skips, never numpy's (or an IndexError) from deep inside
    n = int(rng.integers(12, 20))
    lrs, losses = _curve(rng, n, 0)
    for skip_start, skip_end in ((n - 6, 5), (10, 5) if n < 15 else (n - 5, 5), (n - 1, 0)):
        subject.trace.begin(points=n, skip_start=skip_start, skip_end=skip_end)
        subject.expect_error("function", lrs, losses, skip_start=skip_start, skip_end=skip_end,
                             names=("skip_start", "skip_end"), rule="at least 2 points must be left after trimming",
                             hint=HINT_SHORT_CURVE)


def _spec(name: str, unit: str, description: str, func: Callable[[Subject], None]) -> CheckSpec:
    return CheckSpec(f"lr_finder.{name}", unit, description, func, kind="function",
                     forbidden=LR_FINDER_IMPLEMENTATIONS)


CHECKS = [
    _spec("range_sgd_diverges", "lr_range_test",
          "lr_range_test matches the package on runs with SGD + momentum that diverge early, and restores everything",
          _range_sgd_diverges),
    _spec("range_adam_never_diverges", "lr_range_test",
          "lr_range_test matches the package on Adam runs that never diverge (two param groups, raw and smoothed)",
          _range_adam_never_diverges),
    _spec("range_batch_norm_restore", "lr_range_test",
          "lr_range_test trains in train mode and restores weights, batch-norm statistics, modes and optimizer",
          _range_batch_norm_restore),
    _spec("range_defaults_and_edges", "lr_range_test",
          "lr_range_test with every default, a threshold just above 1, and num_steps = 2", _range_defaults_and_edges),
    _spec("suggest_matches_package", "suggest_lr",
          "suggest_lr matches the package's steepest-gradient rule on trimmed curves", _suggest_matches_package),
    _spec("suggest_edges", "suggest_lr",
          "suggest_lr with skip_end = 0, exactly two points left, and a tie; ValueError naming "
          "skip_start and skip_end when fewer than two are left", _suggest_edges),
]

__all__ = ["CHECKS", "oracle_range_test", "oracle_suggestion"]
