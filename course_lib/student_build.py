"""``python -m course_lib.student_build OUT``: what the students of a graded class get.

The full library holds the reference implementation of every graded unit and the oracles
of every check. A student build is the course without them:

- ``notebooks/`` and ``binder/`` as they are, ``pyproject.toml`` installing ``course_lib`` only;
- ``course_lib`` without the modules that define a graded unit (:func:`reference_modules`,
  found from the checks' registry), without the instructors' tools (:data:`LEFT_OUT`);
- the chapters' checks with every oracle (marked :func:`course_lib.checks.recorded.oracle`)
  replaced by a replayed one, the imports of ``torch.optim``, its schedulers and torch's
  clipping removed, and the oracles' answers on the public inputs stored as data
  (:data:`course_lib.checks.recorded.DATA_FILE`), recorded here by running every check on the
  reference implementation.

A student who runs a chapter's checks in the build (the ``check(...)`` cells, Validate)
gets the same verdicts and messages on the public inputs as with the full library. Only a
chapter whose check module is free of oracle code after the rewrite (:func:`leftovers`) is
built; the others are listed and left out (their notebooks too), and the command fails
unless ``--allow-partial``. Grading stays with the full library: the build cannot grade the
secret inputs.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import sys
import warnings
from importlib import import_module
from pathlib import Path

from course_lib.checks import recorded
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.forbidden import (
    LR_FINDER_IMPLEMENTATIONS,
    OPTIMIZER_IMPLEMENTATIONS,
    TRAINING_LOOP_IMPLEMENTATIONS,
)
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "course_lib"
CHAPTERS = LIBRARY / "checks" / "chapters"
#: modules of the library that are the instructors' (need solutions/ or the grading engine)
LEFT_OUT = ("release.py", "student_build.py", "autograding")
#: modules no built check may import or name: every oracle and every implementation a graded
#: unit may not run
ORACLE_MODULES = tuple(dict.fromkeys(
    ("torch.optim", "torch.nn.utils.clip_grad", "torch.nn.utils.clip_grad_norm_",
     "torch.nn.utils.clip_grad_value_")
    + (OPTIMIZER_IMPLEMENTATIONS | LR_FINDER_IMPLEMENTATIONS | TRAINING_LOOP_IMPLEMENTATIONS).modules))
#: names that reach those modules without spelling them (``from torch.nn.utils import clip_grad_value_``)
ORACLE_NAMES = ("clip_grad_value_", "clip_grad_norm_", "lr_scheduler", "optim")
#: check module (file stem) of each notebook folder
NOTEBOOKS = {
    "gradient_descent": "01_gradient_descent", "adam": "02_adam", "schedules": "03_lr_schedules",
    "projections": "04_projected_gd", "clipping": "05_gradient_clipping", "optimizer_zoo": "06_optimizer_zoo",
    "schedule_zoo": "07_schedule_zoo", "lr_finder": "08_lr_finder", "landscapes": "09_loss_landscapes",
    "training_loop": "10_training_loop",
}


def graded_units() -> set[str]:
    """The names of every graded class and function (the checks' ``class_name``)."""
    return {spec.class_name for spec in REGISTRY.values()}


def reference_modules() -> dict[str, str]:
    """Module file of the library -> a graded unit it defines (its reference implementation)."""
    units, found = graded_units(), {}
    for path in sorted(LIBRARY.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in units:
                found.setdefault(path.name, node.name)
    return found


def _reference(unit: str):
    for name in reference_modules():
        module = import_module(f"course_lib.{name[:-3]}")
        if hasattr(module, unit):
            return getattr(module, unit)
    raise LookupError(f"no reference implementation of {unit}")


def _chapter_of(check_id: str) -> str:
    return REGISTRY[check_id].func.__module__.rsplit(".", 1)[-1]


# --- the rewrite of a chapter's check module ------------------------------------------------

def _is_oracle(node: ast.AST) -> bool:
    return isinstance(node, (ast.ClassDef, ast.FunctionDef)) and any(
        (isinstance(d, ast.Name) and d.id == "oracle") or (isinstance(d, ast.Attribute) and d.attr == "oracle")
        for d in node.decorator_list)


def _reaches_oracle_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in ORACLE_MODULES)


def _plain_attributes(cls: type) -> dict:
    return {name: getattr(cls, name) for name in dir(cls)
            if not name.startswith("_") and isinstance(getattr(cls, name), (str, int, float, bool))}


def _drops_import(node: ast.stmt) -> bool:
    if isinstance(node, ast.ImportFrom):
        return _reaches_oracle_module(node.module or "") or node.module == "torch.nn.utils"
    return isinstance(node, ast.Import) and any(_reaches_oracle_module(a.name) for a in node.names)


def _replayed(module, node: ast.ClassDef | ast.FunctionDef) -> str:
    if isinstance(node, ast.ClassDef):
        return f"{node.name} = recorded.replayed_class({node.name!r}, {_plain_attributes(getattr(module, node.name))!r})"
    return f"{node.name} = recorded.replayed_function({node.name!r})"


def _offset(lines: list[str], line: int, column: int) -> int:
    """Character offset in the text of ``lines`` of (1-based ``line``, UTF-8 byte ``column``)."""
    return sum(len(text) for text in lines[:line - 1]) + len(lines[line - 1].encode("utf-8")[:column].decode("utf-8"))


def rewrite(stem: str) -> str:
    """The source of check module ``stem`` with its oracles replaced by replayed ones.

    Text edits, so that the rest of the module (comments, layout) reads as it does in the full library:
    every ``@oracle`` definition becomes one line naming its replayed stand-in, imports of oracle modules
    go, and a function written inline as an argument of an oracle call (``lambda o: StepLR(o, ...)``)
    becomes :func:`course_lib.checks.recorded.FUNCTION`.
    """
    module = import_module(f"course_lib.checks.chapters.{stem}")
    text = (CHAPTERS / f"{stem}.py").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    oracles = {node.name for node in tree.body if _is_oracle(node)}
    edits: list[tuple[int, int, str]] = []

    def span(node: ast.AST, first_line: int | None = None) -> tuple[int, int]:
        start_line = first_line or node.lineno
        start = _offset(lines, start_line, 0 if first_line else node.col_offset)
        return start, _offset(lines, node.end_lineno, node.end_col_offset)

    for node in tree.body:
        if _is_oracle(node):
            edits.append((*span(node, min(d.lineno for d in node.decorator_list)), _replayed(module, node)))
        elif _drops_import(node):
            edits.append((*span(node, node.lineno), "# (an import of an oracle module: not in the student build)"))
        else:
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in oracles:
                    for argument in list(call.args) + [k.value for k in call.keywords]:
                        if isinstance(argument, ast.Lambda):
                            edits.append((*span(argument), "recorded.FUNCTION"))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    tree = ast.parse(text)
    anchor = next((n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"), None)
    at = anchor.end_lineno if anchor else (tree.body[0].end_lineno if ast.get_docstring(tree) else 0)
    lines = text.splitlines(keepends=True)
    lines.insert(at, "from course_lib.checks import recorded\n")
    return "".join(lines)


def leftovers(source: str) -> list[str]:
    """What in ``source`` still reaches an oracle module (imports, ``torch.optim...``, ``clip_grad_*``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (_reaches_oracle_module(node.module or "")
                                                 or any(a.name in ORACLE_NAMES for a in node.names)):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import) and any(_reaches_oracle_module(a.name) for a in node.names):
            found.append(f"line {node.lineno}: import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Attribute) and node.attr in ORACLE_NAMES:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in ORACLE_NAMES:
            found.append(f"line {node.lineno}: {node.id}")
    return found


# --- recording --------------------------------------------------------------------------------

def record(check_ids: list[str]) -> dict[str, list]:
    """Every oracle call of each check, run on the reference implementation with the public inputs."""
    recordings = {}
    for check_id in check_ids:
        spec = REGISTRY[check_id]
        subject = LocalSubject(_reference(spec.class_name), Trace(check_id))
        with recorded.recording(check_id) as events, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.func(subject)
        recordings[check_id] = events
    return recordings


# --- the build --------------------------------------------------------------------------------

_INIT = '''"""The Optimization for Deep Learning course library, student build.

Test problems, trajectories, training loops, plots, datasets and the checks behind the
notebooks' ``check(...)`` cells. The graded units are yours to write in the notebooks: this
build holds neither their reference implementations nor the checks' oracles (a check compares
with expected values recorded for its public inputs).
"""
'''


_README = """# Optimization for Deep Learning: the course notebooks

Chapters: {chapters}, one folder each under `notebooks/`.

Set up once, with CPython 3.11 (or open the repository on Binder, which reads `binder/`):

```
python3.11 -m venv .venv
.venv/bin/python -m pip install -r requirements.txt -c constraints.txt
.venv/bin/python -m pip install --no-deps --no-build-isolation -e .
.venv/bin/python -m course_lib.setup_jupyter
.venv/bin/jupyter lab notebooks/
```

In each notebook, write the classes and functions the task cells ask for; the `check(...)` cells and
the Validate button compare your code with expected values for the visible (public) inputs and
explain the first difference they find. Your grade comes from the same checks on other inputs.
"""


def _copy_library(out: Path, references: dict[str, str], chapters: list[str]) -> None:
    skip = set(references) | set(LEFT_OUT)

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        left = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
        if here == LIBRARY:
            left |= {n for n in names if n in skip}
        if here == CHAPTERS:
            left |= {n for n in names if n.endswith(".py") and n[:-3] not in chapters + ["__init__", "_spec"]}
        return left

    shutil.copytree(LIBRARY, out / "course_lib", ignore=ignore)
    (out / "course_lib" / "__init__.py").write_text(_INIT, encoding="utf-8")


def _chapters_init(chapters: list[str]) -> str:
    return (f'"""The named checks behind the notebooks\' graded test cells (student build: chapters '
            f'{", ".join(chapters)})."""\n\nfrom course_lib.checks.chapters import {", ".join(chapters)}\n'
            f"from course_lib.checks.chapters._spec import CheckSpec\n\n"
            f"REGISTRY: dict[str, CheckSpec] = {{\n    spec.check_id: spec\n"
            f"    for module in ({', '.join(chapters)},)\n    for spec in module.CHECKS\n}}\n\n"
            f'__all__ = ["REGISTRY", "CheckSpec"]\n')


def _pyproject() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    text = text.replace('include = ["course_lib*", "course_grader*"]', 'include = ["course_lib*"]')
    return "\n".join(line for line in text.splitlines() if not line.startswith("course_grader =")) + "\n"


def build(out: Path, allow_partial: bool = False) -> dict:
    """Write the student build into ``out`` (which must not exist); what it holds and left out."""
    if out.exists():
        raise ValueError(f"out must be a folder that does not exist yet, got {str(out)!r}")
    stems = list(NOTEBOOKS)
    sources, missing = {}, {}
    for stem in stems:
        source = rewrite(stem)
        found = leftovers(source) or ([] if "recorded.replayed_" in source else ["no oracle marked @oracle"])
        if found:
            missing[stem] = found
        else:
            sources[stem] = source
    if missing and not allow_partial:
        lines = [f"  {stem}: {', '.join(found[:3])}" for stem, found in missing.items()]
        raise SystemExit("these chapters' checks still reach an oracle (mark it with @oracle):\n"
                         + "\n".join(lines) + "\n(--allow-partial builds the others)")
    chapters = [stem for stem in stems if stem in sources]
    check_ids = [c for c in REGISTRY if _chapter_of(c) in chapters]
    recordings = record(check_ids)
    references = reference_modules()

    out.mkdir(parents=True)
    _copy_library(out, references, chapters)
    built_checks = out / "course_lib" / "checks"
    for stem, source in sources.items():
        (built_checks / "chapters" / f"{stem}.py").write_text(source, encoding="utf-8")
    (built_checks / "chapters" / "__init__.py").write_text(_chapters_init(chapters), encoding="utf-8")
    (built_checks / recorded.DATA_FILE).write_text(json.dumps(recordings), encoding="utf-8")
    (out / "notebooks").mkdir()
    for stem in chapters:
        shutil.copytree(ROOT / "notebooks" / NOTEBOOKS[stem], out / "notebooks" / NOTEBOOKS[stem])
    shutil.copytree(ROOT / "binder", out / "binder")
    (out / "pyproject.toml").write_text(_pyproject(), encoding="utf-8")
    for name in ("requirements.txt", "constraints.txt", "environment.yml"):
        shutil.copy2(ROOT / name, out / name)
    (out / "README.md").write_text(_README.format(chapters=", ".join(NOTEBOOKS[c] for c in chapters)),
                                   encoding="utf-8")
    return {"chapters": chapters, "left_out": sorted(missing), "checks": len(check_ids),
            "reference_modules_left_out": sorted(references)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.student_build", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to create (must not exist)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="build the chapters whose checks are free of oracles, leave the others out")
    args = parser.parse_args(argv)
    try:
        summary = build(args.out, allow_partial=args.allow_partial)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"student build in {args.out}: chapters {', '.join(summary['chapters'])} "
          f"({summary['checks']} checks); left out: reference modules "
          f"{', '.join(summary['reference_modules_left_out'])}")
    if summary["left_out"]:
        print(f"NOT built (their checks still hold oracles): {', '.join(summary['left_out'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
