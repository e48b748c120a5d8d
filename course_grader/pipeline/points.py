"""The course's points, read from its nbgrader sources.

A check's points live in one place: the ``points`` of its grade cell in
``solutions/<assignment>/<notebook>.ipynb`` (nbgrader's cell metadata, set in Jupyter's
*Create Assignment* toolbar). nbgrader records them in the gradebook when the pipeline records
the assignment, so ``grades.csv``'s ``max_score`` and the LMS's *Points Possible* follow; the
table of docs/instructors.md and the tests read them here (:func:`course_points`).

An assignment's total is the sum of its grade cells' points; a graded unit (the class or
function a check drives, its second argument: ``check("adam.first_step", AdamOptimizer)``) is
worth the points of the cells that check it.

``python -m course_grader.pipeline.points`` prints the table docs/instructors.md shows.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from course_grader.judge.trusted import find_checks

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"


@dataclass(frozen=True)
class GradedCell:
    """One grade cell: its nbgrader ``grade_id``, the check it calls (``""``: none), the unit
    that check drives (``""``: none) and its points."""

    grade_id: str
    check_id: str
    unit: str
    points: float
    manual: bool = False  # a written answer (markdown solution + grade cell), graded by hand


@dataclass(frozen=True)
class AssignmentPoints:
    """One assignment's notebook and grade cells, in notebook order."""

    assignment: str
    notebook: str
    cells: tuple[GradedCell, ...]

    @property
    def total(self) -> float:
        """The assignment's maximum score: the sum of its grade cells' points."""
        return sum(cell.points for cell in self.cells)

    @property
    def autograded(self) -> float:
        """The points the checks give (the total less the written answers')."""
        return sum(cell.points for cell in self.cells if not cell.manual)

    @property
    def manual(self) -> float:
        """The points of the written answers, graded by hand in the formgrader."""
        return sum(cell.points for cell in self.cells if cell.manual)

    def units(self) -> dict[str, tuple[float, int]]:
        """``{unit: (points, number of checks)}`` of the cells with points, in notebook order."""
        units: dict[str, tuple[float, int]] = {}
        for cell in self.cells:
            if cell.points and not cell.manual:
                points, checks = units.get(cell.unit, (0.0, 0))
                units[cell.unit] = (points + cell.points, checks + 1)
        return units


def assignment_points(notebook: Path) -> AssignmentPoints:
    """The grade cells of one nbgrader source notebook (``<assignment>/<notebook>.ipynb``)."""
    cells = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        calls = find_checks(source) if cell["cell_type"] == "code" else []
        check_id, unit = calls[0] if calls else ("", "")
        manual = cell["cell_type"] == "markdown" and bool(meta.get("solution"))
        cells.append(GradedCell(meta["grade_id"], check_id, unit, float(meta.get("points") or 0), manual))
    return AssignmentPoints(notebook.parent.name, notebook.name, tuple(cells))


def course_points(source: Path = SOLUTIONS) -> dict[str, AssignmentPoints]:
    """``{assignment: its points}`` for every assignment folder of ``source`` with one notebook.

    Raises:
        ValueError: an assignment with several notebooks (naming it and them).
    """
    points = {}
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        notebooks = sorted(folder.glob("*.ipynb"))
        if len(notebooks) > 1:
            raise ValueError(f"assignment={folder.name!r} has {len(notebooks)} notebooks "
                             f"{[p.name for p in notebooks]}; allowed: one notebook per assignment")
        if notebooks:
            points[folder.name] = assignment_points(notebooks[0])
    return points


def _number(value: float) -> str:
    return f"{value:g}"


def markdown_table(points: dict[str, AssignmentPoints]) -> str:
    """The table of docs/instructors.md: one row per assignment, its graded units with their
    points and number of checks, and its points: autograded, plus the written answer's (by hand)."""
    lines = ["| assignment | notebook | graded units: points (checks) | points |", "|---|---|---|---|"]
    for assignment, item in points.items():
        units = ", ".join(f"{f'`{unit}`' if unit else 'cells without a check'} {_number(p)} ({n})"
                          for unit, (p, n) in item.units().items())
        written = f" + {_number(item.manual)} written answer" if item.manual else ""
        lines.append(f"| `{assignment}` | `{item.notebook}` | {units} | {_number(item.autograded)}{written} |")
    return "\n".join(lines)


def main() -> int:
    """Print the points table of the repository's ``solutions/``."""
    print(markdown_table(course_points()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
