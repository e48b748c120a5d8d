"""The worker process of the isolated judge: runs the student's cells, answers requests.

Started by :func:`course_grader.judge.trusted.judge` as
``python -I -m course_grader.judge.worker`` (inside the pipeline's sandbox). It
reads JSON lines on stdin and writes JSON lines on stdout
(:mod:`course_grader.judge.protocol`):

1. ``{"sources": [cell, ...], "forbidden": {...}, "cell_timeout": s}``: make
   what the exercise forbids unusable (:mod:`course_lib.checks.forbidden`),
   then execute the cells in order in a fresh namespace that already holds
   ``torch``, ``np``, ``math`` and the usual ``typing`` names, each for at most
   ``cell_timeout`` seconds; answer ``{"cells": [{"ok": bool, "error": str}, ...]}``
   (an error in one cell does not stop the others).
2. ``{"id": n, "op": ..., ...}``: one subject request (``new``, ``set_grads``,
   ``call``, ``params``, ``grads``, ``get_attr``, ``set_attr``; for graded functions
   ``function_values``, ``build`` and ``call_each``; for graded functions that take torch
   objects ``make`` (a trusted builder, :mod:`course_lib.checks.builders`), ``call_with`` and
   ``snapshot``; ``attempt`` calls a constructor or graded function that may raise and answers
   whether it did, with the exception's type and message as plain data); answer
   ``{"id": n, "ok": true, "value": ...}`` or ``{"id": n, "ok": false,
   "error": {"kind": "student" | "missing" | "request", ...}}``, plus
   ``"refused": [what, ...]`` when the request ran into a forbidden implementation.

Before the first student cell runs, the worker keeps the protocol streams to
itself (students' prints go to stderr, stdin reads as empty), makes the fused
optimizer kernels refuse and poisons what a graded solution must not use:
``course_lib`` (the reference solutions) and the exercise's forbidden modules
(inside the sandbox those are already stubs without their implementation).
"""

from __future__ import annotations

import builtins
import importlib.abc
import linecache
import math
import os
import signal
import sys
import types
import typing

import numpy as np
import torch
import torch.nn.utils

from course_grader.judge import protocol, stubs
from course_lib.checks.forbidden import OPTIMIZER_IMPLEMENTATIONS
from course_lib.checks.subjects import Instances, StudentCodeError

_CLIP_FUNCTIONS = ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_",
                   "get_total_norm", "clip_grads_with_norm_")


class GradingPolicyError(ImportError):
    """Raised in the worker when graded code reaches for a forbidden module."""


def _blocked_message(name: str) -> str:
    if name.startswith("course_lib"):
        return (f"{name} is not available to graded code: the course library holds the "
                "reference solutions; write the exercise yourself")
    return (f"{name} is not available to graded code: it is someone else's implementation of "
            "this exercise; write it yourself")


