"""A failed check shows its message and hint first, in a real IPython kernel, in every chapter.

IPython asks an exception for ``_render_traceback_()`` before building a traceback, and
:class:`~course_lib.checks.errors.CheckFailed` answers with the short display of
course_lib/feedback.py. So the error output of a failing check cell (what the notebook
shows, and what Validate quotes) starts with ``CheckFailed: <message>``, hint included,
without the checking code's frames, even in a notebook whose setup cell installs nothing
(chapters 6 to 10). Chapters 1 to 5 also install the display as a custom exception
handler; both ways must give the same lines.
"""
from __future__ import annotations

import re

import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook

from course_lib.checks.errors import CheckFailed, PolicyViolation
from course_lib.feedback import brief

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# As in a chapter: the import in the setup cell, the student's function in its own cell, then the check.
IMPORT = "from course_lib.checks import check"
WRONG = '''
def exponential_decay(step, base_lr, gamma):
    return base_lr * gamma ** (step + 1)  # one step late
'''
CHECK = 'check("zoo.exponential_decay", exponential_decay)'


def _error_output(setup: str) -> dict:
    """Run ``setup`` then a check of a wrong function in a fresh kernel; the failing cell's error output."""
    nb = new_notebook(cells=[new_code_cell(f"{IMPORT}\n{setup}"), new_code_cell(WRONG), new_code_cell(CHECK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True)
    client.execute()
    assert not any(out.output_type == "error" for cell in nb.cells[:2] for out in cell.outputs)
    (error,) = [out for out in nb.cells[2].outputs if out.output_type == "error"]
    return error


@pytest.mark.parametrize("setup", [
    "",  # chapters 6 to 10: nothing installed
    "from course_lib.feedback import show_check_failures_briefly\nshow_check_failures_briefly()",  # chapters 1-5
], ids=["no setup", "setup cell of chapters 1-5"])
def test_a_failed_check_shows_its_message_and_hint_first(setup):
    error = _error_output(setup)
    assert error.ename == "CheckFailed"
    text = ANSI.sub("", "\n".join(error.traceback))
    first = text.splitlines()[0]
    assert first.startswith("CheckFailed: "), text[:800]
    assert "zoo.exponential_decay failed" in first and "expected" in text, text[:800]
    assert "Hint: " in text, text[:800]
    # no stack: neither IPython's traceback header nor the frames of the checking code
    assert "Traceback" not in text and "File " not in text and "course_lib/checks" not in text, text[:800]


def test_the_message_comes_first_when_nbconvert_reports_the_error():
    """Executing without allow_errors (nbconvert --execute, the graders' runs): the message leads the report."""
    nb = new_notebook(cells=[new_code_cell(IMPORT), new_code_cell(WRONG), new_code_cell(CHECK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with pytest.raises(CellExecutionError) as raised:
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    report = ANSI.sub("", str(raised.value))
    after_cell = report.split("------------------\n")[-1].lstrip("\n")
    assert after_cell.startswith("CheckFailed: "), report[-1500:]
    assert "Hint: " in after_cell and "Traceback" not in after_cell, report[-1500:]


@pytest.mark.parametrize("cls", [CheckFailed, PolicyViolation])
def test_render_traceback_is_the_brief_display(cls):
    error = cls("a differs from b\nHint: look at c")
    assert error._render_traceback_() == brief(cls, error)
    assert ANSI.sub("", error._render_traceback_()[0]) == f"{cls.__name__}: a differs from b\nHint: look at c"


def test_other_assertion_errors_keep_their_traceback():
    assert not hasattr(AssertionError("plain"), "_render_traceback_")
