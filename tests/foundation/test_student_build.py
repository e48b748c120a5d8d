"""The student build (``make student-build``): no graded unit's implementation, the same visible checks.

One build into a temporary folder serves every test: it must hold neither a reference module nor
the code of any oracle (scanned line by line and by syntax), and a student in it who runs a
chapter's visible checks gets what the full library says, in a process that sees only the build.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course_grader.sandbox import bwrap
from course_lib import student_build
from course_lib.checks.chapters import REGISTRY

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "course_lib"
CHAPTERS = LIBRARY / "checks" / "chapters"


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student") / "build"
    summary = student_build.build(out)
    assert summary["chapters"] == list(student_build.NOTEBOOKS), summary
    return out


def _py_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _distinctive(line: str) -> bool:
    return len(line) >= 30 and not line.startswith(("#", "import ", "from ", '"""', "'''", "def __", "return self"))


def _secret_lines() -> set[str]:
    """Lines of the reference modules and of every @oracle definition that no other library module has."""
    secret: set[str] = set()
    common: set[str] = set()  # the lines the checks' own code shares with an oracle (a loop header, ...)
    for name in bwrap.REFERENCE_MODULES:
        secret |= {line.strip() for line in (LIBRARY / name).read_text(encoding="utf-8").splitlines()}
    for path in CHAPTERS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        inside: set[int] = set()
        for node in ast.parse(text).body:
            if student_build._is_oracle(node):
                inside |= set(range(node.lineno - 1, node.end_lineno))
        secret |= {lines[i].strip() for i in inside}
        common |= {line.strip() for i, line in enumerate(lines) if i not in inside}
    chapters = {p for p in CHAPTERS.glob("*.py")}
    others = [p for p in _py_files(LIBRARY) if p.name not in bwrap.REFERENCE_MODULES and p not in chapters
              and p.name != "student_build.py"]
    common |= set().union(*({line.strip() for line in p.read_text(encoding="utf-8").splitlines()} for p in others))
    return {line for line in secret if _distinctive(line)} - common


def test_the_reference_modules_are_found_and_left_out(build: Path) -> None:
    assert set(student_build.reference_modules()) == set(bwrap.REFERENCE_MODULES)
    built = {p.name for p in (build / "course_lib").glob("*.py")}
    assert not built & set(bwrap.REFERENCE_MODULES)
    assert not built & {"release.py", "student_build.py"}
    assert sorted(p.name for p in (build / "notebooks").iterdir()) == sorted(student_build.NOTEBOOKS.values())
    assert (build / "binder" / "postBuild").is_file() and (build / "pyproject.toml").is_file()
    assert "course_grader" not in (build / "pyproject.toml").read_text(encoding="utf-8")


def test_no_line_of_a_reference_or_an_oracle_is_in_the_build(build: Path) -> None:
    fingerprints = _secret_lines()
    assert len(fingerprints) > 300, len(fingerprints)
    found = {str(p.relative_to(build)): sorted(fingerprints & {line.strip() for line in p.read_text(
        encoding="utf-8").splitlines()}) for p in _py_files(build)}
    assert not {k: v for k, v in found.items() if v}


def test_no_graded_unit_is_defined_and_no_check_reaches_an_oracle(build: Path) -> None:
    units = {spec.class_name for spec in REGISTRY.values()}
    for path in _py_files(build):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        assert not defined & units, (path, defined & units)
    for stem in ("gradient_descent", "schedules", "schedule_zoo", "clipping"):  # the scan sees the originals' oracles
        assert student_build.leftovers((CHAPTERS / f"{stem}.py").read_text(encoding="utf-8")), stem
    for path in (build / "course_lib" / "checks" / "chapters").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert student_build.leftovers(text) == [], path
        assert not any(student_build._is_oracle(n) for n in ast.parse(text).body), path


def test_the_recording_is_data(build: Path) -> None:
    recording = json.loads((build / "course_lib" / "checks" / "expected_public.json").read_text(encoding="utf-8"))
    assert set(recording) == set(REGISTRY)
    # every check but one asks an oracle (past_total_steps compares with min_lr, a number it chose)
    assert [c for c in REGISTRY if not recording[c]] == ["schedules.past_total_steps"]
    assert all(isinstance(event, list) and len(event) == 3 for events in recording.values() for event in events)


# --- a student in the build -----------------------------------------------------------------

STUDENTS = {
    "gd_right": """
        import torch

        class GradientDescentOptimizer:
            def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False):
                self.params, self.lr, self.momentum, self.nesterov = list(params), lr, momentum, nesterov
                self.velocities = [torch.zeros_like(p) for p in self.params]

            @torch.no_grad()
            def step(self):
                for p, v in zip(self.params, self.velocities):
                    if p.grad is None:
                        continue
                    v.mul_(self.momentum).add_(p.grad)
                    direction = p.grad + self.momentum * v if self.nesterov else v
                    p.sub_(self.lr * direction)
    """,
    "lr_right": """
        import math

        class LRScheduler:
            def __init__(self, base_lr, warmup_steps=0, total_steps=1000):
                self.base_lr, self.warmup_steps, self.total_steps = base_lr, warmup_steps, total_steps
                self.current_step = 0

            def step(self):
                self.current_step += 1

            def step_decay(self, decay_rate=0.5, decay_steps=100):
                return self.base_lr * decay_rate ** (self.current_step // decay_steps)

            def _cosine(self, progress, min_lr):
                return min_lr + 0.5 * (self.base_lr - min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))

            def cosine_annealing(self, min_lr=0.0):
                return self._cosine(self.current_step / self.total_steps, min_lr)

            def warmup_cosine(self, min_lr=0.0):
                t, w = self.current_step, self.warmup_steps
                if t < w:
                    return self.base_lr * t / w
                return self._cosine((t - w) / (self.total_steps - w), min_lr)
    """,
    "zoo_right": """
        def exponential_decay(step, base_lr, gamma):
            return float(base_lr * gamma ** step)
    """,
}
STUDENTS["gd_wrong"] = STUDENTS["gd_right"].replace("v.mul_(self.momentum).add_(p.grad)",
                                                    "v.mul_(self.momentum).add_((1 - self.momentum) * p.grad)")
