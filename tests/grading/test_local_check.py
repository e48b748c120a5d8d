"""check() in the notebook's kernel: one line on success, nothing on stderr, actionable failures."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import pytest

from course_lib.checks import CheckFailed, PolicyViolation, check
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject
from grading.grading_helpers import FIXTURES, GRADED_CLASSES, checks_for

STARTER = '''
import torch


class LRScheduler:
    def __init__(self, base_lr, warmup_steps=0, total_steps=1000):
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.current_step = 0

    def step(self):
        self.current_step += 1

    def step_decay(self, decay_rate=0.5, decay_steps=100):
        raise NotImplementedError("step_decay is not written yet")

    def cosine_annealing(self, min_lr=0.0):
        return {"lr": 1.0}

    def warmup_cosine(self, min_lr=0.0):
        import warnings
        warnings.warn("a student warning")
        t = min(self.current_step, self.total_steps)
        if t < self.warmup_steps:
            return self.base_lr * t / self.warmup_steps
        import math
        p = min(1.0, (t - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return min_lr + 0.5 * (self.base_lr - min_lr) * (1 + math.cos(math.pi * p))
'''


def define(source: str, name: str, module_name: str = "notebook_cell") -> type:
    """Define a class the way a notebook cell does: no file behind it."""
    namespace: dict = {"__name__": module_name}
    exec(compile(source, "<ipython-input-7>", "exec"), namespace)  # noqa: S102 - test input
    return namespace[name]


def test_not_implemented_passes_through_unchanged() -> None:
    cls = define(STARTER, "LRScheduler")
    with pytest.raises(NotImplementedError, match="step_decay is not written yet"):
        check("schedules.step_decay", cls)


def test_wrong_return_type_is_named() -> None:
    cls = define(STARTER, "LRScheduler")
    with pytest.raises(CheckFailed, match=r"cosine_annealing\(min_lr=0.0\) at current_step=0 must return a number"
                                          r".*got dict"):
        check("schedules.cosine_annealing", cls)


def test_pass_prints_one_line_and_student_warnings_stay_silent(capfd) -> None:
    cls = define(STARTER, "LRScheduler")
    check("schedules.warmup_cosine", cls)
    out, err = capfd.readouterr()
    assert out == f"✓ schedules.warmup_cosine: {REGISTRY['schedules.warmup_cosine'].description}\n"
    assert err == ""


def test_student_exception_names_type_message_and_line() -> None:
    source = (FIXTURES / "03_lr_schedules" / "correct_math.py").read_text()
    source = source.replace("        self.current_step += 1", "        raise ValueError('bad step')")
    cls = define(source, "LRScheduler")
    with pytest.raises(CheckFailed) as failure:
        check("schedules.step_counter", cls)
    message = str(failure.value)
    assert message.startswith("schedules.step_counter failed: your step() raised ValueError: bad step")
    line = source.splitlines().index("        raise ValueError('bad step')") + 1
    assert f"in step, line {line} of <ipython-input-7>" in message


def test_unknown_check_and_non_class_arguments() -> None:
    with pytest.raises(ValueError, match="check_id must be one of the known checks, got 'adam.nope'"):
        check("adam.nope", object)
    with pytest.raises(CheckFailed, match="pass the class itself"):
        check("adam.first_step", object())


def test_policy_scan_uses_the_class_file(tmp_path) -> None:
    path = tmp_path / "patched_solution.py"
    source = (FIXTURES / "03_lr_schedules" / "correct_math.py").read_text()
    path.write_text(source.replace("import math", "import math\nimport torch") + (
        "\n    def never_called(self):\n        torch.allclose = lambda *a, **k: True\n"))
    spec = importlib.util.spec_from_file_location("patched_solution", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["patched_solution"] = module
    try:
        spec.loader.exec_module(module)
        with pytest.raises(PolicyViolation, match="earns no points") as failure:
            check("schedules.step_decay", module.LRScheduler)
        assert "torch.allclose" in str(failure.value)
        path.write_text(source.replace("import math", "import math\nimport course_lib.adam"))
        del sys.modules["patched_solution"]
        module = importlib.util.module_from_spec(spec)
        sys.modules["patched_solution"] = module
        spec.loader.exec_module(module)
        with pytest.raises(PolicyViolation, match="course library"):
            check("schedules.step_decay", module.LRScheduler)
    finally:
        del sys.modules["patched_solution"]


def test_policy_scan_falls_back_to_ipython_history(monkeypatch) -> None:
    import IPython

    cheat = STARTER + "\nfrom course_lib.checks import checks\n"
    cls = define(STARTER, "LRScheduler")
    shell = types.SimpleNamespace(user_ns={"In": ["", "import torch", cheat, "check('x', LRScheduler)"]})
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    with pytest.raises(PolicyViolation, match="course library"):
        check("schedules.warmup_cosine", cls)


REFERENCE_MODULES = {
    "GradientDescentOptimizer": "course_lib.gradient_descent",
    "AdamOptimizer": "course_lib.adam",
    "LRScheduler": "course_lib.lr_scheduler",
    "ProjectedGD": "course_lib.projections",
    "ClippingOptimizer": "course_lib.clipping",
    "AdagradOptimizer": "course_lib.adagrad",
    "RMSpropOptimizer": "course_lib.rmsprop",
    "AdamWOptimizer": "course_lib.adam",
    "LionOptimizer": "course_lib.lion",
    "LAMBOptimizer": "course_lib.lamb",
}


@pytest.mark.parametrize("class_name", sorted(REFERENCE_MODULES))
def test_reference_solutions_pass_every_check(class_name: str) -> None:
    """The course's reference classes are one more correct implementation (once they exist)."""
    try:
        module = importlib.import_module(REFERENCE_MODULES[class_name])
    except ImportError:
        pytest.skip(f"{REFERENCE_MODULES[class_name]} is not written yet")
    cls = getattr(module, class_name, None)
    if cls is None:
        pytest.skip(f"{class_name} is not in {module.__name__} yet")
    assert class_name in GRADED_CLASSES
    failed = {}
    for check_id in checks_for(class_name):  # the policy scan would reject course_lib's own imports
        try:
            REGISTRY[check_id].func(LocalSubject(cls, Trace(check_id)))
        except CheckFailed as failure:
            failed[check_id] = str(failure)
    assert not failed, failed
