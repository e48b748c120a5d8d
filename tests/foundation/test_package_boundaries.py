"""The three packages and who may import whom.

- ``course_lib`` (the teaching library) and ``course_lib.checks`` (the exercise checks) are
  what a student's kernel imports: neither imports the grading engine ``course_grader``.
- ``course_lib.checks`` imports in a kernel that has none of the engine's dependencies
  (nbgrader, Jupyter's clients, Dask), and a visible check runs there.
- The only exception is ``course_lib.autograding``: the old command name, a thin alias that
  runs ``course_grader`` for instructors' scripts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALIAS = ROOT / "course_lib" / "autograding"
ENGINE_ONLY = ("course_grader", "nbgrader", "jupyter_client", "nbconvert", "dask", "distributed", "psycopg")


def _imported_names(path: Path) -> set[str]:
    """Every module a file imports: import statements, and string arguments of import_module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in
              ("import_module", "__import__", "run_module") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)
    return names


def _student_side_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "course_lib").rglob("*.py")
                  if not p.is_relative_to(ALIAS) and "__pycache__" not in p.parts)


def test_the_student_side_is_found():
    modules = {p.relative_to(ROOT).as_posix() for p in _student_side_modules()}
    assert {"course_lib/adam.py", "course_lib/checks/__init__.py", "course_lib/checks/local.py",
            "course_lib/checks/chapters/adam.py"} <= modules


@pytest.mark.parametrize("path", _student_side_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_student_side_module_imports_the_engine(path):
    bad = sorted(name for name in _imported_names(path)
                 if any(name == root or name.startswith(root + ".") for root in ENGINE_ONLY))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the teaching library and the checks must not"


def test_the_boundary_test_sees_an_engine_import(tmp_path):
    """The scan is not blind: a module importing the engine, statically or by name, is caught."""
    module = tmp_path / "bad.py"
    module.write_text("import importlib\nfrom course_grader.judge import trusted\n"
                      "importlib.import_module('course_grader.pipeline.cli')\n")
    assert {"course_grader.judge", "course_grader.pipeline.cli"} <= _imported_names(module)


CHECK_WITHOUT_ENGINE = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed in a student's kernel")
sys.meta_path.insert(0, Block())
import importlib.util
from course_lib.checks import check
spec = importlib.util.spec_from_file_location("student_adam", {fixture!r})
student = importlib.util.module_from_spec(spec)
sys.modules["student_adam"] = student
spec.loader.exec_module(student)
check("adam.first_step", student.AdamOptimizer)
print("engine modules loaded:", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""


def test_checks_run_in_a_kernel_without_the_engine():
    blocked = {name.split(".")[0] for name in ENGINE_ONLY}
    fixture = str(ROOT / "tests" / "fixtures" / "implementations" / "02_adam" / "correct_in_place.py")
    result = subprocess.run([sys.executable, "-c", CHECK_WITHOUT_ENGINE.format(blocked=sorted(blocked),
                                                                               fixture=fixture)],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "✓ adam.first_step" in result.stdout
    assert "engine modules loaded: []" in result.stdout


def test_the_old_command_name_says_where_it_moved():
    result = subprocess.run([sys.executable, "-m", "course_lib.autograding", "--help"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "python -m course_grader" in result.stderr
    assert "usage" in result.stdout.lower()


def _package_modules() -> list[Path]:
    examples = ROOT / "course_grader" / "pipeline" / "examples"  # sample student code, pasted into notebooks
    return sorted(p for root in ("course_lib", "course_grader") for p in (ROOT / root).rglob("*.py")
                  if "__pycache__" not in p.parts and not p.is_relative_to(examples))


@pytest.mark.parametrize("path", _package_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_says_what_it_is(path):
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring and docstring.strip().splitlines()[0].strip(), f"{path.relative_to(ROOT)} has no opening line"
