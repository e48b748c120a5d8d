"""Grading: the named checks behind every graded test cell, run locally and in isolation.

A graded test cell reads::

    from course_lib.checks import check
    check("adam.large_eps", AdamOptimizer)

:func:`check` runs the check in the notebook's kernel (the student's feedback);
:func:`course_grader.judge.trusted.judge` runs the same checks on the submitted
solution cells in a separate worker process (the grade). See
``docs/architecture.md`` ("Grading design").
"""

from course_lib.checks import plain as _plain  # noqa: F401 - capture conversion functions first
from course_lib.checks.errors import CheckFailed, PolicyViolation
from course_lib.checks.local import check

__all__ = ["check", "CheckFailed", "PolicyViolation"]
