"""Each chapter's "Your turn" asks one written answer, graded by hand, apart from the 10 autograded points.

The answer cell is a markdown solution + grade cell worth 2 points (nbgrader gives it no
automatic score; the instructor grades it in the formgrader), right after a locked question
cell, inside the "Your turn" section. The student version shows "YOUR ANSWER HERE"; the
source's model answer never reaches students.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(ROOT.glob("solutions/*/*.ipynb"))
MANUAL_POINTS = 2


def _manual_cells(cells: list[dict]) -> list[int]:
    return [i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("grade")
            and c["metadata"]["nbgrader"].get("solution")]


def _section(cells: list[dict], index: int) -> str:
    """The heading of the section holding cell ``index``."""
    for cell in reversed(cells[:index]):
        first = "".join(cell["source"]).split("\n")[0]
        if cell["cell_type"] == "markdown" and re.match(r"#{2,3} ", first):
            return first
    return ""


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_one_written_answer_in_your_turn(path):
    cells = json.loads(path.read_text())["cells"]
    manual = _manual_cells(cells)
    assert len(manual) == 1, f"{path.parent.name}: {len(manual)} manually graded cells, expected 1"
    index = manual[0]
    answer, question = cells[index], cells[index - 1]
    meta = answer["metadata"]["nbgrader"]
    assert answer["cell_type"] == "markdown" and meta["points"] == MANUAL_POINTS and not meta["locked"]
    assert meta["grade_id"].endswith("written-answer") and "".join(answer["source"]).strip()
    assert question["metadata"]["nbgrader"]["locked"] and "Written answer" in "".join(question["source"])
    assert "Your turn" in _section(cells, index), f"{path.parent.name}: the written answer is outside Your turn"
    autograded = sum(c["metadata"]["nbgrader"].get("points", 0) for c in cells
                     if c["metadata"].get("nbgrader", {}).get("grade") and c["cell_type"] == "code")
    assert autograded == 10, f"{path.parent.name}: autograded points {autograded}, expected 10 apart from the answer"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_students_get_an_empty_answer(path):
    student = ROOT / "notebooks" / path.parent.name / path.name
    source = json.loads(path.read_text())["cells"]
    released = {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in json.loads(student.read_text())["cells"]}
    answer = source[_manual_cells(source)[0]]
    grade_id = answer["metadata"]["nbgrader"]["grade_id"]
    assert "".join(released[grade_id]["source"]) == "YOUR ANSWER HERE"
    assert "".join(answer["source"]) not in student.read_text()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_the_next_cell_does_not_give_the_answer_away(path):
    """A reading of the measurement right under the answer starts folded (<details>): the student opens it after."""
    cells = json.loads(path.read_text())["cells"]
    following = cells[_manual_cells(cells)[0] + 1]
    text = "".join(following["source"]).strip()
    if following["metadata"]["nbgrader"]["grade_id"].endswith("_read"):  # the chapter's reading of the exercise
        assert text.startswith("<details>\n<summary>") and text.endswith("</details>"), (
            f"{path.parent.name}: the cell after the written answer shows its reading unfolded")
