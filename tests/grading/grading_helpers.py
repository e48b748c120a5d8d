"""Shared helpers of the grading tests: loading fixture classes, running checks both ways."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
import sys
from pathlib import Path

from course_lib.checks import CheckFailed, check
from course_lib.checks.chapters import REGISTRY
from course_grader.judge.trusted import Verdict, judge_checks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "implementations"
# assignment -> the graded classes; each fixture file in the assignment's folder holds one of them.
CLASSES_OF = {
    "01_gradient_descent": ("GradientDescentOptimizer",),
    "02_adam": ("AdamOptimizer",),
    "03_lr_schedules": ("LRScheduler",),
    "04_projected_gd": ("ProjectedGD",),
    "05_gradient_clipping": ("ClippingOptimizer",),
    "06_optimizer_zoo": ("AdagradOptimizer", "RMSpropOptimizer", "AdamWOptimizer", "LionOptimizer", "LAMBOptimizer"),
}
GRADED_CLASSES = {name for names in CLASSES_OF.values() for name in names}
#: chapters that grade several units (functions and a class): fixtures sit in one folder per unit,
#: <assignment>/<unit>/correct_*.py, each defining that unit only
UNITS_OF = {
    "07_schedule_zoo": ["exponential_decay", "polynomial_decay", "cosine_with_restarts", "cyclic", "one_cycle",
                        "with_warmup", "ReduceLROnPlateau"],
    "08_lr_finder": ["lr_range_test", "suggest_lr"],
    "09_loss_landscapes": ["filter_normalized_direction", "loss_along_line", "loss_surface"],
    "10_training_loop": ["train_step", "adaptive_clip_grad_", "param_groups", "fit"],
}
ALL_FIXTURES = sorted(FIXTURES.glob("*/*.py")) + sorted(FIXTURES.glob("*/*/*.py"))


def assignment_of(path: Path) -> str:
    return path.relative_to(FIXTURES).parts[0]


def class_of(path: Path) -> str:
    """The one graded class of its assignment that a fixture file (of a chapter of classes) defines."""
    text = path.read_text()
    names = CLASSES_OF[assignment_of(path)]
    found = [name for name in names if re.search(rf"^class {name}\b", text, re.MULTILINE)]
    assert len(found) == 1, f"{path.name} must define exactly one of {names}, found {found}"
    return found[0]


def unit_of(path: Path) -> str:
    """The graded class or function a fixture file defines."""
    return class_of(path) if assignment_of(path) in CLASSES_OF else path.parent.name


def fixture_key(path: Path) -> str:
    """The fixture's path inside its assignment's folder, without .py: ``wrong_rebind``, ``cyclic/wrong_x``."""
    return path.relative_to(FIXTURES / assignment_of(path)).with_suffix("").as_posix()


def fixture_id(path: Path) -> str:
    return f"{assignment_of(path)}/{fixture_key(path)}"


def fixtures_of(assignment: str) -> list[Path]:
    return [path for path in ALL_FIXTURES if assignment_of(path) == assignment]


def checks_for(class_name: str) -> list[str]:
    return [check_id for check_id, spec in REGISTRY.items() if spec.class_name == class_name]


def load_class(path: Path) -> type:
    """Import a fixture file as a module (so inspect.getsource works) and return its class."""
    name = f"grading_fixture_{assignment_of(path)}_{fixture_key(path).replace('/', '_')}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return getattr(sys.modules[name], unit_of(path))


def run_local(check_id: str, cls: type) -> Verdict:
    """Run ``check`` in this process; capture stdout/stderr into the verdict."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            check(check_id, cls)
        except CheckFailed as failure:
            return Verdict(check_id, False, str(failure))
    assert err.getvalue() == "", f"a passing check wrote to stderr: {err.getvalue()!r}"
    return Verdict(check_id, True, out.getvalue())


@functools.lru_cache(maxsize=None)
def local_verdicts(path: Path) -> dict[str, Verdict]:
    cls = load_class(path)
    return {check_id: run_local(check_id, cls) for check_id in checks_for(cls.__name__)}


def renamed(source: str, class_name: str, new_name: str) -> str:
    return re.sub(rf"^(class|def) {class_name}\b", rf"\1 {new_name}", source, flags=re.MULTILINE)


@functools.lru_cache(maxsize=None)
def judged_assignment(assignment: str) -> dict[tuple[str, str], Verdict]:
    """Judge every fixture of an assignment with ONE worker: each class (or function) under its own name."""
    sources, checks, keys = [], [], []
    for path in fixtures_of(assignment):
        class_name = unit_of(path)
        new_name = f"{class_name}_{fixture_key(path).replace('/', '_')}"
        sources.append(renamed(path.read_text(), class_name, new_name))
        for check_id in checks_for(class_name):
            checks.append((check_id, new_name))
            keys.append((fixture_key(path), check_id))
    verdicts = judge_checks(sources, checks, timeout=60.0)
    return dict(zip(keys, verdicts))