def _inside(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


class _PoisonedModule(types.ModuleType):
    def __getattr__(self, attribute: str) -> typing.NoReturn:
        if not attribute.startswith("__"):
            stubs.refusals_so_far().append(f"{self.__name__}.{attribute}")
        raise GradingPolicyError(_blocked_message(self.__name__))


class _BlockingFinder(importlib.abc.MetaPathFinder):
    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001
        if _inside(fullname, self.roots):
            if not fullname.startswith("course_lib"):
                stubs.refusals_so_far().append(fullname)
            raise GradingPolicyError(_blocked_message(fullname))
        return None


def _forbidden_clip(name: str):
    def refused(*args, **kwargs):  # noqa: ANN002, ANN003
        stubs.refusals_so_far().append(f"torch.nn.utils.{name}")
        raise GradingPolicyError(
            f"torch.nn.utils.{name} is not available to graded code: "
            "compute the norm and clip the gradients yourself")
    refused.__name__ = name
    return refused


def poison(modules: tuple[str, ...] = OPTIMIZER_IMPLEMENTATIONS.modules) -> None:
    """Make the reference library and the forbidden modules unusable from now on.

    Inside the sandbox the forbidden modules are already stubs with no implementation
    (:mod:`course_lib.checks.forbidden`); this also covers a worker run without it.
    """
    roots = ("course_lib",) + tuple(modules)
    if "torch.nn.utils.clip_grad" in modules:
        for function in _CLIP_FUNCTIONS:
            if hasattr(torch.nn.utils, function):
                setattr(torch.nn.utils, function, _forbidden_clip(function))
    for name in list(sys.modules):
        if _inside(name, ("course_lib",)):
            del sys.modules[name]
        elif _inside(name, tuple(modules)):
            sys.modules[name] = _PoisonedModule(name)
    sys.meta_path.insert(0, _BlockingFinder(roots))
    if "torch.optim" in sys.modules:
        torch.optim = sys.modules["torch.optim"]


def fresh_namespace() -> dict:
    """The globals a notebook's solution cells start with."""
    namespace = {"__name__": "__main__", "__builtins__": builtins,
                 "torch": torch, "np": np, "numpy": np, "math": math}
    for name in ("List", "Optional", "Tuple", "Sequence", "Iterable", "Union", "Dict", "Callable", "Any"):
        namespace[name] = getattr(typing, name)
    return namespace


def strip_magics(source: str) -> str:
    """Comment out IPython magics and shell escapes (``%...``, ``!...``)."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("# " + line if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines) + "\n"


class CellTimeout(BaseException):
    """A solution cell ran longer than the cell time limit."""


def _alarm(signum, frame):  # noqa: ANN001
    raise CellTimeout("the cell ran longer than the time limit of one cell")


def run_cells(sources: list, namespace: dict, cell_timeout: float | None = None) -> list[dict]:
    """Execute each cell (for at most ``cell_timeout`` seconds); report per cell whether it raised."""
    results = []
    if cell_timeout:
        signal.signal(signal.SIGALRM, _alarm)
    for number, source in enumerate(sources, start=1):
        if type(source) is not str:
            results.append({"ok": False, "error": "not a string"})
            continue
        filename = f"<solution cell {number}>"
        text = strip_magics(source)
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        try:
            if cell_timeout:
                signal.setitimer(signal.ITIMER_REAL, cell_timeout)
            try:
                exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - sandboxed student code
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            results.append({"ok": True, "error": ""})
        except BaseException as error:  # noqa: BLE001 - report and go on
            failure = StudentCodeError(f"cell {number}", error)
            results.append({"ok": False, "error": f"{failure.type_name}: {failure.text} {failure.where}"[:2000]})
    return results


class Server:
    """Answers subject requests against the namespace the cells defined."""

    def __init__(self, namespace: dict, refusals: list | None = None) -> None:
        self.namespace = namespace
        self.instances = Instances(self._resolve, catch=(BaseException,), resolve_function=self._resolve_function)
        self.refusals = refusals if refusals is not None else []

    def _resolve(self, name: str):
        value = self.namespace.get(name)
        if not isinstance(value, type):
            raise LookupError(f"class {name} is not defined by your solution cells")
        return value

    def _resolve_function(self, name: str):
        value = self.namespace.get(name)
        if not isinstance(value, types.FunctionType):
            raise LookupError(f"function {name} is not defined by your solution cells")
        return value

    def handle(self, message: dict) -> dict:
        answer = self._answer(message)
        if self.refusals:
            answer["refused"] = [str(what)[:200] for what in self.refusals[:20]]
            del self.refusals[:]
        return answer

    def _answer(self, message: dict) -> dict:
        op = message.get("op")
        try:
            value = self._dispatch(op, message)
            return {"ok": True, "value": protocol.encode(value)}
        except StudentCodeError as error:
            return {"ok": False, "error": {"kind": "student", "what": error.what, "type": error.type_name,
                                           "message": error.text, "where": error.where}}
        except LookupError as error:
            return {"ok": False, "error": {"kind": "missing", "message": str(error)}}
        except Exception as error:  # noqa: BLE001 - a bad request
            return {"ok": False, "error": {"kind": "request", "message": f"{type(error).__name__}: {error}"}}

    def _dispatch(self, op: str, message: dict):
        decode = protocol.decode
        if op == "new":
            params = decode(message["params"])
            kwargs = dict(decode(message["kwargs"]))
            return self.instances.new(str(message["class"]), params, str(message["dtype"]),
                                      bool(message["requires_grad"]), kwargs)
        if op == "function_values":
            calls = [(list(args), dict(kwargs)) for args, kwargs in decode(message["calls"])]
            return self.instances.function_values(str(message["name"]), calls)
        if op == "build":
            return self.instances.build(str(message["name"]), list(decode(message["args"])),
                                        dict(decode(message["kwargs"])), list(decode(message["closed_forms"])))
        if op == "attempt":
            params = decode(message["params"])
            objects = list(decode(message["objects"])) if "objects" in message else []
            return self.instances.attempt(str(message["kind"]), str(message["name"]), params,
                                          str(message["dtype"]), list(decode(message["args"])),
                                          dict(decode(message["kwargs"])), str(message["exception"]), objects)
        if op == "make":
            return self.instances.make(str(message["kind"]), dict(decode(message["spec"])))
        if op == "call_with":
            return self.instances.call_with(str(message["name"]), list(decode(message["args"])),
                                            dict(decode(message["kwargs"])), list(decode(message["objects"])))
        handle = message.get("handle")
        if type(handle) is not int:
            raise ValueError("missing handle")
        if op == "set_grads":
            return self.instances.set_grads(handle, decode(message["grads"]))
        if op == "call":
            return self.instances.call(handle, str(message["method"]), tuple(decode(message["args"])),
                                       dict(decode(message["kwargs"])))
        if op == "call_each":
            calls = [(list(args), dict(kwargs)) for args, kwargs in decode(message["calls"])]
            return self.instances.call_each(handle, str(message["method"]), calls,
                                            [str(a) for a in decode(message["attributes"])])
        if op == "snapshot":
            return self.instances.snapshot(handle)
        if op == "params":
            return self.instances.params(handle)
        if op == "grads":
            return self.instances.grads(handle)
        if op == "get_attr":
            return self.instances.get_attr(handle, str(message["name"]))
        if op == "set_attr":
            return self.instances.set_attr(handle, str(message["name"]), decode(message["value"]))
        raise ValueError(f"unknown op {op!r}")


def main() -> None:
    """Serve the protocol on the original stdin/stdout until stdin closes."""
    protocol_in = os.fdopen(os.dup(0), "rb")
    protocol_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        protocol_out.write(protocol.dumps(message))
        protocol_out.flush()

    first = protocol.loads(protocol_in.readline(protocol.MAX_LINE_BYTES + 1))
    sources = first.get("sources")
    if type(sources) is not list:
        raise SystemExit("the first message must carry the cell sources")
    forbidden = first.get("forbidden")
    if type(forbidden) is not dict:
        forbidden = OPTIMIZER_IMPLEMENTATIONS.as_message()
    refusals = stubs.refusals_so_far()
    stubs.refuse_native_ops([str(n) for n in forbidden.get("native_ops", [])], refusals)
    poison(tuple(str(m) for m in forbidden.get("modules", [])))
    namespace = fresh_namespace()
    timeout = first.get("cell_timeout")
    cells = run_cells(sources, namespace, float(timeout) if type(timeout) in (int, float) and timeout > 0 else None)
    del refusals[:]  # what the cells ran on their own (a comparison, say) is no part of a check
    send({"cells": cells})
    server = Server(namespace, refusals)
    while True:
        line = protocol_in.readline(protocol.MAX_LINE_BYTES + 1)
        if not line:
            break
        try:
            message = protocol.loads(line)
        except protocol.ProtocolError as error:
            send({"id": None, "ok": False, "error": {"kind": "request", "message": str(error)}})
            continue
        answer = server.handle(message)
        answer["id"] = message.get("id")
        send(answer)


if __name__ == "__main__":
    main()
