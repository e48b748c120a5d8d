"""``check(check_id, cls)``: a named check run in the notebook's own kernel.

This is the feedback a student sees. It scans the class's source with
:func:`course_lib.checks.policy.scan` when the source can be found (from the
file, or from IPython's input history for classes defined in notebook cells),
runs the check with a :class:`~course_lib.checks.subjects.LocalSubject`,
prints one line on success and raises
:class:`~course_lib.checks.errors.CheckFailed` on the first disagreement.
Warnings are silenced inside a check, so a passing check writes nothing to
stderr (nbgrader scores a test cell that writes to stderr as failed).

While the course's autograding pipeline grades a notebook (nbgrader's
``NBGRADER_EXECUTION=autograde`` *and* the pipeline's ``COURSE_ISOLATED_JUDGE=1``
in the kernel's environment), :func:`check` does not run the check: it prints
one line and returns, since the isolated judge decides the cell and writes its
verdict into it (``course_grader/pipeline/preprocessors.py``, ``IsolatedVerdict``).
Under ``nbgrader validate``, a plain ``nbgrader autograde`` and in a normal
notebook the check runs here as always.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import types
import warnings

from course_lib.checks import policy, recorded
from course_lib.checks.errors import CheckFailed, PolicyViolation
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject

#: printed instead of running a check while the isolated judge grades it (the
#: ``IsolatedVerdict`` preprocessor recognises the line and replaces it by the verdict)
DEFERRED_MARK = "(graded by the isolated grader)"


def deferred_to_judge() -> bool:
    """Whether this kernel is being autograded by the course pipeline, which judges every check."""
    return (os.environ.get("NBGRADER_EXECUTION") == "autograde"
            and os.environ.get("COURSE_ISOLATED_JUDGE") == "1")


def _from_history(class_name: str) -> str | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    history = shell.user_ns.get("In")
    if not isinstance(history, list):
        return None
    pattern = re.compile(rf"^(?:class|def)\s+{re.escape(class_name)}\b", re.MULTILINE)
    for cell in reversed(history):
        if isinstance(cell, str) and pattern.search(cell):
            return cell
    return None


def class_source(cls: type) -> str | None:
    """The source that defined ``cls`` (a class or function): its module's file, or the last
    notebook cell defining it."""
    module = sys.modules.get(getattr(cls, "__module__", ""))
    if module is not None and getattr(module, "__file__", None):
        try:
            return inspect.getsource(module)
        except (OSError, TypeError):
            pass
    if isinstance(cls, types.FunctionType):  # the whole notebook cell, imports included
        cell = _from_history(cls.__name__)
        if cell is not None:
            return cell
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return _from_history(getattr(cls, "__name__", ""))


def check(check_id: str, cls: type) -> None:
    """Run the named check against a student's class in this process.

    Args:
        check_id: a key of :data:`course_lib.checks.chapters.REGISTRY`, e.g. ``"adam.large_eps"``.
        cls: the student's class (not an instance), or the student's function for a check
            of a graded function (``CheckSpec.kind == "function"``).

    Raises:
        PolicyViolation: the class's source uses something the exercise forbids.
        CheckFailed: the first disagreement with the oracle, or an exception in the class.
        NotImplementedError: unchanged, when the class has not been written yet.
    """
    if deferred_to_judge():
        print(f"{check_id}: {DEFERRED_MARK}")
        return
    from course_lib.checks.chapters import REGISTRY

    if check_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"check_id must be one of the known checks, got {check_id!r} (known: {known})")
    spec = REGISTRY[check_id]
    if spec.kind == "function":
        if not isinstance(cls, types.FunctionType):
            raise CheckFailed(f"{check_id} failed: pass the function itself (e.g. {spec.class_name}), "
                              f"not {type(cls).__name__}")
    elif not isinstance(cls, type):
        raise CheckFailed(f"{check_id} failed: pass the class itself (e.g. {spec.class_name}), "
                          f"not {type(cls).__name__}")
    source = class_source(cls)
    if source is not None:
        violations = policy.scan(source, cls.__name__, spec.forbidden)
        if violations:
            raise PolicyViolation(f"{check_id} failed: " + policy.explain(violations, cls.__name__))
    subject = LocalSubject(cls, Trace(check_id))
    with warnings.catch_warnings(), recorded.playing(check_id):
        warnings.simplefilter("ignore")
        spec.func(subject)
    print(f"✓ {check_id}: {spec.description}")
