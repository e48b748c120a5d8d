"""Checks for ``ProjectedGD`` (chapter 4): a gradient step, then a projection.

.. math::
    \\operatorname{soft}(x, \\lambda) = \\operatorname{sign}(x)\\max(|x| - \\lambda, 0), \\qquad
    \\Pi_{[a, b]}(x) = \\min(\\max(x, a), b)

``step()`` does :math:`\\theta \\leftarrow P(\\theta - \\eta g)` with
:math:`P` = soft thresholding by ``threshold`` (``'l1'``), clamping to
``[box_min, box_max]`` (``'box'``; ``None`` = no bound on that side) or the
identity (``'none'``); parameters without a gradient are skipped entirely.
Oracle: these closed forms in float64 numpy.
"""

from __future__ import annotations

import warnings

import numpy as np

from course_lib.checks.chapters._spec import CheckSpec, expect_params, random_arrays, rng_for
from course_lib.checks.messages import PARAM_TOLERANCE, expect_close_array
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject

CLASS = "ProjectedGD"
CLOSED_FORM = "closed form, float64"

HINT_SOFT = ("soft thresholding keeps the sign and shrinks the magnitude: sign(x)·max(|x| − threshold, 0); "
             "entries with |x| ≤ threshold become exactly 0, the others move towards 0 by threshold "
             "(negative entries too: they are not set to 0 and not left unchanged)")
HINT_BOX = ("clamp every entry to [min_val, max_val], e.g. torch.clamp(x, min=min_val, max=max_val); a bound "
            "that is None means no limit on that side (not a bound at 0); with both None, x comes back unchanged (as a "
            "copy: torch.clamp refuses two None bounds)")
HINT_STEP_L1 = ("first the gradient step p ← p − lr·g, then p ← soft_threshold(p, threshold) with the "
                "threshold as given (not lr·threshold), written back into the parameter in place")
HINT_STEP_BOX = ("first the gradient step p ← p − lr·g, then clamp to [box_min, box_max] in place; a None "
                 "bound means no limit on that side")
HINT_SKIP = "a parameter whose .grad is None is skipped entirely: no gradient step and no projection"
HINT_NONE = ("with constraint='none' the step is plain gradient descent p ← p − lr·g with no projection; "
             "a parameter whose .grad is None is skipped entirely: no gradient step and no projection")


@oracle
def soft_threshold(x: np.ndarray, threshold: float) -> np.ndarray:
    return np.sign(x) * np.maximum(np.abs(x) - threshold, 0.0)


