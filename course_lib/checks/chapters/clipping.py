"""Checks for ``ClippingOptimizer`` (chapter 5): gradient clipping and a trust-region pull.

.. math::
    \\|g\\| = \\sqrt{\\textstyle\\sum_{p}\\sum_i g_{p,i}^2}, \\qquad
    g \\leftarrow g \\cdot \\frac{c}{\\|g\\|} \\text{ if } \\|g\\| > c, \\qquad
    g_i \\leftarrow \\min(\\max(g_i, -v), v)

(the norm runs over the parameters that have a gradient; 0 when none does).
``step()`` (given) records the norm before clipping, clips by norm then by
value and steps :math:`\\theta \\leftarrow \\theta - \\eta g`;
``step_with_constraint(ref)`` clips the same way, adds the pull
:math:`g \\leftarrow g + \\kappa (\\theta - \\theta_{ref})` when
:math:`\\kappa` = ``kl_penalty`` > 0 and ``ref`` is given, then steps.

Oracles: ``torch.nn.utils.clip_grad_value_`` (exact) and the closed forms
above; ``torch.nn.utils.clip_grad_norm_`` divides by :math:`\\|g\\| + 10^{-6}`,
so the closed form :math:`c / \\|g\\|` is used for clipping by norm, and a
guard like torch's is accepted: a scale :math:`c / (\\|g\\| + \\delta)` with
:math:`0 \\le \\delta \\le 10^{-6}` differs by a factor :math:`1 - \\delta/\\|g\\|`
at most, so every value that depends on it gets that much absolute slack (tracked
through the steps), which is orders of magnitude below what any wrong formula moves.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.nn.utils import clip_grad_value_

from course_lib.checks.chapters._spec import CheckSpec, expect_params, random_arrays, rng_for
from course_lib.checks.messages import PARAM_TOLERANCE, describe_param, expect_close_array, expect_close_number
from course_lib.checks.recorded import oracle
from course_lib.checks.subjects import Subject

CLASS = "ClippingOptimizer"
CLOSED_FORM = "closed form, float64"

HINT_NORM = ("the global norm is one number over all parameters that have a gradient: the square root of "
             "the total Σ g² (not a norm per parameter, not the squared norm); return 0.0 when no "
             "parameter has a gradient")
HINT_CLIP_NORM = ("compute the global norm once; only if it exceeds clip_norm, multiply every gradient in "
                  "place by clip_norm / norm (p.grad.mul_(scale)); gradients whose norm is already at or "
                  "below clip_norm stay as they are")
HINT_CLIP_VALUE = ("clamp every gradient entry in place to [−clip_value, clip_value], e.g. "
                   "p.grad.clamp_(-self.clip_value, self.clip_value); assigning to a local name does not "
                   "change p.grad")
HINT_STEP = ("step() is given: it records compute_grad_norm() before clipping, calls clip_by_norm() then "
             "clip_by_value() and updates p ← p − lr·g; if it disagrees, one of your three methods "
             "does (the checks clipping.grad_norm, clip_by_norm and clip_by_value say which)")
HINT_NONE = ("clip_norm=None and clip_value=None (the defaults) mean no clipping: clip_by_norm() and "
             "clip_by_value() must then return at once and leave the gradients as they are (test "
             "`if self.clip_norm is None: return` before comparing with it)")
HINT_ZERO = ("all gradients zero: the norm is 0.0, which is not larger than clip_norm, so nothing is rescaled "
             "(compare before dividing: clip_norm / norm with norm = 0 raises ZeroDivisionError)")
HINT_NONE_AT_ALL = "with no gradient at all the global norm is 0.0 (the sum over no parameter)"
HINT_DEFAULT_REFERENCE = ("reference_params defaults to None: step_with_constraint() with no argument is step() "
                          "(no pull)")
HINT_CONSTRAINT = ("clip as step() does (by norm first, then by value), then add the pull towards the "
                   "reference, g ← g + kl_penalty·(p − p_ref) (only when kl_penalty > 0 and reference_params "
                   "is given), then p ← p − lr·g")


#: the largest guard in the denominator of the clipping scale accepted as correct
#: (``torch.nn.utils.clip_grad_norm_`` uses clip_norm / (norm + 1e-6))
GUARD = 1e-6


@oracle
def guard_slack(grads: list[np.ndarray | None], clip_norm: float | None) -> list[float]:
    """Per gradient: how far a guarded scale clip_norm / (norm + δ), δ ≤ GUARD, may move it.

    Twice the bound max|g·c/‖g‖|·δ/‖g‖ (0 when clipping by norm does not apply).
    """
    norm = global_norm(grads)
    if clip_norm is None or not norm > clip_norm:
        return [0.0] * len(grads)
    return [0.0 if g is None or g.size == 0 else 2.0 * float(np.max(np.abs(g))) * clip_norm / norm * GUARD / norm
            for g in grads]


@oracle
def global_norm(grads: list[np.ndarray | None]) -> float:
    return float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads if g is not None)))


@oracle
def clip_by_norm(grads: list[np.ndarray | None], clip_norm: float) -> list[np.ndarray | None]:
    norm = global_norm(grads)
    scale = clip_norm / norm if norm > clip_norm else 1.0
    return [None if g is None else g.astype(np.float64) * scale for g in grads]


@oracle
def clip_by_value(grads: list[np.ndarray | None], clip_value: float) -> list[np.ndarray | None]:
    holders = []
    for g in grads:
        holder = torch.zeros(g.shape if g is not None else (1,), dtype=torch.float64, requires_grad=True)
        holder.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
        holders.append(holder)
    clip_grad_value_(holders, clip_value)
    return [None if h.grad is None else h.grad.numpy().copy() for h in holders]


def _grads(rng: np.random.Generator, shapes: list[tuple], dtype: str, no_grad: tuple, scale: float):
    return [None if i in no_grad else (scale * rng.standard_normal(shape)).astype(dtype)
            for i, shape in enumerate(shapes)]


def _expect_grads(subject: Subject, handle: int, expected: list, dtype: str, hint: str, oracle: str,
                  before: list, slack: list[float] | None = None) -> None:
    rtol, atol = PARAM_TOLERANCE[dtype]
    obtained = subject.grads(handle)
    for i, want in enumerate(expected):
        if want is None:
            continue
        expect_close_array(subject.trace, f"the gradient of {describe_param(i, want.shape)} after the call",
                           want, obtained[i], rtol=rtol, atol=atol + (slack[i] if slack else 0.0), hint=hint,
                           oracle=oracle, before=before[i].astype(np.float64))


def _grad_norm(subject: Subject) -> None:
    rng = rng_for("clipping.grad_norm")
    settings = [("float64", [(3,), (2, 2)], (), 1.0), ("float32", [(4,), (3,), (2, 3)], (1,), 1.0),
                ("float64", [(5,)], (0,), 1.0), ("float64", [(3,), (3,)], (), 10.0),
                ("float32", [(4,), (2, 2)], (), 0.0)]
    for dtype, shapes, no_grad, scale in settings:
        subject.trace.begin(dtype=dtype, shapes=shapes, without_grad=list(no_grad))
        handle = subject.new(random_arrays(rng, shapes, dtype), dtype=dtype, lr=0.01)
        grads = _grads(rng, shapes, dtype, no_grad, scale)
        subject.set_grads(handle, grads)
        value = subject.call(handle, "compute_grad_norm")
        rtol, atol = PARAM_TOLERANCE[dtype]
        hint = HINT_NONE_AT_ALL + "; " + HINT_NORM if len(no_grad) == len(shapes) else HINT_NORM
        expect_close_number(subject.trace, "compute_grad_norm()", global_norm(grads), value, rtol=rtol,
                            atol=atol, hint=hint, oracle="sqrt of the sum of all squared entries")


def _clip_by_norm(subject: Subject) -> None:
    rng = rng_for("clipping.clip_by_norm")
    settings = [(1.0, "float64", [(3,), (2, 2)], (), 2.0), (100.0, "float64", [(4,)], (), 1.0),
                (0.5, "float32", [(2,), (3,), (2, 2)], (1,), 1.0), (3.0, "float32", [(5,), (1,)], (), 0.3),
                (1.0, "float64", [(3,), (2,)], (), 0.0)]
    for clip_norm, dtype, shapes, no_grad, scale in settings:
        subject.trace.begin(clip_norm=clip_norm, dtype=dtype, shapes=shapes, without_grad=list(no_grad))
        handle = subject.new(random_arrays(rng, shapes, dtype), dtype=dtype, lr=0.01, clip_norm=clip_norm)
        grads = _grads(rng, shapes, dtype, no_grad, scale)
        subject.set_grads(handle, grads)
        subject.call(handle, "clip_by_norm")
        norm = global_norm(grads)
        subject.trace.setting["norm_before"] = round(norm, 6)
        _expect_grads(subject, handle, clip_by_norm(grads, clip_norm), dtype,
                      HINT_ZERO if norm == 0 else HINT_CLIP_NORM,
                      "g·clip_norm/‖g‖ when ‖g‖ > clip_norm, else g", grads, guard_slack(grads, clip_norm))
    _unclipped_by_default(subject, rng, "clip_by_norm")


def _unclipped_by_default(subject: Subject, rng: np.random.Generator, method: str) -> None:
    """Built with its defaults (clip_norm = clip_value = None), ``method`` leaves large gradients alone."""
    shapes, dtype = [(3,), (2, 2)], "float64"
    subject.trace.begin(defaults="all", dtype=dtype, shapes=shapes)
    handle = subject.new(random_arrays(rng, shapes, dtype), dtype=dtype)
    grads = _grads(rng, shapes, dtype, (), 5.0)
    subject.set_grads(handle, grads)
    subject.call(handle, method)
    _expect_grads(subject, handle, grads, dtype, HINT_NONE, "unchanged: no clipping when it is None", grads)


def _clip_by_value(subject: Subject) -> None:
    rng = rng_for("clipping.clip_by_value")
    settings = [(0.5, "float64", [(3,), (2, 2)], ()), (1.0, "float32", [(4,), (3,), (2, 3)], (1,)),
                (10.0, "float64", [(5,)], ())]
    for clip_value, dtype, shapes, no_grad in settings:
        subject.trace.begin(clip_value=clip_value, dtype=dtype, shapes=shapes, without_grad=list(no_grad))
        handle = subject.new(random_arrays(rng, shapes, dtype), dtype=dtype, lr=0.01, clip_value=clip_value)
        grads = _grads(rng, shapes, dtype, no_grad, 1.5)
        subject.set_grads(handle, grads)
        subject.call(handle, "clip_by_value")
        _expect_grads(subject, handle, clip_by_value(grads, clip_value), dtype, HINT_CLIP_VALUE,
                      "torch.nn.utils.clip_grad_value_", grads)
    _unclipped_by_default(subject, rng, "clip_by_value")


@oracle
def _clip(grads: list, clip_norm: float | None, clip_value: float | None) -> list:
    if clip_norm is not None:
        grads = clip_by_norm(grads, clip_norm)
    if clip_value is not None:
        grads = clip_by_value(grads, clip_value)
    return [None if g is None else g.astype(np.float64) for g in grads]


@oracle
def clipped_step(params: list[np.ndarray], clipped: list[np.ndarray | None], lr: float, kl_penalty: float,
                 reference: list[np.ndarray] | None) -> list[np.ndarray]:
    """p ← p − lr·(g + kl_penalty·(p − reference)) in float64; a parameter without gradient stays."""
    stepped = []
    for i, (p, g) in enumerate(zip(params, clipped)):
        if g is None:
            stepped.append(p)
            continue
        if kl_penalty > 0 and reference is not None:
            g = g + kl_penalty * (p - reference[i].astype(np.float64))
        stepped.append(p - lr * g)
    return stepped


def _run_steps(subject: Subject, rng: np.random.Generator, *, method: str, lr: float, dtype: str,
               shapes: list[tuple], steps: int, hint: str, clip_norm: float | None = None,
               clip_value: float | None = None, kl_penalty: float = 0.0, with_reference: bool = False,
               no_grad: tuple = (), defaults: bool = False, zero_at: tuple = ()) -> None:
    """``defaults``: the optimizer is built with no hyperparameter (``lr`` is then its default) and
    ``step_with_constraint()`` called with no argument; ``zero_at``: steps whose gradients are all 0."""
    hyper = dict(lr=lr, clip_norm=clip_norm, clip_value=clip_value, kl_penalty=kl_penalty)
    reference_shown = "given" if with_reference else "omitted (default None)" if defaults else None
    subject.trace.begin(steps=steps, **({"defaults": "all"} if defaults else hyper), reference_params=reference_shown,
                        dtype=dtype, shapes=shapes, **({"zero_gradients_at_steps": list(zero_at)} if zero_at else {}))
    initial = random_arrays(rng, shapes, dtype)
    reference = random_arrays(rng, shapes, dtype) if with_reference else None
    handle = subject.new(initial, dtype=dtype) if defaults else subject.new(initial, dtype=dtype, **hyper)
    if defaults or zero_at:
        hint = (HINT_DEFAULT_REFERENCE + "; " if defaults and method != "step" else "") + (
            HINT_NONE if defaults else HINT_ZERO) + "; " + hint
    params = [a.astype(np.float64) for a in initial]
    slack = [0.0] * len(shapes)
    norms = []
    for step in range(1, steps + 1):
        subject.trace.step = step
        grads = _grads(rng, shapes, dtype, no_grad, 0.0 if step in zero_at else float(rng.choice([0.2, 1.0, 3.0])))
        subject.set_grads(handle, grads)
        if method == "step":
            subject.call(handle, "step")
        elif defaults:
            subject.call(handle, "step_with_constraint")
        else:
            subject.call(handle, "step_with_constraint", reference)
        if clip_norm is not None or clip_value is not None:
            norms.append(global_norm(grads))
        clipped = _clip(grads, clip_norm, clip_value)
        slack = [total + lr * extra for total, extra in zip(slack, guard_slack(grads, clip_norm))]
        previous = params
        params = clipped_step(previous, clipped, lr, kl_penalty if method == "step_with_constraint" else 0.0,
                              reference)
        expect_params(subject, handle, params, dtype, hint=hint, oracle=CLOSED_FORM, before=previous,
                      slack=slack)
    if method == "step":
        subject.trace.step = None
        recorded = subject.get_attr(handle, "grad_norms")
        if type(recorded) is not list or len(recorded) != len(norms):
            subject.trace.fail(f"grad_norms should hold {len(norms)} norms after {steps} steps, got "
                               f"{recorded if type(recorded) is not list else f'{len(recorded)} entries'}",
                               hint=HINT_STEP)
        rtol, atol = PARAM_TOLERANCE[dtype]
        for k, (want, got) in enumerate(zip(norms, recorded), start=1):
            expect_close_number(subject.trace, f"grad_norms[{k - 1}] (the norm before clipping at step {k})",
                                want, got, rtol=rtol, atol=atol, hint=HINT_NORM, oracle=CLOSED_FORM)


def _steps_check(check_id: str, method: str, settings: list[dict], hint: str):
    def run(subject: Subject) -> None:
        rng = rng_for(check_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for setting in settings:
                _run_steps(subject, rng, method=method, hint=hint, **setting)
    return run


STEP = [
    dict(lr=0.1, clip_norm=1.0, dtype="float64", shapes=[(3,), (2, 2)], steps=20),
    dict(lr=0.05, clip_value=0.3, dtype="float32", shapes=[(5,)], steps=20),
    dict(lr=0.1, clip_norm=2.0, clip_value=0.5, dtype="float64", shapes=[(4,), (2,), (3,)], steps=20,
         no_grad=(1,)),
    dict(lr=0.2, dtype="float64", shapes=[(3,)], steps=5),
    dict(lr=0.1, clip_norm=1.0, clip_value=0.5, dtype="float64", shapes=[(3,), (2,)], steps=6, zero_at=(1, 4)),
    dict(lr=0.01, defaults=True, dtype="float64", shapes=[(3,), (2, 2)], steps=5),
]
CONSTRAINT = [
    dict(lr=0.1, kl_penalty=0.5, with_reference=True, dtype="float64", shapes=[(3,), (2, 2)], steps=20),
    dict(lr=0.05, kl_penalty=0.1, with_reference=True, clip_norm=1.0, clip_value=0.3, dtype="float32",
         shapes=[(5,), (4,)], steps=20),
    dict(lr=0.1, kl_penalty=0.5, with_reference=False, clip_norm=1.0, dtype="float64", shapes=[(4,)], steps=10),
    dict(lr=0.1, kl_penalty=0.0, with_reference=True, clip_value=0.2, dtype="float64", shapes=[(3,)], steps=10),
    dict(lr=0.05, kl_penalty=0.5, with_reference=True, clip_norm=1.0, dtype="float64", shapes=[(4,), (2,)],
         steps=6, zero_at=(2,)),
    dict(lr=0.01, defaults=True, dtype="float64", shapes=[(3,), (2, 2)], steps=5),
]

CHECKS = [
    CheckSpec("clipping.grad_norm", CLASS,
              "compute_grad_norm matches the global L2 norm at 5 settings (missing gradients, none at all and all-zero "
              "gradients included)",
              _grad_norm),
    CheckSpec("clipping.clip_by_norm", CLASS,
              "clip_by_norm rescales the gradients exactly when the global norm exceeds clip_norm (zero gradients "
              "included); with clip_norm=None (the default) it changes nothing",
              _clip_by_norm),
    CheckSpec("clipping.clip_by_value", CLASS,
              "clip_by_value matches torch.nn.utils.clip_grad_value_ at 3 settings; with clip_value=None (the "
              "default) it changes nothing", _clip_by_value),
    CheckSpec("clipping.step", CLASS,
              "step() with your methods matches clip-then-step over 20 steps, grad_norms included, also with the "
              "defaults and on all-zero gradients",
              _steps_check("clipping.step", "step", STEP, HINT_STEP)),
    CheckSpec("clipping.step_with_constraint", CLASS,
              "step_with_constraint matches clip, pull towards the reference, step at 6 settings (all-zero "
              "gradients, the defaults and no reference argument included)",
              _steps_check("clipping.step_with_constraint", "step_with_constraint", CONSTRAINT, HINT_CONSTRAINT)),
]
