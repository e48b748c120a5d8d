"""The JSON-lines protocol between the judge and its worker.

Each message is one line of JSON. Values travel as tagged plain data, never
pickles:

- ``{"t": "none"}``, ``{"t": "bool", "v": true}``, ``{"t": "int", "v": 3}``,
  ``{"t": "str", "v": "..."}``
- ``{"t": "float", "v": "0x1.999999999999ap-4"}`` (``float.hex``: exact, and
  NaN/inf need no special JSON tokens)
- ``{"t": "array", "dtype": "float64", "shape": [3, 2], "b64": "..."}``
- ``{"t": "list", "v": [...]}``, ``{"t": "tuple", "v": [...]}``
- ``{"t": "dict", "v": [["key", {...}], ...]}`` (``str`` keys)
- ``{"t": "opaque", "type": "MyFloat"}`` (a value the grader does not read)

:func:`decode` validates everything it reads (allowed dtypes, shape against
byte count, sizes, nesting depth) and raises :class:`ProtocolError` on
anything unexpected, so a malformed or hostile line can only fail a check.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import numpy as np

from course_lib.checks.plain import Opaque

MAX_LINE_BYTES = 4 * 1024 * 1024
MAX_ARRAY_ITEMS = 1_000_000
MAX_DEPTH = 8
MAX_STRING = 20_000
_DTYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64, "bool": np.bool_}
_INT_LIMIT = 2**63


class ProtocolError(Exception):
    """A message from the other side could not be understood."""


def encode(value: Any, _depth: int = 0) -> dict:
    """Encode plain data (see :mod:`course_lib.checks.plain`) as tagged JSON."""
    if _depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if value is None:
        return {"t": "none"}
    kind = type(value)
    if kind is bool:
        return {"t": "bool", "v": value}
    if kind is int:
        return {"t": "int", "v": value} if -_INT_LIMIT < value < _INT_LIMIT else {"t": "float", "v": float(value).hex()}
    if kind is float:
        return {"t": "float", "v": value.hex()}
    if kind is str:
        return {"t": "str", "v": value[:MAX_STRING]}
    if kind is np.ndarray:
        name = str(value.dtype)
        if name not in _DTYPES:
            raise ProtocolError(f"cannot send arrays of dtype {name}")
        data = np.ascontiguousarray(value).tobytes()
        return {"t": "array", "dtype": name, "shape": list(value.shape),
                "b64": base64.b64encode(data).decode("ascii")}
    if kind is list or kind is tuple:
        return {"t": kind.__name__, "v": [encode(item, _depth + 1) for item in value]}
    if kind is dict:
        if any(type(key) is not str for key in value):
            raise ProtocolError("cannot send a dict whose keys are not str")
        return {"t": "dict", "v": [[key[:MAX_STRING], encode(item, _depth + 1)] for key, item in value.items()]}
    if kind is Opaque:
        return {"t": "opaque", "type": value.type_name[:200]}
    raise ProtocolError(f"cannot encode a value of type {kind.__name__}")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise ProtocolError(what)


def decode(obj: Any, _depth: int = 0) -> Any:
    """Decode and validate a tagged value produced by :func:`encode`."""
    _expect(_depth <= MAX_DEPTH, "value nested too deeply")
    _expect(type(obj) is dict and type(obj.get("t")) is str, "value without a type tag")
    tag = obj["t"]
    if tag == "none":
        return None
    if tag == "bool":
        _expect(type(obj.get("v")) is bool, "bad bool")
        return obj["v"]
    if tag == "int":
        _expect(type(obj.get("v")) is int and -_INT_LIMIT < obj["v"] < _INT_LIMIT, "bad int")
        return obj["v"]
    if tag == "float":
        text = obj.get("v")
        _expect(type(text) is str and len(text) < 40, "bad float")
        try:
            return float.fromhex(text)
        except ValueError as error:
            raise ProtocolError("bad float") from error
    if tag == "str":
        _expect(type(obj.get("v")) is str and len(obj["v"]) <= MAX_STRING, "bad str")
        return obj["v"]
    if tag == "array":
        return _decode_array(obj)
    if tag in ("list", "tuple"):
        items = obj.get("v")
        _expect(type(items) is list and len(items) <= 100_000, "bad list")
        decoded = [decode(item, _depth + 1) for item in items]
        return decoded if tag == "list" else tuple(decoded)
    if tag == "dict":
        items = obj.get("v")
        _expect(type(items) is list and len(items) <= 100_000, "bad dict")
        decoded_dict = {}
        for pair in items:
            _expect(type(pair) is list and len(pair) == 2 and type(pair[0]) is str
                    and len(pair[0]) <= MAX_STRING, "bad dict item")
            decoded_dict[pair[0]] = decode(pair[1], _depth + 1)
        return decoded_dict
    if tag == "opaque":
        _expect(type(obj.get("type")) is str, "bad opaque")
        return Opaque(obj["type"][:200])
    raise ProtocolError(f"unknown value tag {tag[:40]!r}")


def _decode_array(obj: dict) -> np.ndarray:
    dtype_name, shape, b64 = obj.get("dtype"), obj.get("shape"), obj.get("b64")
    _expect(type(dtype_name) is str and dtype_name in _DTYPES, "bad array dtype")
    _expect(type(shape) is list and len(shape) <= 8, "bad array shape")
    _expect(all(type(n) is int and 0 <= n <= MAX_ARRAY_ITEMS for n in shape), "bad array shape")
    count = math.prod(shape)
    _expect(count <= MAX_ARRAY_ITEMS, "array too large")
    _expect(type(b64) is str, "bad array data")
    try:
        data = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ProtocolError("bad array data") from error
    dtype = np.dtype(_DTYPES[dtype_name])
    _expect(len(data) == count * dtype.itemsize, "array data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"unexpected JSON constant {name}")


def dumps(message: dict) -> bytes:
    """One protocol line (JSON, newline-terminated)."""
    return (json.dumps(message, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")


def loads(line: bytes) -> dict:
    """Parse one protocol line into a dict, or raise :class:`ProtocolError`."""
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError("line too long")
    try:
        message = json.loads(line.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as error:
        raise ProtocolError(f"malformed line ({type(error).__name__})") from error
    if type(message) is not dict:
        raise ProtocolError("a message must be a JSON object")
    return message


class WorkerStopped(Exception):
    """The worker died, answered nonsense or did not answer in time."""
