"""How a failing check looks in the notebook: its message, without the grader's stack.

A check that fails raises :class:`~course_lib.checks.errors.CheckFailed` deep inside the
grading code; IPython's default traceback would show six frames of that code before the
message that teaches (which case, step and entry, expected, obtained, hint). In the
notebook, and in the Validate dialog that quotes the error output, the message comes first
and alone. Every other exception keeps IPython's full traceback.

Every chapter gets this display without any setup: ``CheckFailed._render_traceback_``
returns the same lines as :func:`brief`, and IPython asks an exception for
``_render_traceback_()`` before it builds a traceback. :func:`show_check_failures_briefly`, called by the setup cells of
chapters 1 to 5, installs the same display as an IPython custom exception handler.
"""

from __future__ import annotations

from course_lib.checks.errors import brief_lines

__all__ = ["show_check_failures_briefly"]


def brief(etype: type, value: BaseException) -> list[str]:
    """The lines shown for a failed check: ``CheckFailed: <message>`` (name in red)."""
    return brief_lines(etype, value)


def show_check_failures_briefly() -> None:
    """Make IPython show failed checks as their message only (nothing happens outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from course_lib.checks.errors import CheckFailed

    def handler(shell, etype, value, tb, tb_offset=None):
        lines = brief(etype, value)
        shell._showtraceback(etype, value, lines)
        return lines

    shell.set_custom_exc((CheckFailed,), handler)
