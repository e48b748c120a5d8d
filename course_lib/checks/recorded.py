"""Expected values recorded for the public inputs: how a student build checks without oracles.

A check compares a student's answers with an oracle (``torch.optim``, a scheduler, a closed
form). Every oracle of a chapter's checks is marked :func:`oracle`. The oracle's inputs
come from :func:`~course_lib.checks.chapters._spec.rng_for` alone, never from the student's
answers, so for the public inputs a check asks its oracles the same questions, in the same
order, every run.

The student build (``python -m course_lib.student_build``) uses that: it runs every check on
the reference implementation while :func:`recording`, which writes down each oracle call of
the check (which oracle, a fingerprint of its arguments, what it returned), stores the
recording as data (:data:`DATA_FILE`) and replaces every marked oracle by
:func:`replayed_function` or :func:`replayed_class`, which answer the same calls from the
recording. The check's own code (its inputs, its comparisons, its messages and hints) stays,
so a student sees the same verdicts and the same teaching messages; the oracles are gone.
A call the recording does not hold (other inputs than the public ones) raises
:class:`NotRecorded`: the secret inputs are graded by the full library only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

#: the recording in a student build, next to this module
DATA_FILE = "expected_public.json"


class NotRecorded(RuntimeError):
    """A check asked a replayed oracle a question the build did not record."""


class _State:
    check_id: str | None = None
    events: list | None = None  # while recording: the calls of the current check
    depth = 0  # oracle calls inside an oracle call are not recorded on their own
    cursor = 0  # while replaying: the next recorded call of the current check


_state = _State()


# --- plain encoding of what an oracle takes and returns -------------------------------------

def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (arrays, tensors, tuples and dicts tagged)."""
    if value is None or isinstance(value, (bool, int, float, str)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, np.ndarray):
        return {"ndarray": str(value.dtype), "shape": list(value.shape), "data": value.ravel().tolist()}
    if isinstance(value, np.generic):
        return {"scalar": str(value.dtype), "data": value.item()}
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().numpy()
        return {"tensor": str(array.dtype), "shape": list(array.shape), "data": array.ravel().tolist()}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"an oracle returned a {type(value).__name__}, which cannot be recorded as data")


def decode(data: Any) -> Any:
    """The value :func:`encode` wrote."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "ndarray" in data:
        return np.array(data["data"], dtype=data["ndarray"]).reshape(data["shape"])
    if "scalar" in data:
        return np.dtype(data["scalar"]).type(data["data"])
    if "tensor" in data:
        return torch.from_numpy(np.array(data["data"], dtype=data["tensor"]).reshape(data["shape"]))
    if "tuple" in data:
        return tuple(decode(v) for v in data["tuple"])
    return {decode(k): decode(v) for k, v in data["dict"]}


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(value)
        return ["array", str(array.dtype), list(array.shape), hashlib.sha256(array.tobytes()).hexdigest()]
    if isinstance(value, torch.Tensor):
        return ["tensor", _canonical(value.detach().cpu().numpy())]
    if isinstance(value, torch.nn.Module):
        return ["module", type(value).__name__, [_canonical(t) for t in value.state_dict().values()]]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [_canonical(v) for v in value]]
    if isinstance(value, dict):
        return ["dict", [[_canonical(k), _canonical(v)] for k, v in value.items()]]
    if callable(value):
        return "<function>"
    return ["object", type(value).__name__]


def fingerprint(args: tuple, kwargs: dict) -> str:
    """A short digest of an oracle call's arguments (functions count as one token)."""
    text = json.dumps([_canonical(list(args)), _canonical(dict(sorted(kwargs.items())))])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- the marker on every oracle, and recording ------------------------------------------------

def _recorded_call(name: str, function: Callable, args: tuple, kwargs: dict) -> Any:
    if _state.events is None or _state.depth:
        return function(*args, **kwargs)
    key = fingerprint(args, kwargs)
    _state.depth += 1
    try:
        result = function(*args, **kwargs)
    finally:
        _state.depth -= 1
    _state.events.append([name, key, encode(result)])
    return result


def _wrap_method(class_name: str, method_name: str, method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        result = _recorded_call(f"{type(self).__name__}.{method_name}",
                                lambda *a, **k: method(self, *a, **k), args, kwargs)
        return None if method_name == "__init__" else result
    return wrapper


def oracle(obj: Any) -> Any:
    """Mark a function or class that computes a check's expected values (trusted code only).

    Unchanged in the full library, except that its calls are written down while
    :func:`recording`; the student build replaces it by a replayed one.
    """
    if inspect.isclass(obj):
        for name, member in list(vars(obj).items()):
            if inspect.isfunction(member) and (name == "__init__" or not name.startswith("_")):
                setattr(obj, name, _wrap_method(obj.__name__, name, member))
        return obj

    @functools.wraps(obj)
    def wrapper(*args, **kwargs):
        return _recorded_call(obj.__name__, obj, args, kwargs)
    return wrapper


@contextlib.contextmanager
def recording(check_id: str) -> Iterator[list]:
    """Write down every oracle call while the block runs one check; yields the list of calls."""
    if _state.events is not None:
        raise RuntimeError("recording already in progress")
    _state.check_id, _state.events, _state.depth = check_id, [], 0
    try:
        yield _state.events
    finally:
        _state.check_id, _state.events, _state.depth = None, None, 0


# --- replaying, in a student build ------------------------------------------------------------

@contextlib.contextmanager
def playing(check_id: str) -> Iterator[None]:
    """Run one check: a replayed oracle answers from this check's recording, from its start."""
    previous = _state.check_id, _state.cursor
    if _state.events is None:
        _state.check_id, _state.cursor = check_id, 0
    try:
        yield
    finally:
        if _state.events is None:
            _state.check_id, _state.cursor = previous


@functools.lru_cache(maxsize=1)
def _recording() -> dict:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), DATA_FILE)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _answer(name: str, args: tuple, kwargs: dict) -> Any:
    check_id = _state.check_id
    events = _recording().get(check_id or "", [])
    if _state.cursor >= len(events):
        raise NotRecorded(f"{check_id}: {name} was called more often than on the public inputs, "
                          f"where this build recorded its expected values")
    recorded_name, key, result = events[_state.cursor]
    if recorded_name != name or key != fingerprint(args, kwargs):
        raise NotRecorded(f"{check_id}: {name} was asked about other inputs than the public ones, the only "
                          f"inputs whose expected values this build holds")
    _state.cursor += 1
    return decode(result)


def FUNCTION(*args: Any, **kwargs: Any) -> Any:
    """What the build puts where a check handed an oracle a function: the recording answers instead."""
    raise NotRecorded("a replayed oracle's function argument was called")


def replayed_function(name: str) -> Callable:
    """The oracle function ``name``, answering from the recording."""
    def replay(*args, **kwargs):
        return _answer(name, args, kwargs)
    replay.__name__ = replay.__qualname__ = name
    return replay


def replayed_class(name: str, attributes: dict | None = None) -> type:
    """The oracle class ``name`` (with its plain class ``attributes``), answering from the recording."""
    def __init__(self, *args, **kwargs):
        _answer(f"{name}.__init__", args, kwargs)

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: _answer(f"{name}.{method}", args, kwargs)

    return type(name, (), {**(attributes or {}), "__init__": __init__, "__getattr__": __getattr__})
