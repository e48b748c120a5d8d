"""What a student sees tells the truth: the visible checks and Validate agree with the grader.

Each chapter's visible test cells call the same check functions as its hidden (graded)
cells. Proven here with the fixtures of tests/fixtures/implementations/: every correct_*
passes every visible check, every wrong_* fails at least one; and `nbgrader validate`
says the same on one correct and one wrong fixture per chapter.

The visible cells are run in-process (fast); Validate runs on the student notebook with
the fixture as its class cell and the demo cells left out (they need no class and take
most of a chapter's run time; tests/chapters/test_execution.py runs them).
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest
from chapter_notebook import solved_namespace, visible_tests
from nbgrader.validator import Validator

from course_grader.pipeline import scratch
from course_grader.pipeline.preprocessors import demo_cells

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "implementations"
ALL_FIXTURES = sorted(FIXTURES.glob("*/*.py"))


def _chapter(assignment: str) -> tuple[Path, Path]:
    (source,) = sorted((ROOT / "solutions" / assignment).glob("*.ipynb"))
    return source, ROOT / "notebooks" / assignment / source.name


def _class_name(path: Path) -> str:
    return scratch.defined_classes(path.read_text())[0]


def _solution_classes(source: Path) -> set[str]:
    """The classes the chapter's solution cells define (the graded ones)."""
    return {name for cell in nbformat.read(source, as_version=4).cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
            for name in scratch.defined_classes(cell.source)}


def _fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def visible_failures(path: Path) -> dict[str, str]:
    """``{grade id: message}`` of the chapter's visible test cells that fail on the fixture's class."""
    source, _ = _chapter(path.parent.name)
    mine = _class_name(path)
    others = _solution_classes(source) - {mine}
    failures = {}
    for grade_id, cell in visible_tests(source):
        if mine not in cell and any(re.search(rf"\b{name}\b", cell) for name in others):
            continue  # a chapter of several classes: this cell tests another one
        namespace = solved_namespace(path.read_text(), mine)
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(cell, f"<{grade_id}>", "exec"), namespace)
            except Exception as error:  # noqa: BLE001 - any error fails the cell, as in the notebook
                failures[grade_id] = f"{type(error).__name__}: {error}"
    return failures


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=_fixture_id)
def test_visible_checks_agree_with_the_fixture(path):
    failures = visible_failures(path)
    if path.stem.startswith("correct_"):
        assert not failures, failures
    else:
        assert failures, f"{_fixture_id(path)} passes every visible check but the grader fails it"


def validate(path: Path, tmp_path: Path) -> dict:
    """nbgrader's Validate on the student notebook with the fixture as its class cell (demos left out)."""
    source, student = _chapter(path.parent.name)
    # every other solution cell solved (a chapter of several classes), this class from the fixture
    filled = scratch.filled(nbformat.read(student, as_version=4), nbformat.read(source, as_version=4))
    nb = scratch.with_class(filled, _class_name(path), path.read_text())
    demos = {id(cell) for cell in demo_cells(nb)}
    nb.cells = [cell for cell in nb.cells if id(cell) not in demos]
    target = tmp_path / student.name
    nbformat.write(nb, target)
    return Validator().validate(str(target))


# Validate costs a kernel start per notebook (about 5 s): one correct and one wrong fixture per
# chapter, the wrong ones being those that Validate once let through. That Validate fails
# exactly when a visible cell raises is nbgrader's rule; the test above covers every fixture.
LET_THROUGH = {"04_projected_gd": "wrong_box_branch_missing", "05_gradient_clipping": "wrong_no_pull"}
# (chapters whose fixtures are sorted by graded unit, in sub-folders, validate in their own tests)
VALIDATED = [path for chapter in sorted(FIXTURES.iterdir()) if any(chapter.glob("correct_*.py")) for path in (
    sorted(chapter.glob("correct_*.py"))[0],
    chapter / f"{LET_THROUGH[chapter.name]}.py" if chapter.name in LET_THROUGH else sorted(chapter.glob("wrong_*.py"))[0])]


@pytest.mark.parametrize("path", VALIDATED, ids=_fixture_id)
def test_validate_agrees_with_the_fixture(path, tmp_path):
    results = validate(path, tmp_path)
    assert "changed" not in results and "type_changed" not in results, results
    if path.stem.startswith("correct_"):
        assert not results.get("failed"), results
    else:
        assert results.get("failed"), f"Validate says success for {_fixture_id(path)}, which the grader fails"
        # the dialog quotes the error output: the check's message comes first, without the grader's stack,
        # in every chapter (CheckFailed._render_traceback_; chapters 1-5 also install course_lib/feedback.py)
        error = results["failed"][0]["error"]
        if "CheckFailed" not in error and "PolicyViolation" not in error:
            return  # the class raised in a visible cell before any check ran: IPython's traceback points at it
        assert "Traceback" not in error and "CheckFailed</span>: " in error.split("\n")[0], error[:500]
        assert "Hint: " in error or "raised" in error, error
