"""The record that names a check and the helpers every chapter's checks share."""

from __future__ import annotations

import contextlib
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from course_lib.checks.forbidden import OPTIMIZER_IMPLEMENTATIONS, Forbidden
from course_lib.checks.messages import PARAM_TOLERANCE, describe_param, expect_close_array
from course_lib.checks.subjects import Subject


@dataclass(frozen=True)
class CheckSpec:
    """One named check.

    Attributes:
        check_id: ``"<chapter>.<what>"``, used by the notebooks' test cells.
        class_name: the graded class the check drives.
        description: what a pass means, printed after ``✓ <check_id>:``.
        func: ``func(subject)`` runs the check; raises CheckFailed on a mismatch.
        kind: ``"class"`` (the subject creates instances of ``class_name``) or
            ``"function"`` (``class_name`` names a graded module-level function, which the
            subject calls with plain numbers: ``function_values``, ``build``).
        forbidden: the implementations the graded unit may not run while the judge
            grades it (someone else's implementation of the exercise).
    """

    check_id: str
    class_name: str
    description: str
    func: Callable[[Subject], None]
    kind: str = "class"
    forbidden: Forbidden = OPTIMIZER_IMPLEMENTATIONS


#: the seed of the secret inputs while the judge grades (None: the public inputs)
_secret_seed: int | None = None


@contextlib.contextmanager
def secret_inputs(seed: int | None) -> Iterator[None]:
    """Draw every check's random problems from ``seed`` inside the block.

    The public inputs (no seed) are what a student runs in the notebook and in
    Validate; the grader passes a seed created when grading starts, which no
    student can see, so answers recorded against the public inputs are worth nothing.
    """
    global _secret_seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    previous, _secret_seed = _secret_seed, seed
    try:
        yield
    finally:
        _secret_seed = previous


def rng_for(check_id: str) -> np.random.Generator:
    """The generator a check draws its problems from.

    Seeded from the check id alone for the public inputs (the same problems every
    run), and from the check id and the grading seed inside :func:`secret_inputs`.
    """
    key = zlib.crc32(check_id.encode("utf-8"))
    return np.random.default_rng(key if _secret_seed is None else [key, _secret_seed])


def random_arrays(rng: np.random.Generator, shapes: Sequence[tuple], dtype: str,
                  scale: float = 1.0) -> list[np.ndarray]:
    """Normal random arrays (negative and positive entries), rounded to ``dtype``."""
    return [(scale * rng.standard_normal(shape)).astype(dtype) for shape in shapes]


def expect_params(subject: Subject, handle: int, expected: Sequence[np.ndarray], dtype: str, *,
                  hint: str, oracle: str, before: Sequence[np.ndarray] | None = None,
                  slack: Sequence[float] | None = None) -> None:
    """Compare every parameter with the oracle's values (tolerance from ``dtype``).

    ``slack[i]`` widens the absolute tolerance of parameter ``i`` by what a numerically
    negligible variant of the formula may move it (see ``checks/clipping.py``).
    """
    rtol, atol = PARAM_TOLERANCE[dtype]
    obtained = subject.params(handle)
    for index, want in enumerate(expected):
        extra = 0.0 if slack is None else float(slack[index])
        expect_close_array(subject.trace, describe_param(index, want.shape), want, obtained[index],
                           rtol=rtol, atol=atol + extra, hint=hint, oracle=oracle,
                           before=None if before is None else before[index])
