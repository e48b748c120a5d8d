"""Bring a submitted notebook into a shape nbgrader can grade, and say what was changed.

nbgrader identifies the graded cells of a submission by their ``metadata.nbgrader`` entries.
Students break that in ordinary ways: they rename the notebook, copy cells into a fresh
notebook (all metadata gone), delete a test cell, or retype one. nbgrader 0.9.6 then either
silently skips cells or crashes (``KeyError`` in ``OverwriteCells.add_missing_grade_cells``).
:func:`restore_metadata` matches the submitted cells against the release version (the
student notebook generated from the same source) and restores what is missing, so that
nbgrader's own ``OverwriteCells`` can then restore every test cell from the gradebook:

1. by cell id (nbformat 4.5 keeps the release ids when a cell is edited or copied);
2. by identical source (a retyped test cell, a stub left untouched);
3. a solution cell still unmatched takes the most similar unmarked code cell that lies
   between its matched neighbours;
4. a graded test cell still unmatched is re-inserted from the release version after its
   matched predecessor (its source is overwritten from the gradebook anyway).
"""
from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.reader import NotJSONError

from course_grader.sandbox import safefs


class SubmissionError(Exception):
    """A submission that cannot be graded at all; ``status`` says why (for grades.csv)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Located:
    """Which file of a submission folder is graded as which notebook of the assignment."""

    notebooks: dict[str, Path]  # notebook name (no .ipynb) -> submitted file
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def locate_notebooks(folder: Path, expected: list[str], present: list[str] | None = None) -> Located:
    """Match the ``.ipynb`` files of a submission folder to the assignment's notebooks.

    A notebook found under its own name is used as is. If exactly one expected notebook is
    missing and exactly one other ``.ipynb`` is present, that file is graded in its place
    (a renamed notebook) and a note says so. Anything else missing is reported missing.

    Args:
        folder: ``submitted/<student>/<assignment>``.
        expected: the notebook names of the assignment, without ``.ipynb``.
        present: the names of the ``.ipynb`` files of ``folder`` that are regular files (as
            ``lstat`` saw them); default: the folder is listed here, links and special files
            left out.

    Returns:
        The matches, the notebook names still missing and notes for the grade report.
    """
    if present is None:
        present = [e.name for e in safefs.entries(folder) if e.is_file and e.name.endswith(".ipynb")]
    present = sorted(folder / name for name in present)
    names = {p.name for p in present}
    found = {name: folder / f"{name}.ipynb" for name in expected if f"{name}.ipynb" in names}
    missing = [name for name in expected if name not in found]
    others = [p for p in present if p.stem not in expected]
    notes = []
    if len(missing) == 1 and len(others) == 1:
        found[missing[0]] = others[0]
        notes.append(f"graded {safefs.shown(others[0].name)} as {missing[0]}.ipynb (renamed notebook)")
        missing = []
    return Located(found, missing, notes)


def read_notebook(path: Path, max_bytes: int = 20 * 2**20) -> NotebookNode:
    """Read a submitted notebook, raising :class:`SubmissionError` if it cannot be graded.

    The file is opened without following a link and must be a regular file of at most
    ``max_bytes`` (``unsafe_notebook``, ``too_large``); unreadable or not a notebook:
    ``invalid_notebook``.
    """
    name = safefs.shown(path.name)
    try:
        text = safefs.read_regular(path, max_bytes).decode("utf-8")
    except safefs.UnsafeEntry as error:
        status = "too_large" if error.why.startswith("larger") else "unsafe_notebook"
        raise SubmissionError(status, f"{name} is {error.why}: not read") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SubmissionError("invalid_notebook", f"{name} cannot be read: {error}") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except (json.JSONDecodeError, NotJSONError) as error:
        raise SubmissionError("invalid_notebook", f"{name} is not valid JSON") from None
    except Exception as error:  # nbformat raises several types for a JSON that is no notebook
        raise SubmissionError("invalid_notebook", f"{name} is not a notebook ({error})") from None
    if not isinstance(nb.get("cells"), list):
        raise SubmissionError("invalid_notebook", f"{name} has no list of cells")
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise SubmissionError("invalid_notebook", f"{name}: cell {index} is not a notebook cell")
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        cell.setdefault("metadata", NotebookNode())
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    return nb


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_graded_test(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def restore_metadata(nb: NotebookNode, release: NotebookNode) -> list[str]:
    """Restore the nbgrader metadata of ``nb`` from its release version, in place.

    Args:
        nb: the submitted notebook (modified in place).
        release: the student version of the same notebook, as generated from the source.

    Returns:
        One note per repair, for the grade report (empty when nothing was changed).
    """
    wanted = [c for c in release.cells if _grade_id(c)]
    present_ids = {_grade_id(c) for c in nb.cells if _grade_id(c)}
    unmatched = [c for c in wanted if _grade_id(c) not in present_ids]
    if not unmatched:
        return []

    def free(cell: NotebookNode) -> bool:
        return _grade_id(cell) is None

    restored: list[str] = []

    def adopt(target: NotebookNode, source: NotebookNode) -> None:
        target.metadata["nbgrader"] = copy.deepcopy(source.metadata["nbgrader"])
        if target.cell_type != source.cell_type:
            target.cell_type = source.cell_type
        restored.append(_grade_id(source))

    # 1. same cell id, 2. same source
    for cell in list(unmatched):
        match = next((c for c in nb.cells if free(c) and cell.get("id") and c.get("id") == cell.get("id")), None)
        if match is None:
            match = next((c for c in nb.cells if free(c) and c.get("source", "").strip() == cell.source.strip()
                          and c.cell_type == cell.cell_type), None)
        if match is not None:
            adopt(match, cell)
            unmatched.remove(cell)

    # 3. solution cells: the most similar free code cell between the matched neighbours
    order = [_grade_id(c) for c in wanted]
    for cell in [c for c in unmatched if c.metadata["nbgrader"].get("solution")]:
        lo, hi = _neighbour_positions(nb, order, _grade_id(cell))
        candidates = [c for c in nb.cells[lo:hi] if free(c) and c.cell_type == cell.cell_type]
        if candidates:
            best = max(candidates, key=lambda c: difflib.SequenceMatcher(None, c.source, cell.source).ratio())
            adopt(best, cell)
            unmatched.remove(cell)

    notes = []
    if restored:
        shown = ", ".join(restored[:6]) + (", ..." if len(restored) > 6 else "")
        notes.append(f"restored nbgrader metadata of {len(restored)} cell(s) ({shown})")

    # 4. graded test cells that are gone: re-insert them from the release version
    reinserted = []
    for cell in [c for c in unmatched if _is_graded_test(c)]:
        lo, _ = _neighbour_positions(nb, order, _grade_id(cell))
        new = copy.deepcopy(cell)
        new.outputs, new.execution_count = [], None
        nb.cells.insert(lo, new)
        reinserted.append(_grade_id(cell))
        unmatched.remove(cell)
    if reinserted:
        notes.append(f"re-inserted deleted test cell(s): {', '.join(reinserted)}")
    lost = [_grade_id(c) for c in unmatched if c.metadata["nbgrader"].get("grade")]
    if lost:
        notes.append(f"graded cell(s) not found in the submission (0 points): {', '.join(lost)}")
    # ids must stay unique once copied cells carry release ids
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if cell.get("id") in seen:
            cell["id"] = f"{cell['id']}-{index}"
        if cell.get("id"):
            seen.add(cell["id"])
    return notes


def _neighbour_positions(nb: NotebookNode, order: list[str], grade_id: str) -> tuple[int, int]:
    """Positions in ``nb`` just after the closest matched predecessor and at the closest matched successor."""
    positions = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}
    k = order.index(grade_id)
    lo = next((positions[g] + 1 for g in reversed(order[:k]) if g in positions), 0)
    hi = next((positions[g] for g in order[k + 1:] if g in positions), len(nb.cells))
    return lo, max(lo, hi)