@oracle
def project_box(x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    if low is not None:
        x = np.maximum(x, low)
    if high is not None:
        x = np.minimum(x, high)
    return x


@oracle
def projected_step(params: list[np.ndarray], grads: list[np.ndarray | None], lr: float, constraint: str,
                   threshold: float, box_min: float | None, box_max: float | None) -> list[np.ndarray]:
    """One projected gradient step in float64; a parameter without gradient stays as it is."""
    stepped = []
    for p, g in zip(params, grads):
        if g is None:
            stepped.append(p)
            continue
        p = p - lr * g.astype(np.float64)
        if constraint == "l1":
            p = soft_threshold(p, threshold)
        elif constraint == "box":
            p = project_box(p, box_min, box_max)
        stepped.append(p)
    return stepped


def _inputs(rng: np.random.Generator, shape: tuple, dtype: str, special: list[float]) -> np.ndarray:
    x = 1.5 * rng.standard_normal(shape)
    flat = x.reshape(-1)
    flat[: len(special)] = special
    return x.astype(dtype)


def _soft_threshold(subject: Subject) -> None:
    rng = rng_for("projections.soft_threshold")
    settings = [(0.5, "float64", (8,)), (1.3, "float32", (3, 4)), (0.0, "float64", (5,)), (0.25, "float32", (2, 5))]
    for threshold, dtype, shape in settings:
        subject.trace.begin(threshold=threshold, dtype=dtype, shape=shape)
        handle = subject.new([np.zeros(2)], dtype=dtype, lr=0.1, constraint="l1", threshold=threshold)
        x = _inputs(rng, shape, dtype, [0.0, threshold, -threshold, -2.0])
        value = subject.call(handle, "soft_threshold", x, threshold)
        rtol, atol = PARAM_TOLERANCE[dtype]
        expect_close_array(subject.trace, f"soft_threshold(x, {threshold}) for x = {_short(x)}",
                           soft_threshold(x.astype(np.float64), threshold), value,
                           rtol=rtol, atol=atol, hint=HINT_SOFT, oracle=CLOSED_FORM)


def _short(x: np.ndarray) -> str:
    flat = x.ravel()
    shown = ", ".join(f"{v:.4g}" for v in flat[:6])
    return f"[{shown}{', ...' if flat.size > 6 else ''}] (shape {x.shape})"


def _project_box(subject: Subject) -> None:
    rng = rng_for("projections.project_box")
    settings = [((-1.0, 3.0), "float64", (8,)), ((None, 0.5), "float32", (3, 3)),
                ((-0.25, None), "float64", (6,)), ((0.2, 0.2), "float32", (4,)), ((None, None), "float64", (5,))]
    for (low, high), dtype, shape in settings:
        subject.trace.begin(min_val=low, max_val=high, dtype=dtype, shape=shape)
        # no bound at all: x comes back unchanged (the optimizer itself is built with a box)
        box = (low, high) if (low, high) != (None, None) else (-1.0, 1.0)
        handle = subject.new([np.zeros(2)], dtype=dtype, lr=0.1, constraint="box", box_min=box[0], box_max=box[1])
        x = (2.0 * rng.standard_normal(shape)).astype(dtype)
        value = subject.call(handle, "project_box", x, low, high)
        rtol, atol = PARAM_TOLERANCE[dtype]
        expect_close_array(subject.trace, f"project_box(x, {low}, {high}) for x = {_short(x)}",
                           project_box(x.astype(np.float64), low, high), value,
                           rtol=rtol, atol=atol, hint=HINT_BOX, oracle=CLOSED_FORM)


def _run_steps(subject: Subject, rng: np.random.Generator, *, lr: float, constraint: str, dtype: str,
               shapes: list[tuple], steps: int, hint: str, threshold: float = 0.0,
               box_min: float | None = None, box_max: float | None = None, no_grad: tuple = (),
               scale: float = 1.0) -> None:
    subject.trace.begin(steps=steps, lr=lr, constraint=constraint, threshold=threshold, box_min=box_min,
                        box_max=box_max, dtype=dtype, shapes=shapes)
    initial = random_arrays(rng, shapes, dtype, scale=scale)
    handle = subject.new(initial, dtype=dtype, lr=lr, constraint=constraint, threshold=threshold,
                         box_min=box_min, box_max=box_max)
    params = [a.astype(np.float64) for a in initial]
    for step in range(1, steps + 1):
        subject.trace.step = step
        grads = [None if i in no_grad else rng.standard_normal(shape).astype(dtype)
                 for i, shape in enumerate(shapes)]
        subject.set_grads(handle, grads)
        subject.call(handle, "step")
        previous = params
        params = projected_step(previous, grads, lr, constraint, threshold, box_min, box_max)
        expect_params(subject, handle, params, dtype, hint=hint, oracle=CLOSED_FORM, before=previous)


def _steps_check(check_id: str, settings: list[dict], hint: str):
    def run(subject: Subject) -> None:
        rng = rng_for(check_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for setting in settings:
                setting = dict(setting)
                _run_steps(subject, rng, hint=setting.pop("hint", hint), **setting)
    return run


STEP_L1 = [
    dict(lr=0.1, constraint="l1", threshold=0.05, dtype="float64", shapes=[(6,), (2, 3)], steps=20),
    dict(lr=0.5, constraint="l1", threshold=0.3, dtype="float32", shapes=[(5,)], steps=20),
    dict(lr=0.01, constraint="l1", threshold=0.02, dtype="float64", shapes=[(4, 4)], steps=20),
]
STEP_BOX = [
    dict(lr=0.1, constraint="box", box_min=-0.5, box_max=0.5, dtype="float64", shapes=[(6,), (2, 2)], steps=20),
    dict(lr=0.3, constraint="box", box_min=None, box_max=0.2, dtype="float32", shapes=[(5,)], steps=20),
    dict(lr=0.2, constraint="box", box_min=-0.1, box_max=None, dtype="float64", shapes=[(3, 2)], steps=20),
]
STEP_NONE = [
    dict(lr=0.1, constraint="none", threshold=0.5, dtype="float64", shapes=[(3,), (2, 2)], steps=10),
    dict(lr=0.2, constraint="l1", threshold=0.3, dtype="float32", shapes=[(4,), (6,)], steps=10, no_grad=(1,),
         hint=HINT_STEP_L1 + "; " + HINT_SKIP),
    dict(lr=0.2, constraint="box", box_min=-0.2, box_max=0.2, dtype="float64", shapes=[(5,), (3,)], steps=10,
         no_grad=(0,), scale=2.0, hint=HINT_STEP_BOX + "; " + HINT_SKIP),
]

CHECKS = [
    CheckSpec("projections.soft_threshold", CLASS,
              "soft_threshold matches sign(x)·max(|x| − threshold, 0) at 4 thresholds", _soft_threshold),
    CheckSpec("projections.project_box", CLASS,
              "project_box clamps correctly, with None meaning no bound, at 5 boxes (both None: x unchanged)", _project_box),
    CheckSpec("projections.step_l1", CLASS,
              "step() with constraint='l1' matches gradient step + soft thresholding over 20 steps",
              _steps_check("projections.step_l1", STEP_L1, HINT_STEP_L1)),
    CheckSpec("projections.step_box", CLASS,
              "step() with constraint='box' matches gradient step + clamping over 20 steps",
              _steps_check("projections.step_box", STEP_BOX, HINT_STEP_BOX)),
    CheckSpec("projections.step_none_and_no_grad", CLASS,
              "constraint='none' is plain gradient descent, and parameters without a gradient stay put",
              _steps_check("projections.step_none_and_no_grad", STEP_NONE, HINT_NONE)),
]