STUDENTS["lr_wrong"] = STUDENTS["lr_right"].replace("return min_lr + 0.5 * (self.base_lr - min_lr)",
                                                    "return 0.5 * self.base_lr")
STUDENTS["zoo_wrong"] = STUDENTS["zoo_right"].replace("gamma ** step", "gamma ** (step + 1)")
CHECKS = {
    "gd": ("GradientDescentOptimizer", ["gradient_descent.vanilla", "gradient_descent.momentum",
                                        "gradient_descent.nesterov"]),
    "lr": ("LRScheduler", ["schedules.step_decay", "schedules.cosine_annealing", "schedules.step_counter"]),
    "zoo": ("exponential_decay", ["zoo.exponential_decay"]),
}

STUDENT_RUN = '''
import importlib, io, json, sys, contextlib
library, students = sys.argv[1], sys.argv[2]
# only the library under test and the student's files, plus the standard library and the installed packages
sys.path[:] = [library, students] + [p for p in sys.path[1:] if "site-packages" in p or "python3" in p]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
import course_lib
assert course_lib.__file__.startswith(library), course_lib.__file__
from course_lib.checks import check
from course_lib.checks.chapters._spec import secret_inputs
results = {}
for module, (unit, check_ids) in json.loads(sys.argv[3]).items():
    graded = getattr(importlib.import_module(module), unit)
    for check_id in check_ids:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                check(check_id, graded)
            results[module + " " + check_id] = ["passed", out.getvalue()]
        except Exception as error:
            results[module + " " + check_id] = [type(error).__name__, str(error)]
missing = {}
for name in ("adam", "gradient_descent", "lr_scheduler", "schedule_zoo", "training_loop", "lion"):
    try:
        importlib.import_module("course_lib." + name)
        missing[name] = "importable"
    except ModuleNotFoundError:
        missing[name] = "missing"
try:
    course_lib.AdamOptimizer
    missing["course_lib.AdamOptimizer"] = "importable"
except AttributeError:
    missing["course_lib.AdamOptimizer"] = "missing"
try:
    with secret_inputs(7):
        check("gradient_descent.vanilla", getattr(importlib.import_module("gd_right"), "GradientDescentOptimizer"))
    secret = "passed"
except Exception as error:
    secret = type(error).__name__
print(json.dumps({"results": results, "imports": missing, "secret": secret}))
'''


@pytest.fixture(scope="module")
def students(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("students")
    for name, source in STUDENTS.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def _run(library: Path, students: Path) -> dict:
    plan = {f"{prefix}_{kind}": spec for prefix, spec in CHECKS.items() for kind in ("right", "wrong")}
    done = subprocess.run([sys.executable, "-c", STUDENT_RUN, str(library), str(students), json.dumps(plan)],
                          check=False, capture_output=True, text=True, timeout=300, cwd=students)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_visible_checks_in_the_build_say_what_the_full_library_says(build: Path, students: Path) -> None:
    in_build = _run(build, students)
    full = _run(REPO, students)
    assert in_build["results"] == full["results"]
    results = in_build["results"]
    for prefix, (_, check_ids) in CHECKS.items():
        for check_id in check_ids:
            assert results[f"{prefix}_right {check_id}"][0] == "passed", results[f"{prefix}_right {check_id}"]
            assert results[f"{prefix}_right {check_id}"][1].startswith(f"✓ {check_id}:")
    assert results["gd_wrong gradient_descent.vanilla"][0] == "passed"  # momentum 0: the mistake does not show
    verdict, message = results["gd_wrong gradient_descent.momentum"]
    assert verdict == "CheckFailed" and "no (1 − momentum) factor on g" in message and "torch.optim.SGD" in message
    verdict, message = results["lr_wrong schedules.cosine_annealing"]
    assert verdict == "CheckFailed" and "min_lr is the floor" in message
    verdict, message = results["zoo_wrong zoo.exponential_decay"]
    assert verdict == "CheckFailed" and "exponential_decay(0," in message
    assert in_build["imports"] == {name: "missing" for name in in_build["imports"]}
    assert full["imports"] == {name: "importable" for name in full["imports"]}
    # the build holds the public inputs' answers only: the secret inputs are the full library's
    assert in_build["secret"] == "NotRecorded" and full["secret"] == "passed"


def test_every_course_lib_import_of_the_notebooks_resolves_in_the_build(build: Path) -> None:
    imports = set()
    for notebook in (build / "notebooks").rglob("*.ipynb"):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            try:
                tree = ast.parse("\n".join(line for line in "".join(cell["source"]).splitlines()
                                            if not line.lstrip().startswith(("%", "!"))))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib"):
                    imports |= {(node.module, a.name) for a in node.names}
    assert len(imports) > 10, imports
    probe = ("import importlib, sys\nsys.path[:] = [sys.argv[1]] + [p for p in sys.path[1:] if 'site-packages' in p "
             "or 'python3' in p]\nsys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
             f"for module, name in {sorted(imports)!r}:\n"
             "    m = importlib.import_module(module)\n"
             "    assert m.__file__.startswith(sys.argv[1]), m.__file__\n"
             "    getattr(m, name) if hasattr(m, name) else importlib.import_module(module + '.' + name)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(build)], check=False, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
