"""The judge's subject: every request of a check goes to the worker that ran the student's cells.

The trusted side of the judge runs the checks of :mod:`course_lib.checks` with a
:class:`RemoteSubject`; the worker (:mod:`course_grader.judge.worker`) answers with plain data
(:mod:`course_grader.judge.protocol`), so student code never runs in the process that compares.
"""

from __future__ import annotations

from typing import Any

from course_grader.judge import protocol
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import Subject


class RemoteSubject(Subject):
    """Sends the requests to a worker process (see :mod:`course_grader.judge.trusted`).

    Args:
        worker_connection: an object with ``request(message: dict) -> dict``
            returning the worker's validated answer (``{"ok": True, ...}`` or
            ``{"ok": False, "error": {...}}``) and raising
            :class:`~course_grader.judge.protocol.WorkerStopped` when the
            worker dies or stalls.
        class_name: the name of the student's class in the worker.
    """

    def __init__(self, worker_connection: Any, class_name: str, trace: Trace | None = None) -> None:
        self.connection = worker_connection
        self.class_name = class_name
        self.trace = trace or Trace("check")

    def _ask(self, op: str, **fields: Any) -> Any:
        message = {"op": op}
        message.update(fields)
        answer = self.connection.request(message)
        refused = answer.get("refused")
        if refused:
            names = [str(what)[:200] for what in refused] if type(refused) is list else ["?"]
            self.trace.fail(f"your code ran {' and '.join(dict.fromkeys(names[:5]))}: someone else's "
                            "implementation of this exercise, which earns no points",
                            hint="implement the update yourself with tensor operations; torch's "
                                 "optimizers, schedulers and clipping functions are not available "
                                 "while your work is graded")
        if answer.get("ok") is True:
            try:
                return protocol.decode(answer.get("value", {"t": "none"}))
            except protocol.ProtocolError as error:
                raise protocol.WorkerStopped(f"unreadable answer: {error}") from None
        error = answer.get("error")
        if type(error) is not dict:
            raise protocol.WorkerStopped("unreadable error report")
        text = lambda key, limit: str(error.get(key, ""))[:limit]  # noqa: E731
        kind = text("kind", 40)
        if kind == "student":
            if text("type", 100) == "NotImplementedError":
                raise NotImplementedError(text("message", 2000) or f"your {text('what', 300)} is not implemented yet")
            self.student_failed(text("what", 300), text("type", 100), text("message", 2000), text("where", 500))
        if kind == "missing":
            self.trace.fail(text("message", 1000),
                            hint=f"define {self.class_name} (the class or function the exercise names) in a "
                                 "solution cell, and make "
                                 "sure every solution cell runs without errors")
        raise protocol.WorkerStopped(f"the worker could not do {op}: {text('message', 500)}")

    def new(self, params=None, *, dtype="float64", requires_grad=True, **kwargs):
        return self._ask("new", **{"class": self.class_name, "dtype": dtype,
                                   "requires_grad": bool(requires_grad),
                                   "params": protocol.encode(params if params is None else list(params)),
                                   "kwargs": protocol.encode(list(kwargs.items()))})

    def set_grads(self, handle, grads):
        self._ask("set_grads", handle=handle, grads=protocol.encode(list(grads)))

    def call(self, handle, method, *args, **kwargs):
        return self._ask("call", handle=handle, method=method, args=protocol.encode(list(args)),
                         kwargs=protocol.encode(list(kwargs.items())))

    def params(self, handle):
        return self._ask("params", handle=handle)

    def grads(self, handle):
        return self._ask("grads", handle=handle)

    def get_attr(self, handle, name):
        return self._ask("get_attr", handle=handle, name=name)

    def set_attr(self, handle, name, value):
        self._ask("set_attr", handle=handle, name=name, value=protocol.encode(value))

    def function_values(self, calls):
        return self._ask("function_values", name=self.class_name,
                         calls=protocol.encode([[list(a), list(k.items())] for a, k in calls]))

    def build(self, *args, closed_forms=None, **kwargs):
        return self._ask("build", name=self.class_name, args=protocol.encode(list(args)),
                         kwargs=protocol.encode(list(kwargs.items())),
                         closed_forms=protocol.encode([list(c) for c in closed_forms or []]))

    def call_each(self, handle, method, calls, attributes=()):
        return self._ask("call_each", handle=handle, method=method,
                         calls=protocol.encode([[list(a), list(k.items())] for a, k in calls]),
                         attributes=protocol.encode(list(attributes)))

    def attempt(self, kind, *args, params=None, dtype="float64", exception="ValueError", objects=None, **kwargs):
        outcome = self._ask("attempt", kind=str(kind), name=self.class_name, dtype=dtype,
                            params=protocol.encode(params if params is None else list(params)),
                            args=protocol.encode(list(args)), kwargs=protocol.encode(list(kwargs.items())),
                            exception=str(exception), objects=protocol.encode([list(o) for o in objects or []]))
        if type(outcome) is not dict or type(outcome.get("raised")) is not bool:
            raise protocol.WorkerStopped("unreadable answer to attempt")
        return {"raised": outcome["raised"], "matches": outcome.get("matches") is True,
                **{key: str(outcome.get(key, ""))[:1000] for key in ("type", "message", "where", "call")}}

    def make(self, kind, **spec):
        return self._ask("make", kind=kind, spec=protocol.encode(list(spec.items())))

    def call_with(self, *args, objects=None, **kwargs):
        return self._ask("call_with", name=self.class_name, args=protocol.encode(list(args)),
                         kwargs=protocol.encode(list(kwargs.items())),
                         objects=protocol.encode([list(o) for o in objects or []]))

    def snapshot(self, handle):
        return dict(self._ask("snapshot", handle=handle))
