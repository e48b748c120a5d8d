"""Comparing a student's values with an oracle and saying what went wrong.

A :class:`Trace` records where a check is (its id, the hyperparameter setting,
the step) so that every failure message names the check, the setting, the
step, the parameter, the expected and obtained values and a hint. The
``expect_*`` functions compare plain data (see :mod:`course_lib.checks.plain`)
and raise :class:`~course_lib.checks.errors.CheckFailed` at the first
disagreement.

A value passes when :math:`|x_{obtained} - x_{expected}| \\le atol + rtol\\,|x_{expected}|`
entry by entry (``numpy.isclose``), with no NaN allowed unless expected.
"""

from __future__ import annotations

from typing import Any, NoReturn, Sequence

import numpy as np

from course_lib.checks.errors import CheckFailed
from course_lib.checks.plain import describe_type

# (rtol, atol) for parameters kept in each dtype, compared with a float64 oracle.
PARAM_TOLERANCE = {"float64": (1e-7, 1e-10), "float32": (1e-4, 1e-6)}


def format_number(x: float) -> str:
    """A number with 8 significant digits (``nan``/``inf`` spelled out)."""
    return f"{x + 0.0:.8g}"


def format_array(values: np.ndarray, limit: int = 6) -> str:
    """The first ``limit`` entries of an array, flattened, as a short list."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    shown = ", ".join(format_number(v) for v in flat[:limit])
    more = ", ..." if flat.size > limit else ""
    return f"[{shown}{more}]"


def format_setting(setting: dict) -> str:
    """``lr=0.1, momentum=0.9, dtype=float32``."""
    return ", ".join(f"{key}={value!r}" if isinstance(value, str) and key != "dtype"
                     else f"{key}={value}" for key, value in setting.items())


class Trace:
    """Where a check is: its id, the current setting and the current step.

    With ``secret`` (the judge grading on the course's secret inputs) a failure names the
    setting's hyperparameters but not their drawn values, so that feedback read over several
    resubmissions does not rebuild the graded inputs; the visible checks, on public inputs,
    show every value.
    """

    def __init__(self, check_id: str, secret: bool = False) -> None:
        self.check_id = check_id
        self.secret = secret
        self.setting: dict = {}
        self.step: int | None = None
        self.steps: int | None = None

    def begin(self, steps: int | None = None, **setting: Any) -> None:
        """Start a new hyperparameter setting (and forget the step)."""
        self.setting = dict(setting)
        self.steps = steps
        self.step = None

    def where(self) -> list[str]:
        """Lines saying which setting and step the check is at."""
        lines = []
        if self.setting and self.secret:
            names = [key for key in self.setting if key != "dtype"]
            if "dtype" in self.setting:
                names.append(f"dtype={self.setting['dtype']}")
            names = ", ".join(names)
            lines.append(f"setting: one of the graded cases ({names}; its drawn values stay secret: the "
                         "visible check of the same name shows a public case with every value)")
        elif self.setting:
            lines.append(f"setting: {format_setting(self.setting)}")
        if self.step is not None:
            total = f" of {self.steps}" if self.steps else ""
            lines.append(f"at step {self.step}{total} (steps counted from 1)")
        return lines

    def fail(self, headline: str, details: Sequence[str] = (), hint: str | None = None) -> NoReturn:
        """Raise :class:`CheckFailed` with a message built from the trace."""
        lines = [f"{self.check_id} failed: {headline}"]
        lines += ["  " + line for line in self.where()]
        lines += ["  " + line for line in details]
        if hint:
            lines.append(f"Hint: {hint}")
        raise CheckFailed("\n".join(lines))


def expect_number(trace: Trace, value: Any, what: str) -> float:
    """The float in a plain value that must be a real number.

    Accepts ``int``, ``float``, ``bool`` and 0-d arrays (from 0-d tensors or
    numpy scalars); anything else fails with a message naming the type.
    """
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return float(value)
    if kind is np.ndarray and value.ndim == 0:
        return float(value[()])
    trace.fail(f"{what} must return a number (a float or a 0-d tensor), got {describe_type(value)}",
               hint="return a plain number, e.g. total ** 0.5, torch.sqrt(total) or total.item()")


def expect_close_number(trace: Trace, what: str, expected: float, obtained: Any, *,
                        rtol: float, atol: float, hint: str, oracle: str = "") -> None:
    """Fail unless the number ``obtained`` is within tolerance of ``expected``."""
    got = expect_number(trace, obtained, what)
    if bool(np.isclose(got, expected, rtol=rtol, atol=atol)):
        return
    source = f" ({oracle})" if oracle else ""
    trace.fail(f"{what} returned a wrong value",
               [f"expected {format_number(expected)}{source}, got {format_number(got)}",
                f"tolerance: rtol={rtol:g}, atol={atol:g}"], hint)


def expect_array(trace: Trace, value: Any, what: str, shape: tuple) -> np.ndarray:
    """The array in a plain value that must be a tensor (or array) of ``shape``."""
    if type(value) is not np.ndarray:
        kind = "nothing (None)" if value is None else describe_type(value)
        trace.fail(f"{what} must be a tensor of shape {shape}, got {kind}",
                   hint="return (or store) a torch.Tensor with the same shape as the input")
    if tuple(value.shape) != tuple(shape):
        trace.fail(f"{what} has shape {tuple(value.shape)}, expected {tuple(shape)}",
                   hint="keep the shape of the input: work entry by entry, do not sum or flatten")
    return value


def expect_close_array(trace: Trace, what: str, expected: np.ndarray, obtained: Any, *,
                       rtol: float, atol: float, hint: str, oracle: str = "",
                       before: np.ndarray | None = None) -> None:
    """Fail unless ``obtained`` matches ``expected`` entry by entry.

    Args:
        trace: where the check is.
        what: the value's name in messages, e.g. ``"parameter 1 (shape (3, 2))"``.
        expected: the oracle's float64 values.
        obtained: plain data from the subject.
        rtol, atol: tolerance (see the module docstring).
        hint: the hint tied to the formula.
        oracle: where the expected values come from, e.g. ``"torch.optim.SGD"``.
        before: the value before the step, to recognise "nothing changed".
    """
    expected = np.asarray(expected, dtype=np.float64)
    got = expect_array(trace, obtained, what, expected.shape)
    ok = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if bool(ok.all()):
        return
    excess = np.where(ok, -np.inf, np.abs(got - expected) - (atol + rtol * np.abs(expected)))
    excess = np.where(np.isnan(excess), np.inf, excess)
    worst = np.unravel_index(int(np.argmax(excess)), expected.shape) if expected.ndim else ()
    source = f" ({oracle})" if oracle else ""
    details = [
        f"entry {tuple(int(i) for i in worst)}: expected {format_number(expected[worst])}, "
        f"got {format_number(got[worst])}",
        f"expected{source}: {format_array(expected)}",
        f"got: {format_array(got)}",
        f"{int((~ok).sum())} of {ok.size} entries differ (tolerance: rtol={rtol:g}, atol={atol:g})",
    ]
    if before is not None and np.array_equal(got, before) and not np.array_equal(expected, before):
        details.append("your values did not change at all: update the tensor in place "
                       "(p.data -= ..., p.grad.mul_(...), or inside torch.no_grad()); "
                       "rebinding a local name (p = p - ...) leaves the tensor unchanged")
    trace.fail(f"{what} differs from the expected values", details, hint)


def describe_param(index: int, shape: tuple) -> str:
    """``parameter 1 (shape (3, 2))``."""
    return f"parameter {index} (shape {tuple(shape)})"
