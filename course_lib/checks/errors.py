"""The two exceptions a graded test cell can raise.

A failing check raises :class:`CheckFailed`, an ``AssertionError``, so that
nbgrader scores the cell as failed and the student sees the message. A solution
that breaks the rules of the exercise (importing the reference, calling the
PyTorch implementation of the exercise, patching the grader) raises
:class:`PolicyViolation`, a ``CheckFailed`` whose message says why the exercise
earns no points.

In IPython (the notebook, and the error output that Validate quotes) a failed
check shows its message and hint alone, without the frames of the checking code
above it: IPython asks an exception for ``_render_traceback_()`` before it builds
a traceback, so every chapter gets the short display without a setup line.
"""

from __future__ import annotations

RED, RESET = "\x1b[31m", "\x1b[0m"


def brief_lines(etype: type, value: BaseException) -> list[str]:
    """The lines shown for a failed check: ``CheckFailed: <message>`` (name in red)."""
    return [f"{RED}{etype.__name__}{RESET}: {value}"]


class CheckFailed(AssertionError):
    """A check found a disagreement with its oracle (or could not run the class)."""

    def _render_traceback_(self) -> list[str]:
        """The lines IPython shows instead of a traceback (self-contained: it runs wherever the check fails)."""
        return brief_lines(type(self), self)


class PolicyViolation(CheckFailed):
    """The solution's source uses something a graded exercise must not use."""
