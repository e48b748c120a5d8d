"""Subjects: the one interface through which checks drive a student's class.

A check never touches a student object. It asks a subject to create an
instance from plain arrays (``new``), to set gradients (``set_grads``), to call
a method (``call``) and to read parameters, gradients and attributes back, and
always receives plain data (see :mod:`course_lib.checks.plain`).

- :class:`LocalSubject` runs the class in the current process (the notebook's
  kernel): the feedback a student sees.
- The judge's ``RemoteSubject`` (in the grading engine) sends the same requests to a
  worker process that ran the student's cells: the verdict that counts. Student code
  never runs in the process that compares.

Handles are small integers; the parameter tensors a subject reads back are the
very tensors it passed to the constructor, so an update that rebinds a local
name instead of changing the tensor shows up as "unchanged".
"""

from __future__ import annotations

import builtins
import math
import os
import traceback
from typing import Any, Callable

import numpy as np
import torch

from course_lib.checks import builders
from course_lib.checks.plain import to_plain, to_student, to_tensor
from course_lib.checks.messages import Trace

_CHECKS_DIR = os.path.dirname(os.path.abspath(__file__))
#: frames in these folders are the course's (the checks, and the judge's worker), never the student's
_GRADING_DIRS = (_CHECKS_DIR + os.sep,
                 os.path.join(os.path.dirname(os.path.dirname(_CHECKS_DIR)), "course_grader") + os.sep)
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep for module in (torch, np, os)
)


def _is_student_file(filename: str) -> bool:
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    if path.startswith(_GRADING_DIRS):
        return False
    return not path.startswith(_LIBRARY_DIRS) and "site-packages" not in path


def last_student_frame(error: BaseException) -> str:
    """``in step, line 12: p -= lr * g`` for the innermost frame of student code."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if _is_student_file(frame.filename):
            code = (frame.line or "").strip()
            place = os.path.basename(frame.filename) if not frame.filename.startswith("<") else frame.filename
            text = f"in {frame.name}, line {frame.lineno} of {place}"
            return f"{text}: {code}" if code else text
    return ""


class StudentCodeError(Exception):
    """Student code raised; carries what was called and the original exception."""

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__(what)
        self.what = what
        self.original = error
        self.type_name = type(error).__name__
        try:
            self.text = str(error)[:2000]
        except BaseException:  # a hostile __str__
            self.text = "<message could not be read>"
        self.where = last_student_frame(error)


def _call_student(what: str, function: Callable[[], Any], catch: tuple) -> Any:
    try:
        return function()
    except catch as error:
        raise StudentCodeError(what, error) from None


class _Shown(str):
    """Text shown as is in a call's signature (a schedule the grader passed)."""


def _signature(name: str, args: tuple, kwargs: dict) -> str:
    def short(value: Any) -> str:
        if isinstance(value, _Shown):
            return str(value)
        if isinstance(value, np.ndarray):
            return f"<tensor of shape {tuple(value.shape)}>"
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            return f"<list of {len(value)} tensors>"
        return repr(value)

    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _cosine_form(lr: float, total: float, min_lr: float) -> Callable[[int], float]:
    return lambda step: min_lr + (lr - min_lr) * (1 + math.cos(math.pi * step / total)) / 2


