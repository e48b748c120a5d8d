"""How the judge keeps someone else's implementation out of its worker.

A graded unit earns its points for code the student wrote. Names in the source
prove nothing (``type.__subclasses__()`` reaches ``torch.optim.Adam``'s module
globals without naming it, a scheduler can be stepped on a bare object, a fused
kernel called through ``torch.ops``), so the judge keeps the implementations
out of the worker that runs the student's cells:

1. **Absent code.** In the sandbox, every module listed in
   :attr:`Forbidden.modules` (a file, or a package with all its submodules) is
   replaced by a generated stub with the same names: classes that refuse to be
   instantiated and functions that refuse to run. ``import torch`` still works,
   but nothing of the real implementation is on the worker's file system, so no
   route reaches it (:func:`stub_overlays`).
2. **Refused native kernels.** The CPU kernels of the fused optimizer operators
   (:attr:`Forbidden.native_ops`, e.g. ``aten::_fused_adam_``) are replaced,
   through the dispatcher, by a kernel that refuses (:func:`refuse_native_ops`,
   run in the worker before any student cell).
3. **A report.** Every refusal is logged; the worker returns the log with its
   answer and the judge fails the check, naming what was called.

What is forbidden depends on the exercise (:attr:`CheckSpec.forbidden`): an
optimizer chapter forbids torch's optimizers and clipping, while a chapter whose
task is a training loop uses torch's optimizers on purpose.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import io
import os
import re
import sys
import tempfile
import types
from pathlib import Path

from course_lib.checks.forbidden import Forbidden

#: the attribute of ``sys`` where stubs and refused kernels log what was called
LOG_ATTRIBUTE = "course_refusals"


class DelegationRefused(RuntimeError):
    """Raised in the judge's worker when graded code runs someone else's implementation."""


# ---------------------------------------------------------------------------------------
# 1. stubs (generated in the trusted process, mounted over the real files in the sandbox)

_PRELUDE = '''"""{module}: replaced while a graded exercise is judged (someone else's implementation)."""
import sys as _sys
import typing as _typing


class DelegationRefused(RuntimeError):
    pass


def _refuse(what):
    log = getattr(_sys, "{log}", None)
    if type(log) is list:
        log.append(what)
    raise DelegationRefused(
        what + " is someone else's implementation of this exercise: it is not available "
        "while your work is graded (write it yourself)")


class _Refused:
    __refused__ = "{module}"

    def __init__(self, *args, **kwargs):
        _refuse(type(self).__refused__)


def _function(what):
    def refused(*args, **kwargs):
        _refuse(what)
    refused.__name__ = what.rsplit(".", 1)[-1]
    return refused


def __getattr__(name):
    raise AttributeError("module {module!r} has no attribute " + repr(name))
'''

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _literal(value: object) -> str | None:
    """``repr(value)`` when it reads back as the same plain literal, else None."""
    try:
        text = repr(value)
        return text if len(text) < 2000 and ast.literal_eval(text) == value else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _reexport(value: object, attribute: str) -> str | None:
    """``from home import name as attribute`` when ``value`` can be imported from where it lives."""
    home, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not isinstance(home, str) or not isinstance(qualname, str) or not _IDENTIFIER.match(qualname):
        return None
    try:
        found = getattr(importlib.import_module(home), qualname, None)
    except Exception:  # noqa: BLE001 - not importable: no re-export
        return None
    return f"from {home} import {qualname} as {attribute}" if found is value else None


def _stub_entry(attribute: str, value: object, root: str) -> str | None:
    qualified = f"{root}.{attribute}" if not isinstance(value, types.ModuleType) else ""
    if isinstance(value, types.ModuleType):
        inside = value.__name__ == root or value.__name__.startswith(root + ".")
        parent, _, last = value.__name__.rpartition(".")
        return f"from {parent} import {last} as {attribute}" if inside and parent else None
    home = getattr(value, "__module__", None)
    own = isinstance(home, str) and (home == root or home.startswith(root + "."))
    routine = isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType, functools.partial))
    if routine or (own and callable(value)):
        if not own and (line := _reexport(value, attribute)):
            return line
        if isinstance(value, type):
            return f"class {attribute}(_Refused):\n    __refused__ = {qualified!r}"
        return f"{attribute} = _function({qualified!r})"
    literal = _literal(value)
    return f"{attribute} = {literal if literal is not None else '_typing.Any'}"


def stub_source(module: types.ModuleType, root: str | None = None) -> str:
    """A stub for ``module``: its names, none of its behaviour.

    Classes and functions defined under ``root`` (the forbidden module or package)
    become subclassable classes that refuse to be instantiated and functions that
    refuse; names it imports from elsewhere are imported from there; submodules of
    ``root`` are imported (as stubs too); plain literals keep their value; anything
    else is ``typing.Any``.
    """
    root = root or module.__name__
    lines = [_PRELUDE.format(module=module.__name__, log=LOG_ATTRIBUTE)]
    for attribute, value in sorted(vars(module).items()):
        if _IDENTIFIER.match(attribute) and not attribute.startswith("__"):
            entry = _stub_entry(attribute, value, root)
            if entry is not None:
                lines.append(entry)
    return "\n\n".join(lines) + "\n"


def _submodules(package: types.ModuleType) -> list[tuple[str, Path]]:
    """``(dotted name, path relative to the package folder)`` of every module file in a package."""
    root = Path(package.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        parts = relative.with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join((package.__name__,) + parts), relative))
    return found


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o644)


def _stub_module(name: str, folder: Path) -> tuple[Path, Path] | None:
    """Write the stub of module ``name`` under ``folder``; ``(stub, real path)`` to mount."""
    try:
        module = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - not installed: nothing to hide
        return None
    real = getattr(module, "__file__", None)
    if not real:
        return None
    real_path = Path(real).resolve()
    if real_path.name != "__init__.py":
        stub = folder / (name + ".py")
        _write(stub, stub_source(module))
        return stub, real_path
    stub_root = folder / name
    for sub, relative in _submodules(module):
        try:  # quietly: some submodules print and exit() when an optional dependency is missing
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                submodule = importlib.import_module(sub)
        except (Exception, SystemExit):  # noqa: BLE001 - a submodule that cannot load here: an empty stub
            submodule = types.ModuleType(sub)
        _write(stub_root / relative, stub_source(submodule, root=name))
    for directory in [stub_root, *[p for p in stub_root.rglob("*") if p.is_dir()]]:
        directory.chmod(0o755)
    return stub_root, real_path.parent


@functools.lru_cache(maxsize=None)
def stub_overlays(forbidden: Forbidden) -> tuple[tuple[Path, Path], ...]:
    """``(stub, real)`` pairs: mount each stub read-only over the real file or folder.

    The stubs are written once per process into a private temporary folder
    (readable by the sandbox's user) and reused.
    """
    if not forbidden.modules:
        return ()
    folder = Path(tempfile.mkdtemp(prefix="course-stubs-"))
    folder.chmod(0o755)
    overlays = [pair for name in forbidden.modules if (pair := _stub_module(name, folder)) is not None]
    return tuple(overlays)


# ---------------------------------------------------------------------------------------
# 2. native kernels (in the worker, before any student cell runs)

def _log() -> list:
    log = sys.__dict__.get(LOG_ATTRIBUTE)
    if type(log) is not list:
        log = []
        setattr(sys, LOG_ATTRIBUTE, log)
    return log


def refuse_native_ops(names: tuple[str, ...] | list[str], log: list) -> list[str]:
    """Replace the CPU kernels of the ``aten`` operators ``names`` (all overloads) by refusals.

    The registration handle is kept alive by an extra reference and no Python name,
    so graded code cannot find it to undo the registration.

    Returns:
        The qualified operator names that now refuse.
    """
    import ctypes
    import warnings

    import torch

    wanted = set(names)
    operators = [op.split("::", 1)[1] for op in torch._C._dispatch_get_all_op_names()
                 if op.startswith("aten::") and op.split("::", 1)[1].split(".", 1)[0] in wanted]
    if not operators:
        return []

    def refused(*args, **kwargs):  # noqa: ANN002, ANN003
        what = "torch's fused optimizer kernel (torch.ops.aten._fused_*)"
        log.append(what)
        raise DelegationRefused(f"{what} is someone else's implementation of this exercise: it is not "
                                "available while your work is graded (write it yourself)")

    handle = torch._C._dispatch_library("IMPL", "aten", "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for operator in operators:
            handle.impl(operator, "CPU", refused)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(handle))
    del handle
    return operators


def refusals_so_far() -> list:
    """The log that stubs and refused kernels append to (created on first use)."""
    return _log()


def describe(refused: list[str]) -> str:
    """``torch.optim.adam.Adam and torch.optim.sgd.SGD`` (each name once)."""
    names = list(dict.fromkeys(str(name)[:200] for name in refused))[:5]
    return " and ".join(names) if names else "someone else's implementation"


def module_paths(forbidden: Forbidden) -> list[str]:
    """The file system paths the stubs of ``forbidden`` stand in for (for messages and tests)."""
    return [os.fspath(real) for _, real in stub_overlays(forbidden)]
