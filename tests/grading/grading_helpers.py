"""Shared helpers of the grading tests: loading fixture classes, running checks both ways."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
import sys
from pathlib import Path

from course_lib.grading import CheckFailed, check
from course_lib.grading.checks import REGISTRY
from course_lib.grading.judge import Verdict, judge_checks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "implementations"
# assignment -> the graded classes; each fixture file holds one of them.
CLASSES_OF = {
    "01_gradient_descent": ("GradientDescentOptimizer",),
    "02_adam": ("AdamOptimizer",),
    "03_lr_schedules": ("LRScheduler",),
    "04_projected_gd": ("ProjectedGD",),
    "05_gradient_clipping": ("ClippingOptimizer",),
    "06_optimizer_zoo": ("AdagradOptimizer", "RMSpropOptimizer", "AdamWOptimizer", "LionOptimizer", "LAMBOptimizer"),
}
GRADED_CLASSES = {name for names in CLASSES_OF.values() for name in names}
ALL_FIXTURES = sorted(FIXTURES.glob("*/*.py"))


def fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def class_of(path: Path) -> str:
    """The one graded class of its assignment that a fixture file defines."""
    text = path.read_text()
    found = [name for name in CLASSES_OF[path.parent.name] if re.search(rf"^class {name}\b", text, re.MULTILINE)]
    assert len(found) == 1, f"{path.name} must define exactly one of {CLASSES_OF[path.parent.name]}, found {found}"
    return found[0]


def checks_for(class_name: str) -> list[str]:
    return [check_id for check_id, spec in REGISTRY.items() if spec.class_name == class_name]


def load_class(path: Path) -> type:
    """Import a fixture file as a module (so inspect.getsource works) and return its class."""
    name = f"grading_fixture_{path.parent.name}_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return getattr(sys.modules[name], class_of(path))


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
    return re.sub(rf"^class {class_name}\b", f"class {new_name}", source, flags=re.MULTILINE)


@functools.lru_cache(maxsize=None)
def judged_assignment(assignment: str) -> dict[tuple[str, str], Verdict]:
    """Judge every fixture of an assignment with ONE worker: each class under its own name."""
    sources, checks, keys = [], [], []
    for path in sorted((FIXTURES / assignment).glob("*.py")):
        class_name = class_of(path)
        new_name = f"{class_name}_{path.stem}"
        sources.append(renamed(path.read_text(), class_name, new_name))
        for check_id in checks_for(class_name):
            checks.append((check_id, new_name))
            keys.append((path.stem, check_id))
    verdicts = judge_checks(sources, checks, timeout=60.0)
    return dict(zip(keys, verdicts))