#: trusted schedules ``step -> lr`` a check may hand to a graded function that takes a
#: schedule (``with_warmup``): a check names one as ``(kind, [numbers])`` and the subject
#: builds it where the student's code runs, so no callable ever crosses the protocol
CLOSED_FORMS: dict[str, Callable[..., Callable[[int], float]]] = {
    "constant": lambda lr: (lambda step: lr),
    "exponential": lambda lr, gamma: (lambda step: lr * gamma**step),
    "step": lambda lr, gamma, size: (lambda step: lr * gamma ** (step // size)),
    "cosine": _cosine_form,
}


def closed_form(kind: str, numbers: list) -> Callable[[int], float]:
    """The trusted schedule ``CLOSED_FORMS[kind](*numbers)``."""
    if kind not in CLOSED_FORMS or type(numbers) not in (list, tuple) or len(numbers) > 8:
        raise ValueError(f"unknown closed-form schedule {str(kind)[:40]!r}")
    if not all(type(n) in (int, float) for n in numbers):
        raise ValueError("a closed-form schedule takes plain numbers")
    return CLOSED_FORMS[kind](*numbers)


def _with_closed_forms(args: list, kwargs: dict, closed_forms: list) -> tuple[list, dict]:
    """Put the trusted schedules named in ``closed_forms`` (``[key, kind, numbers]``) into the arguments."""
    args, kwargs = list(args), dict(kwargs)
    for key, kind, numbers in closed_forms:
        schedule = closed_form(str(kind), numbers)
        if type(key) is int and 0 <= key < len(args):
            args[key] = schedule
        elif type(key) is str:
            kwargs[key] = schedule
        else:
            raise ValueError(f"bad closed-form position {key!r}")
    return args, kwargs


class Instances:
    """Student objects and the parameter tensors given to them; plain data in and out.

    Used in-process by :class:`LocalSubject` and by the worker. Every call into
    student code raises :class:`StudentCodeError` when the code raises one of
    ``catch`` (the worker also catches ``SystemExit``).
    """

    def __init__(self, resolve: Callable[[str], Any], catch: tuple = (Exception,),
                 resolve_function: Callable[[str], Any] | None = None) -> None:
        self._resolve = resolve
        self._resolve_function = resolve_function or resolve
        self._catch = catch
        self._objects: dict[int, Any] = {}
        self._params: dict[int, list[torch.Tensor]] = {}
        self._modules: dict[int, list] = {}

    def new(self, class_name: str, params: list[np.ndarray] | None, dtype: str,
            requires_grad: bool, kwargs: dict) -> int:
        cls = self._resolve(class_name)
        arguments = {key: to_student(value) for key, value in kwargs.items()}
        if params is None:
            tensors: list[torch.Tensor] = []
            what = _signature(class_name, (), kwargs)
            obj = _call_student(what, lambda: cls(**arguments), self._catch)
        else:
            tensors = [to_tensor(np.asarray(p, dtype=dtype), requires_grad) for p in params]
            given = list(tensors)
            what = _signature(class_name, (params,), kwargs)
            obj = _call_student(what, lambda: cls(given, **arguments), self._catch)
        handle = len(self._objects) + 1
        self._objects[handle] = obj
        self._params[handle] = tensors
        return handle

    def function_values(self, name: str, calls: list) -> list:
        """Call the graded function ``name`` once per ``(args, kwargs)`` in ``calls``; plain results."""
        function = self._resolve_function(name)
        results = []
        for args, kwargs in calls:
            arguments = [to_student(a) for a in args]
            keywords = {k: to_student(v) for k, v in dict(kwargs).items()}
            what = _signature(name, tuple(args), dict(kwargs))
            results.append(to_plain(_call_student(what, lambda: function(*arguments, **keywords), self._catch)))
        return results

    def build(self, name: str, args: list, kwargs: dict, closed_forms: list) -> int:
        """Call the graded function ``name`` and keep what it returns (e.g. a schedule) as an instance."""
        function = self._resolve_function(name)
        shown_args, shown_kwargs = list(args), dict(kwargs)
        for key, kind, _ in closed_forms:
            if type(key) is int and 0 <= key < len(shown_args):
                shown_args[key] = _Shown(f"<{kind} schedule>")
            elif type(key) is str:
                shown_kwargs[key] = _Shown(f"<{kind} schedule>")
        what = _signature(name, tuple(shown_args), shown_kwargs)
        arguments, keywords = _with_closed_forms([to_student(a) for a in args],
                                                 {k: to_student(v) for k, v in kwargs.items()}, closed_forms)
        obj = _call_student(what, lambda: function(*arguments, **keywords), self._catch)
        handle = len(self._objects) + 1
        self._objects[handle] = obj
        self._params[handle] = []
        return handle

    def call_each(self, handle: int, method: str, calls: list, attributes: list) -> list:
        """Call ``method`` once per ``(args, kwargs)`` in order; after each call read ``attributes``.

        Returns ``[[value, [attribute values]], ...]``. ``method="__call__"`` calls the object itself.
        """
        answers = []
        for args, kwargs in calls:
            value = self.call(handle, method, tuple(args), dict(kwargs))
            answers.append([value, [self.get_attr(handle, name) for name in attributes]])
        return answers

    def attempt(self, kind: str, name: str, params: list | None, dtype: str, args: list, kwargs: dict,
                exception: str, objects: list | None = None) -> dict:
        """Call the constructor (``kind="new"``: ``cls([tensors...], **kwargs)``, or ``cls(**kwargs)``
        without ``params``) or the graded function (``kind="function"``: ``function(*args, **kwargs)``, with
        built objects placed as in :meth:`call_with`) expecting it may raise; whatever it returns is dropped.

        Returns plain data: ``{"raised": bool, "matches": bool, "type": str, "message": str, "where": str}``,
        ``matches`` telling whether what was raised is the built-in exception ``exception`` or a subclass.
        The student's exception never leaves this method.
        """
        expected = getattr(builtins, str(exception), None)
        if not (isinstance(expected, type) and issubclass(expected, BaseException)):
            raise ValueError(f"unknown exception {str(exception)[:40]!r}")
        arguments = [to_student(a) for a in args]
        keywords = {key: to_student(value) for key, value in kwargs.items()}
        if kind == "new":
            target = self._resolve(name)
            if params is not None:
                tensors = [to_tensor(np.asarray(p, dtype=dtype), True) for p in params]
                arguments = [tensors] + arguments
                args = [list(params)] + list(args)
        elif kind == "function":
            target = self._resolve_function(name)
        else:
            raise ValueError(f"unknown kind {str(kind)[:40]!r}")
        def shown(value: Any) -> Any:
            if type(value) in (list, tuple) and len(value) > 6 and not isinstance(value[0], np.ndarray):
                return _Shown(f"<list of {len(value)} values>")
            return value

        shown_args, shown_kwargs = [shown(a) for a in args], {k: shown(v) for k, v in kwargs.items()}
        if objects:
            if kind != "function":
                raise ValueError("built objects go to a graded function only")
            self._place_objects(objects, arguments, keywords, shown_args, shown_kwargs)
        what = _signature(name, tuple(shown_args), shown_kwargs)
        try:
            _call_student(what, lambda: target(*arguments, **keywords), self._catch)
        except StudentCodeError as error:
            return {"raised": True, "matches": isinstance(error.original, expected), "type": error.type_name,
                    "message": error.text[:1000], "where": error.where[:500], "call": what[:500]}
        return {"raised": False, "matches": False, "type": "", "message": "", "where": "", "call": what[:500]}

    def make(self, kind: str, spec: dict) -> int:
        """Build a trusted object (:mod:`course_lib.checks.builders`) from a plain spec; its handle."""
        obj, tensors, modules = builders.build(kind, spec, self._object)
        handle = len(self._objects) + 1
        self._objects[handle] = obj
        self._params[handle] = tensors
        self._modules[handle] = modules
        return handle

    def call_with(self, name: str, args: list, kwargs: dict, objects: list) -> Any:
        """Call the graded function ``name`` with built objects (``[key, handle]``) in its arguments."""
        function = self._resolve_function(name)
        arguments, keywords = [to_student(a) for a in args], {k: to_student(v) for k, v in kwargs.items()}
        shown_args, shown_kwargs = list(args), dict(kwargs)
        self._place_objects(objects, arguments, keywords, shown_args, shown_kwargs)
        what = _signature(name, tuple(shown_args), shown_kwargs)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny models: one thread is the fastest, and no waiting on busy cores
        try:
            return to_plain(_call_student(what, lambda: function(*arguments, **keywords), self._catch))
        finally:
            torch.set_num_threads(threads)

    def _place_objects(self, objects: list, arguments: list, keywords: dict, shown_args: list,
                       shown_kwargs: dict) -> None:
        """Put each built object (``[key, handle]``: a position or a keyword) into the call's arguments."""
        for key, handle in objects:
            obj = self._object(handle)
            shown = _Shown(f"<{type(obj).__name__}>")
            if type(key) is int and 0 <= key < len(arguments):
                arguments[key], shown_args[key] = obj, shown
            elif type(key) is str:
                keywords[key], shown_kwargs[key] = obj, shown
            else:
                raise ValueError(f"bad object position {key!r}")

    def snapshot(self, handle: int) -> list:
        """A built object as plain data (:func:`course_lib.checks.builders.snapshot`)."""
        return builders.snapshot(self._object(handle), self._params[handle], self._modules.get(handle, []))

    def _object(self, handle: int) -> Any:
        if handle not in self._objects:
            raise KeyError(f"no object with handle {handle}")
        return self._objects[handle]

    def set_grads(self, handle: int, grads: list[np.ndarray | None]) -> None:
        self._object(handle)
        tensors = self._params[handle]
        if len(grads) != len(tensors):
            raise ValueError("one gradient (or None) per parameter is needed")
        for index, (tensor, grad) in enumerate(zip(tensors, grads)):
            value = None if grad is None else to_tensor(np.asarray(grad, dtype=np.float64))

            def assign(tensor: torch.Tensor = tensor, value: torch.Tensor | None = value) -> None:
                tensor.grad = None if value is None else value.to(tensor.dtype)

            _call_student(f"code changed parameter {index} (its dtype, shape or device) so that setting its "
                          f".grad failed; a step must keep each parameter's dtype and shape, and", assign, self._catch)

    def call(self, handle: int, method: str, args: tuple, kwargs: dict) -> Any:
        obj = self._object(handle)
        what = _signature(method, args, kwargs)
        arguments = [to_student(a) for a in args]
        keywords = {k: to_student(v) for k, v in kwargs.items()}
        bound = _call_student(f"{what} (looking up the method)", lambda: getattr(obj, method), self._catch)
        return to_plain(_call_student(what, lambda: bound(*arguments, **keywords), self._catch))

    def params(self, handle: int) -> list:
        self._object(handle)
        return [to_plain(t) for t in self._params[handle]]

    def grads(self, handle: int) -> list:
        self._object(handle)
        return [to_plain(t.grad) for t in self._params[handle]]

    def get_attr(self, handle: int, name: str) -> Any:
        obj = self._object(handle)
        return to_plain(_call_student(f"reading .{name}", lambda: getattr(obj, name), self._catch))

    def set_attr(self, handle: int, name: str, value: Any) -> None:
        obj = self._object(handle)
        _call_student(f"setting .{name}", lambda: setattr(obj, name, to_student(value)), self._catch)


class Subject:
    """The interface checks use (see the module docstring)."""

    class_name: str
    trace: Trace

    def new(self, params: list[np.ndarray] | None = None, *, dtype: str = "float64",
            requires_grad: bool = True, **kwargs: Any) -> int:
        """Create an instance: ``cls([tensors...], **kwargs)`` or ``cls(**kwargs)``."""
        raise NotImplementedError

    def set_grads(self, handle: int, grads: list[np.ndarray | None]) -> None:
        """Set ``.grad`` of each parameter (in the parameter's dtype; None clears)."""
        raise NotImplementedError

    def call(self, handle: int, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a method; arrays in the arguments arrive as tensors; returns plain data."""
        raise NotImplementedError

    def params(self, handle: int) -> list:
        """The parameter tensors given to the constructor, as float64 arrays."""
        raise NotImplementedError

    def grads(self, handle: int) -> list:
        """The parameters' ``.grad`` as float64 arrays (None where unset)."""
        raise NotImplementedError

    def get_attr(self, handle: int, name: str) -> Any:
        """An attribute of the instance, as plain data."""
        raise NotImplementedError

    def set_attr(self, handle: int, name: str, value: Any) -> None:
        """Set an attribute of the instance (arrays arrive as tensors)."""
        raise NotImplementedError

    def function_values(self, calls: list[tuple[tuple, dict]]) -> list:
        """Call the graded function once per ``(args, kwargs)``; its results as plain data."""
        raise NotImplementedError

    def function(self, *args: Any, **kwargs: Any) -> Any:
        """Call the graded function once."""
        return self.function_values([(args, kwargs)])[0]

    def build(self, *args: Any, closed_forms: list | None = None, **kwargs: Any) -> int:
        """Call the graded function and keep what it returns; ``closed_forms``: ``[(key, kind, numbers)]``
        puts trusted schedules (:data:`CLOSED_FORMS`) at positional index or keyword ``key``."""
        raise NotImplementedError

    def call_each(self, handle: int, method: str, calls: list[tuple[tuple, dict]],
                  attributes: tuple[str, ...] = ()) -> list:
        """Call a method once per ``(args, kwargs)``; ``[[value, [attributes after the call]], ...]``."""
        raise NotImplementedError

    def make(self, kind: str, **spec: Any) -> int:
        """Build a trusted object where the student's code runs (:data:`builders.BUILDERS`); its handle."""
        raise NotImplementedError

    def call_with(self, *args: Any, objects: list | None = None, **kwargs: Any) -> Any:
        """Call the graded function with built objects: ``objects=[(key, handle)]`` puts the object
        ``handle`` at positional index or keyword ``key``; returns plain data."""
        raise NotImplementedError

    def snapshot(self, handle: int) -> dict:
        """A built model or optimizer as plain data (:func:`builders.snapshot`), as a dict."""
        raise NotImplementedError

    def attempt(self, kind: str, *args: Any, params: list[np.ndarray] | None = None, dtype: str = "float64",
                exception: str = "ValueError", objects: list | None = None, **kwargs: Any) -> dict:
        """Call the constructor (``kind="new"``) or the graded function (``kind="function"``, built
        ``objects`` placed as in :meth:`call_with`) where an exception is a possible answer; what happened
        as plain data (see :meth:`Instances.attempt`)."""
        raise NotImplementedError

    def _attempted(self, outcome: dict) -> dict:
        if outcome["raised"] and outcome["type"] == "NotImplementedError":
            raise NotImplementedError(outcome["message"] or f"{self.class_name} is not implemented yet")
        return outcome

    def expect_error(self, kind: str, *args: Any, params: list[np.ndarray] | None = None, dtype: str = "float64",
                     exception: str = "ValueError", names: tuple[str, ...] = (), rule: str = "",
                     hint: str | None = None, objects: list | None = None, **kwargs: Any) -> None:
        """Fail unless the call raises ``exception`` (a subclass counts) whose message names every one of
        ``names``; ``rule`` says in words what the arguments break (e.g. ``"alpha must be in [0, 1)"``)."""
        outcome = self._attempted(self.attempt(kind, *args, params=params, dtype=dtype, exception=exception,
                                               objects=objects, **kwargs))
        call, rule_line = outcome["call"], [f"the rule: {rule}"] if rule else []
        hint = hint or (f"check the arguments before anything else and raise {exception} with a message that "
                        f"names the argument, its value and what is allowed, e.g. "
                        f"raise {exception}(f\"{(names or ('lr',))[0]} must be ..., got {{value}}\")")
        if not outcome["raised"]:
            self.trace.fail(f"{call} returned without raising {exception}", rule_line, hint)
        if not outcome["matches"]:
            details = [f"your code raised {outcome['type']}: {outcome['message']}"]
            details += [outcome["where"]] if outcome["where"] else []
            self.trace.fail(f"{call} raised {outcome['type']} instead of {exception}", details + rule_line, hint)
        missing = [name for name in names if name not in outcome["message"]]
        if missing:
            self.trace.fail(f"{call} raised {exception}, but its message does not name {' and '.join(missing)}",
                            [f"your message: {outcome['message']!r}"] + rule_line, hint)

    def expect_no_error(self, kind: str, *args: Any, params: list[np.ndarray] | None = None,
                        dtype: str = "float64", rule: str = "", hint: str | None = None, objects: list | None = None,
                        **kwargs: Any) -> None:
        """Fail if the call raises anything (an argument at the edge of what is allowed)."""
        outcome = self._attempted(self.attempt(kind, *args, params=params, dtype=dtype, objects=objects, **kwargs))
        if outcome["raised"]:
            details = [f"your code raised {outcome['type']}: {outcome['message']}"]
            details += [outcome["where"]] if outcome["where"] else []
            self.trace.fail(f"{outcome['call']} raised {outcome['type']}, but these arguments are allowed",
                            details + ([f"the rule: {rule}"] if rule else []),
                            hint or "refuse only what the task text says is not allowed")

    def student_failed(self, what: str, type_name: str, text: str, where: str) -> None:
        """Raise CheckFailed for an exception raised by student code."""
        details = [where] if where else []
        self.trace.fail(f"your {what} raised {type_name}: {text}", details)


class LocalSubject(Subject):
    """Runs the student's class in this process (the notebook's kernel)."""

    def __init__(self, cls: type, trace: Trace | None = None) -> None:
        self.cls = cls
        self.class_name = getattr(cls, "__name__", "the class")
        self.trace = trace or Trace("check")
        self._instances = Instances(lambda name: cls)

    def _run(self, function: Callable[[], Any]) -> Any:
        try:
            return function()
        except StudentCodeError as error:
            if isinstance(error.original, NotImplementedError):
                raise error.original
            self.student_failed(error.what, error.type_name, error.text, error.where)

    def new(self, params=None, *, dtype="float64", requires_grad=True, **kwargs):
        return self._run(lambda: self._instances.new(self.class_name, params, dtype, requires_grad, kwargs))

    def set_grads(self, handle, grads):
        self._run(lambda: self._instances.set_grads(handle, grads))

    def call(self, handle, method, *args, **kwargs):
        return self._run(lambda: self._instances.call(handle, method, args, kwargs))

    def params(self, handle):
        return self._instances.params(handle)

    def grads(self, handle):
        return self._instances.grads(handle)

    def get_attr(self, handle, name):
        return self._run(lambda: self._instances.get_attr(handle, name))

    def set_attr(self, handle, name, value):
        self._run(lambda: self._instances.set_attr(handle, name, value))

    def function_values(self, calls):
        return self._run(lambda: self._instances.function_values(self.class_name, calls))

    def build(self, *args, closed_forms=None, **kwargs):
        return self._run(lambda: self._instances.build(self.class_name, list(args), kwargs,
                                                       [list(c) for c in closed_forms or []]))

    def call_each(self, handle, method, calls, attributes=()):
        return self._run(lambda: self._instances.call_each(handle, method, calls, list(attributes)))

    def make(self, kind, **spec):
        return self._instances.make(kind, spec)

    def attempt(self, kind, *args, params=None, dtype="float64", exception="ValueError", objects=None, **kwargs):
        return self._instances.attempt(kind, self.class_name, None if params is None else list(params), dtype,
                                       list(args), kwargs, exception, [list(o) for o in objects or []])

    def call_with(self, *args, objects=None, **kwargs):
        return self._run(lambda: self._instances.call_with(self.class_name, list(args), kwargs,
                                                           [list(o) for o in objects or []]))

    def snapshot(self, handle):
        return dict(self._instances.snapshot(handle))
