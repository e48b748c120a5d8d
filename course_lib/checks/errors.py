"""The two exceptions a graded test cell can raise.

A failing check raises :class:`CheckFailed`, an ``AssertionError``, so that
nbgrader scores the cell as failed and the student sees the message. A solution
that breaks the rules of the exercise (importing the reference, calling the
PyTorch implementation of the exercise, patching the grader) raises
:class:`PolicyViolation`, a ``CheckFailed`` whose message says why the exercise
earns no points.
"""

from __future__ import annotations


class CheckFailed(AssertionError):
    """A check found a disagreement with its oracle (or could not run the class)."""


class PolicyViolation(CheckFailed):
    """The solution's source uses something a graded exercise must not use."""
