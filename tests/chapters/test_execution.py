"""Every chapter runs: the sources completely, the student versions up to the exercise.

The solutions notebooks are also executed by nbval (`make test` passes --nbval-lax
over solutions/); here the student versions are run as a student would run them
before writing any code: every error must be the exercise's NotImplementedError
(or a check that fails because of it), never an unrelated crash.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
STUDENT = sorted(ROOT.glob("notebooks/*/*.ipynb"))
EXPECTED = ("NotImplementedError", "CheckFailed")


def _errors(nb) -> list[tuple[int, str, str]]:
    return [(i, out["ename"], out["evalue"])
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.parent.name)
def test_untouched_student_notebook_fails_only_at_the_exercise(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = _errors(nb)
    assert errors, "an untouched exercise should raise NotImplementedError somewhere"
    unexpected = [e for e in errors if e[1] not in EXPECTED]
    assert not unexpected, f"errors other than the exercise's NotImplementedError: {unexpected}"
    first_todo = next(i for i, c in enumerate(nb.cells)
                      if c.cell_type == "code" and "raise NotImplementedError()" in c.source)
    assert all(i >= first_todo for i, _, _ in errors), "a cell before the exercise failed"
