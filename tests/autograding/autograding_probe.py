"""A two-exercise probe assignment for the pipeline's own tests (written into scratch courses only).

Exercise 1 defines ``double``, exercise 2 ``square``; each has a graded test cell with a
visible assert and a hidden one. Submissions are the student version with the solution
cells replaced by chosen code.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_grader.pipeline import scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.submission import Settings

ASSIGNMENT = "probe"
NOTEBOOK = "probe"

HIDDEN_LINES = [
    'assert double(-3) == -6, "double(-3) should be -6 (hidden)"',
    'assert square(-2) == 4, "square(-2) should be 4 (hidden)"',
]


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=0):
    meta = {"grade_id": grade_id, "grade": grade, "solution": solution, "locked": locked, "schema_version": 3}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook():
    cells = [
        new_markdown_cell("# Probe\nTwo small functions.", metadata=_meta("intro", locked=True)),
        new_code_cell("import math", metadata={}),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=_meta("double", solution=True)),
        new_code_cell("assert double(2) == 4, \"double(2) should be 4\"\n### BEGIN HIDDEN TESTS\n"
                      f"{HIDDEN_LINES[0]}\n### END HIDDEN TESTS",
                      metadata=_meta("test_double", grade=True, locked=True, points=2)),
        new_markdown_cell("Now `square`.", metadata={}),
        new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                      metadata=_meta("square", solution=True)),
        new_code_cell("assert square(3) == 9, \"square(3) should be 9\"\n### BEGIN HIDDEN TESTS\n"
                      f"{HIDDEN_LINES[1]}\n### END HIDDEN TESTS",
                      metadata=_meta("test_square", grade=True, locked=True, points=3)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write_source(source_root):
    folder = source_root / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), folder / f"{NOTEBOOK}.ipynb")


def with_solutions(release_nb, double=None, square=None):
    """The student version with the two solution cells replaced (None keeps the stub)."""
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "double" and double is not None:
            cell.source = double
        if gid == "square" and square is not None:
            cell.source = square
    return nb


GOOD_DOUBLE = "def double(x):\n    return 2 * x"
GOOD_SQUARE = "def square(x):\n    return x * x"


SETTINGS = Settings(timeout=5, sandbox=False)


def probe_course(root: Path):
    """A scratch course holding the probe assignment, recorded in its gradebook."""
    source = root / "source"
    write_source(source)
    course = scratch.new_course(root / "course", source)
    grade_course(course, SETTINGS, jobs=1, log=lambda _: None)
    _, release = scratch.release_notebook(course, ASSIGNMENT)
    return course, release


def _without(nb, grade_id):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def _stripped(nb):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata = {}
    return nb


def robustness_cases(release):
    """student id -> (file name, content) of every robustness case."""
    good = with_solutions(release, GOOD_DOUBLE, GOOD_SQUARE)
    bad_double = with_solutions(release, "def double(x):\n    return 0", GOOD_SQUARE)
    edited = copy.deepcopy(bad_double)
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_double":
            cell.source = "pass  # the student emptied this test"
    retyped = _without(good, "test_double")
    index = next(i for i, c in enumerate(good.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double")
    retyped.cells.insert(index, nbformat.v4.new_code_cell(good.cells[index].source))
    return {
        "good": ("probe.ipynb", good),
        "untouched": ("probe.ipynb", release),
        "loop": ("probe.ipynb", with_solutions(release, "def double(x):\n    while True:\n        pass",
                                                     GOOD_SQUARE)),
        "syntax": ("probe.ipynb", with_solutions(release, "def double(x) return 2 * x", GOOD_SQUARE)),
        "exits": ("probe.ipynb", with_solutions(release, "import os\nos._exit(1)", GOOD_SQUARE)),
        "memory": ("probe.ipynb", with_solutions(
            release, "def double(x):\n    return len(bytearray(10**15)) * 0 + 2 * x", GOOD_SQUARE)),
        "printer": ("probe.ipynb", with_solutions(
            release, 'print("x" * 20_000_000)\n' + GOOD_DOUBLE, GOOD_SQUARE)),
        "notjson": ("probe.ipynb", "{this is not json"),
        "renamed": ("probe (1).ipynb", good),
        "stderr": ("probe.ipynb", with_solutions(
            release, "import sys\ndef double(x):\n    print('a warning', file=sys.stderr)\n    return 2 * x",
            GOOD_SQUARE)),
        "visibleonly": ("probe.ipynb", with_solutions(release, "def double(x):\n    return 4 if x == 2 else 0",
                                                            GOOD_SQUARE)),
        "edited": ("probe.ipynb", edited),
        "deleted": ("probe.ipynb", _without(bad_double, "test_double")),
        "stripped": ("probe.ipynb", _stripped(good)),
        "strippedbad": ("probe.ipynb", _stripped(bad_double)),
        "retyped": ("probe.ipynb", retyped),
    }
