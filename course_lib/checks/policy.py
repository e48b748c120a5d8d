"""A static scan of a graded solution for what the exercise forbids.

A graded class must implement the exercise itself. :func:`scan` parses the
solution source and lists, with line numbers, every use of:

- the course's reference solutions: any import of or attribute access to ``course_lib``;
- the PyTorch implementation of the exercise: ``torch.optim`` in any form
  (``import torch.optim``, ``from torch import optim``, ``torch.optim.SGD``,
  ``optim.SGD``), ``lr_scheduler``, ``torch.nn.utils.clip_grad_norm_`` /
  ``clip_grad_value_`` / ``clip_grad_norm``;
  (a chapter whose task is a training loop uses these on purpose: :func:`scan` allows them
  when the check's :class:`~course_lib.checks.forbidden.Forbidden` does not list
  ``torch.optim``, and then forbids the modules it lists instead, e.g. someone else's AGC);
- dynamic code loading and introspection: ``__import__``, ``importlib``,
  ``exec``, ``eval``, ``compile``, ``sys.modules``, ``builtins`` /
  ``__builtins__``, ``ctypes``, ``gc``, ``inspect``, ``subprocess``, ``os.system``;
- monkeypatching: assigning to (or deleting) an attribute of a module-level
  name other than ``self`` (``torch.allclose = ...``,
  ``np.testing.assert_allclose = ...``), or ``setattr``/``delattr`` on one.

IPython magics (``%...``, ``!...`` lines) are ignored. A source that does not
parse yields no violations (it fails when it runs instead).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from course_lib.checks.forbidden import Forbidden

_FORBIDDEN_MODULES = {
    "course_lib": "imports the course library, which holds the reference solutions",
    "torch.optim": "uses torch.optim, the PyTorch implementation of the exercise",
    "importlib": "loads code dynamically (importlib)",
    "builtins": "reaches into Python's builtins",
    "ctypes": "uses ctypes",
    "gc": "uses the garbage collector's object lists (gc)",
    "inspect": "uses inspect",
    "subprocess": "starts processes (subprocess)",
}
_FORBIDDEN_NAMES = {
    "__import__": "loads code dynamically (__import__)",
    "exec": "runs code from a string (exec)",
    "eval": "runs code from a string (eval)",
    "compile": "compiles code from a string (compile)",
    "__builtins__": "reaches into Python's builtins (__builtins__)",
    "lr_scheduler": "uses torch.optim.lr_scheduler, the PyTorch implementation of the exercise",
    "clip_grad_norm_": "uses torch.nn.utils.clip_grad_norm_, the PyTorch implementation of the exercise",
    "clip_grad_norm": "uses torch.nn.utils.clip_grad_norm, the PyTorch implementation of the exercise",
    "clip_grad_value_": "uses torch.nn.utils.clip_grad_value_, the PyTorch implementation of the exercise",
}
_OPTIM_REASON = "uses torch.optim, the PyTorch implementation of the exercise"
_FORBIDDEN_ATTRIBUTES = {
    "optim": _OPTIM_REASON,
    "lr_scheduler": _FORBIDDEN_NAMES["lr_scheduler"],
    "clip_grad_norm_": _FORBIDDEN_NAMES["clip_grad_norm_"],
    "clip_grad_norm": _FORBIDDEN_NAMES["clip_grad_norm"],
    "clip_grad_value_": _FORBIDDEN_NAMES["clip_grad_value_"],
    "__builtins__": _FORBIDDEN_NAMES["__builtins__"],
    "course_lib": "uses the course library, which holds the reference solutions",
}
_FORBIDDEN_DOTTED = {
    "sys.modules": "reaches into sys.modules",
    "os.system": "runs shell commands (os.system)",
}
_SELF_NAMES = {"self", "cls"}


def _module_reason(module: str) -> str | None:
    for name, reason in _FORBIDDEN_MODULES.items():
        if module == name or module.startswith(name + "."):
            return reason
    if module.split(".")[-1] in ("lr_scheduler", "clip_grad"):
        return _FORBIDDEN_NAMES["lr_scheduler"] if module.endswith("lr_scheduler") else \
            "uses torch.nn.utils.clip_grad, the PyTorch implementation of the exercise"
    return None


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _bound_names(function: ast.AST) -> set[str]:
    """Names a function binds locally: arguments and every assignment target inside it."""
    names: set[str] = set()
    arguments = function.args
    for argument in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
        names.add(argument.arg)
    for argument in (arguments.vararg, arguments.kwarg):
        if argument is not None:
            names.add(argument.arg)
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.difference_update(node.names)
    return names


_TORCH_TOOLS = "the PyTorch implementation of the exercise"


class _Scanner(ast.NodeVisitor):
    def __init__(self, torch_tools_allowed: bool = False, modules: tuple[str, ...] = ()) -> None:
        self.torch_tools_allowed = torch_tools_allowed
        self.modules = modules
        self.violations: list[tuple[int, str]] = []
        self.imported: set[str] = set()
        self.scopes: list[set[str]] = []
        self.defined: set[str] = set()

    def report(self, node: ast.AST, reason: str) -> None:
        if self.torch_tools_allowed and _TORCH_TOOLS in reason:
            return
        self.violations.append((getattr(node, "lineno", 0), reason))

    def forbidden_module(self, module: str) -> str | None:
        for name in self.modules:
            if module == name or module.startswith(name + "."):
                return f"uses {name}, someone else's implementation of the exercise"
        return None

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imported.add((alias.asname or alias.name).split(".")[0])
            reason = _module_reason(alias.name) or self.forbidden_module(alias.name)
            if reason:
                self.report(node, f"`import {alias.name}` {reason}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            self.imported.add(alias.asname or alias.name)
            full = f"{module}.{alias.name}" if module else alias.name
            reason = (_module_reason(module) or _module_reason(full) or _FORBIDDEN_NAMES.get(alias.name)
                      or self.forbidden_module(module) or self.forbidden_module(full))
            if full in _FORBIDDEN_DOTTED:
                reason = _FORBIDDEN_DOTTED[full]
            if reason:
                self.report(node, f"`from {module} import {alias.name}` {reason}")
        self.generic_visit(node)

    # names and attributes
    def visit_Name(self, node: ast.Name) -> None:
        if node.id in _FORBIDDEN_NAMES and node.id not in self.defined:
            self.report(node, f"`{node.id}` {_FORBIDDEN_NAMES[node.id]}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        root = _root_name(node)
        if dotted in _FORBIDDEN_DOTTED:
            self.report(node, f"`{dotted}` {_FORBIDDEN_DOTTED[dotted]}")
        elif (node.attr in _FORBIDDEN_ATTRIBUTES and root not in _SELF_NAMES
              and node.attr not in self.defined):
            self.report(node, f"`{dotted or '...' + '.' + node.attr}` {_FORBIDDEN_ATTRIBUTES[node.attr]}")
        elif isinstance(node.value, ast.Name) and node.value.id == "optim" and "optim" not in self.defined:
            self.report(node, f"`{dotted}` {_OPTIM_REASON}")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._check_patch(node, node.value, shown=dotted)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            root = _root_name(node.value)
            if root in self.imported:
                self._check_patch(node, node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr", "getattr") and node.args:
            target = node.args[0]
            if node.func.id != "getattr":
                self._check_patch(node, target, verb=node.func.id)
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                attribute = node.args[1].value
                if attribute in _FORBIDDEN_ATTRIBUTES or attribute in _FORBIDDEN_NAMES:
                    self.report(node, f"`{node.func.id}(..., {attribute!r})` "
                                      f"{_FORBIDDEN_ATTRIBUTES.get(attribute) or _FORBIDDEN_NAMES[attribute]}")
        self.generic_visit(node)

    def _check_patch(self, node: ast.AST, target: ast.AST, verb: str = "assigns to",
                     shown: str | None = None) -> None:
        root = _root_name(target)
        if root is None or root in _SELF_NAMES:
            return
        if self.scopes and root in self.scopes[-1] and root not in self.imported:
            return
        if not self.scopes and root not in self.imported:
            return
        if verb == "assigns to" and shown:
            what = f"assigns to `{shown}`, an attribute of the module-level name `{root}`"
        else:
            what = f"{verb} an attribute of the module-level name `{_dotted(target) or root}`"
        self.report(node, f"{what} (patching a library or the grader changes what the checks see)")

    # scopes
    def _visit_function(self, node: ast.AST) -> None:
        outer = self.scopes[-1] if self.scopes else set()
        self.scopes.append(outer | _bound_names(node))
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function
    visit_Lambda = _visit_function


def _strip_magics(source: str) -> str:
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) and not line.startswith((" ", "\t"))
                     else ("# " + line if line.lstrip().startswith(("%", "!")) else line)
                     for line in source.splitlines())


def scan(source: str, class_name: str, forbidden: Forbidden | None = None) -> list[str]:
    """List what a graded solution must not use, one human-readable line each.

    Args:
        source: the solution's source (a cell, or several joined).
        class_name: the graded class, named in the messages.
        forbidden: what the graded unit's checks forbid (:attr:`CheckSpec.forbidden`); None means
            an optimizer exercise (torch.optim and torch's clipping forbidden). When it does not list
            ``torch.optim``, torch's optimizers, schedulers and clipping are allowed and the
            modules it lists are forbidden instead.

    Returns:
        ``["ClassName, line 3: `import torch.optim` uses torch.optim, ..."]``;
        empty when the source is fine (or does not parse).
    """
    try:
        tree = ast.parse(_strip_magics(source))
    except (SyntaxError, ValueError):
        return []
    if forbidden is None:
        scanner = _Scanner()
    else:
        allowed = "torch.optim" not in forbidden.modules
        scanner = _Scanner(allowed, tuple(m for m in forbidden.modules if m != "torch.optim") if allowed else ())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scanner.defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            scanner.defined.add(node.id)
        elif isinstance(node, ast.arg):
            scanner.defined.add(node.arg)  # imports anywhere count as module-level names for patching
        if isinstance(node, ast.Import):
            scanner.imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            scanner.imported.update(a.asname or a.name for a in node.names)
    scanner.visit(tree)
    seen: set[tuple[int, str]] = set()
    lines = []
    for lineno, reason in sorted(scanner.violations):
        if (lineno, reason) not in seen:
            seen.add((lineno, reason))
            lines.append(f"{class_name}, line {lineno}: {reason}")
    return lines


def explain(violations: list[str], class_name: str) -> str:
    """The message of a PolicyViolation: why the exercise earns no points."""
    listed = "\n".join(f"  - {line}" for line in violations)
    return (f"{class_name} earns no points for this exercise: a graded solution must implement the "
            f"method itself, without the course's reference solutions, the PyTorch implementation of "
            f"the exercise, dynamic code loading or patching of libraries or the grader.\n"
            f"Found:\n{listed}\n"
            f"Rewrite these lines with plain tensor operations (torch.sqrt, torch.clamp, arithmetic) and "
            f"run the cell again.")
