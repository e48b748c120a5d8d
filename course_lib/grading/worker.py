"""The worker process of the isolated judge: runs the student's cells, answers requests.

Started by :func:`course_lib.grading.judge.judge` as
``python -I -m course_lib.grading.worker`` (inside the pipeline's sandbox). It
reads JSON lines on stdin and writes JSON lines on stdout
(:mod:`course_lib.grading.protocol`):

1. ``{"sources": [cell, ...]}``: execute the cells in order in a fresh
   namespace that already holds ``torch``, ``np``, ``math`` and the usual
   ``typing`` names; answer ``{"cells": [{"ok": bool, "error": str}, ...]}``
   (an error in one cell does not stop the others).
2. ``{"id": n, "op": ..., ...}``: one subject request (``new``, ``set_grads``,
   ``call``, ``params``, ``grads``, ``get_attr``, ``set_attr``; for graded functions
   ``function_values``, ``build`` and ``call_each``); answer
   ``{"id": n, "ok": true, "value": ...}`` or ``{"id": n, "ok": false,
   "error": {"kind": "student" | "missing" | "request", ...}}``.

Before the first student cell runs, the worker keeps the protocol streams to
itself (students' prints go to stderr, stdin reads as empty) and poisons what a
graded solution must not use: ``course_lib`` (the reference solutions),
``torch.optim`` (and ``lr_scheduler``) and ``torch.nn.utils.clip_grad_*``.
"""

from __future__ import annotations

import builtins
import importlib.abc
import linecache
import math
import os
import sys
import types
import typing

import numpy as np
import torch
import torch.nn.utils

from course_lib.grading import protocol
from course_lib.grading.subjects import Instances, StudentCodeError

_BLOCKED_PREFIXES = ("course_lib", "torch.optim")
_CLIP_FUNCTIONS = ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_",
                   "get_total_norm", "clip_grads_with_norm_")


class GradingPolicyError(ImportError):
    """Raised in the worker when graded code reaches for a forbidden module."""


def _blocked_message(name: str) -> str:
    if name.startswith("course_lib"):
        return (f"{name} is not available to graded code: the course library holds the "
                "reference solutions; write the exercise yourself")
    return (f"{name} is not available to graded code: the exercise is to implement the "
            "update yourself, without torch.optim or torch.optim.lr_scheduler")


class _PoisonedModule(types.ModuleType):
    def __getattr__(self, attribute: str) -> typing.NoReturn:
        raise GradingPolicyError(_blocked_message(self.__name__))


class _BlockingFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001
        if fullname.split(".")[0] == "course_lib" or fullname.startswith("torch.optim"):
            raise GradingPolicyError(_blocked_message(fullname))
        return None


def _forbidden_clip(name: str):
    def forbidden(*args, **kwargs):  # noqa: ANN002, ANN003
        raise GradingPolicyError(
            f"torch.nn.utils.{name} is not available to graded code: "
            "compute the norm and clip the gradients yourself")
    forbidden.__name__ = name
    return forbidden


def poison() -> None:
    """Make the reference library and the PyTorch versions of the exercises unusable."""
    for name in list(sys.modules):
        if name == "course_lib" or name.startswith("course_lib."):
            del sys.modules[name]
        elif name == "torch.optim" or name.startswith("torch.optim."):
            sys.modules[name] = _PoisonedModule(name)
    sys.meta_path.insert(0, _BlockingFinder())
    torch.optim = sys.modules["torch.optim"]
    for module in (torch.nn.utils, sys.modules.get("torch.nn.utils.clip_grad")):
        if module is None:
            continue
        for function in _CLIP_FUNCTIONS:
            if hasattr(module, function):
                setattr(module, function, _forbidden_clip(function))


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


def run_cells(sources: list, namespace: dict) -> list[dict]:
    """Execute each cell; report per cell whether it raised."""
    results = []
    for number, source in enumerate(sources, start=1):
        if type(source) is not str:
            results.append({"ok": False, "error": "not a string"})
            continue
        filename = f"<solution cell {number}>"
        text = strip_magics(source)
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        try:
            exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - sandboxed student code
            results.append({"ok": True, "error": ""})
        except BaseException as error:  # noqa: BLE001 - report and go on
            failure = StudentCodeError(f"cell {number}", error)
            results.append({"ok": False, "error": f"{failure.type_name}: {failure.text} {failure.where}"[:2000]})
    return results


class Server:
    """Answers subject requests against the namespace the cells defined."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace
        self.instances = Instances(self._resolve, catch=(BaseException,), resolve_function=self._resolve_function)

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
    poison()
    namespace = fresh_namespace()
    send({"cells": run_cells(sources, namespace)})
    server = Server(namespace)
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
