"""The record that names a check and the helpers every chapter's checks share."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from course_lib.grading.report import PARAM_TOLERANCE, describe_param, expect_close_array
from course_lib.grading.subjects import Subject


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
    """

    check_id: str
    class_name: str
    description: str
    func: Callable[[Subject], None]
    kind: str = "class"


def rng_for(check_id: str) -> np.random.Generator:
    """A generator seeded from the check id: the same problems every run."""
    return np.random.default_rng(zlib.crc32(check_id.encode("utf-8")))


def random_arrays(rng: np.random.Generator, shapes: Sequence[tuple], dtype: str,
                  scale: float = 1.0) -> list[np.ndarray]:
    """Normal random arrays (negative and positive entries), rounded to ``dtype``."""
    return [(scale * rng.standard_normal(shape)).astype(dtype) for shape in shapes]


def expect_params(subject: Subject, handle: int, expected: Sequence[np.ndarray], dtype: str, *,
                  hint: str, oracle: str, before: Sequence[np.ndarray] | None = None) -> None:
    """Compare every parameter with the oracle's values (tolerance from ``dtype``)."""
    rtol, atol = PARAM_TOLERANCE[dtype]
    obtained = subject.params(handle)
    for index, want in enumerate(expected):
        expect_close_array(subject.trace, describe_param(index, want.shape), want, obtained[index],
                           rtol=rtol, atol=atol, hint=hint, oracle=oracle,
                           before=None if before is None else before[index])
