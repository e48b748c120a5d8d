"""Scratch courses and synthetic submissions, for the demo, the benchmark and the tests.

A scratch course grades real chapters (``solutions/``) in a throw-away folder with its own
SQLite gradebook. Submissions are built from the student versions: untouched, with every
solution cell filled from the source (full marks), or with one class replaced by another
implementation (a wrong one loses points).
"""
from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course_grader.pipeline.course import Course

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"
EXAMPLES = Path(__file__).resolve().parent / "examples"


def new_course(root: Path, source: Path = SOLUTIONS) -> Course:
    """An empty course in ``root`` grading the assignments under ``source`` (SQLite gradebook)."""
    root = Path(root).resolve()
    (root / "submitted").mkdir(parents=True, exist_ok=True)
    return Course(root=root, source=Path(source).resolve(), db_url=f"sqlite:///{root / 'gradebook.db'}")


def chapters(source: Path = SOLUTIONS) -> list[str]:
    """Assignments with a source notebook under ``source``."""
    if not source.is_dir():
        return []
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _is_solution(cell: NotebookNode) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def filled(student: NotebookNode, source: NotebookNode) -> NotebookNode:
    """The student version with every solution cell's source taken from the nbgrader source."""
    nb = copy.deepcopy(student)
    by_id = {_grade_id(c): c for c in source.cells if _grade_id(c)}
    for cell in nb.cells:
        if _is_solution(cell) and _grade_id(cell) in by_id:
            cell.source = by_id[_grade_id(cell)].source
    return nb


def defined_classes(source: str) -> list[str]:
    """Names of the top-level classes a cell defines."""
    return re.findall(r"^class\s+([A-Za-z_]\w*)", source, flags=re.MULTILINE)


def defined_functions(source: str) -> list[str]:
    """Names of the top-level functions a cell defines (a chapter's graded functions)."""
    return re.findall(r"^def\s+([A-Za-z_]\w*)", source, flags=re.MULTILINE)


def with_class(nb: NotebookNode, class_name: str, code: str) -> NotebookNode:
    """A copy of ``nb`` whose solution cell defining ``class_name`` (a class, or a graded function) has the
    source ``code``.

    ``class_name`` may also name a graded module-level function: the solution cell that
    starts with its ``def`` is replaced.

    Raises:
        ValueError: when no solution cell defines ``class_name``.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if _is_solution(cell) and class_name in defined_classes(cell.source) + defined_functions(cell.source):
            cell.source = code
            return nb
    for cell in nb.cells:
        if _is_solution(cell) and defined_functions(cell.source)[:1] == [class_name]:
            cell.source = code
            return nb
    raise ValueError(f"class_name must name a class or function defined in a solution cell, got {class_name!r}")


#: in an implementation file, the line that starts a cell the student added before the class
ADDED_CELL_MARK = "# %% added cell"


def with_implementation(nb: NotebookNode, code: str, unit: str | None = None) -> NotebookNode:
    """A copy of ``nb`` holding an implementation file as a student would submit it.

    The file's first class (or, in a file without a class, its first function), or the graded unit
    named by ``unit``, replaces the solution cell that defines it. A part that starts
    with the line ``# %% added cell`` (and runs to the next ``# %%`` line) becomes a code
    cell of its own, without nbgrader metadata, inserted before that solution cell: a
    helper the student wrote in a cell of their own.
    """
    added, kept, part = [], [], None
    for line in code.splitlines(keepends=True):
        if line.strip() == ADDED_CELL_MARK:
            part = []
            added.append(part)
        elif line.startswith("# %%"):
            part = None
        elif part is not None:
            part.append(line)
        else:
            kept.append(line)
    class_code = "".join(kept)
    unit = unit or (defined_classes(class_code) or defined_functions(class_code))[0]
    nb = with_class(nb, unit, class_code)
    index = next(i for i, c in enumerate(nb.cells) if _is_solution(c) and c.source == class_code)
    for lines in reversed(added):
        nb.cells.insert(index, nbformat.v4.new_code_cell("".join(lines).strip() + "\n"))
    return nb


def defined_units(source: str) -> list[str]:
    """Names of the top-level classes and functions a cell defines (the units a chapter may grade)."""
    return re.findall(r"^(?:class|def)\s+([A-Za-z_]\w*)", source, flags=re.MULTILINE)


def with_unit(nb: NotebookNode, unit: str, code: str) -> NotebookNode:
    """A copy of ``nb`` whose solution cell defining the class or function ``unit`` has the source ``code``.

    Raises:
        ValueError: when no solution cell defines ``unit``.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if _is_solution(cell) and unit in defined_units(cell.source):
            cell.source = code
            return nb
    raise ValueError(f"unit must name a class or function defined in a solution cell, got {unit!r}")


def release_notebook(course: Course, assignment: str) -> tuple[str, NotebookNode]:
    """``(notebook name, student version)`` of an assignment's (first) notebook.

    Uses the pipeline's release copy when the course has been graded once, ``notebooks/``
    otherwise.
    """
    for folder in (course.release / assignment, NOTEBOOKS / assignment):
        found = sorted(folder.glob("*.ipynb"))
        if found:
            return found[0].stem, nbformat.read(found[0], as_version=4)
    raise FileNotFoundError(f"no student version of {assignment}: run `make student` first")


def source_notebook(course: Course, assignment: str, name: str) -> NotebookNode:
    return nbformat.read(course.source / assignment / f"{name}.ipynb", as_version=4)


def submit(course: Course, student: str, assignment: str, content: NotebookNode | str | bytes,
           filename: str) -> Path:
    """Write one submitted file to ``submitted/<student>/<assignment>/<filename>``."""
    folder = course.submitted / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    if isinstance(content, NotebookNode):
        nbformat.write(content, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def reset(root: Path) -> None:
    """Remove a scratch course (outputs are read-only files, so make them writable first)."""
    root = Path(root)
    if root.exists():
        for path in root.rglob("*"):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(root)
