"""Turning whatever a student's method returns into plain, trusted data.

Every value that a check compares comes through :func:`to_plain`, which only
understands exact built-in types: ``None``, ``bool``, ``int``, ``float``,
``str``, numpy scalars, ``numpy.ndarray`` (numeric dtypes), ``torch.Tensor`` /
``torch.nn.Parameter``, lists or tuples of those, and dicts with ``str`` keys
(a training history, a parameter group). Tensors and arrays become
fresh ``float64`` arrays, numbers become Python ``float``/``int`` rebuilt from
their bytes, and anything else becomes an :class:`Opaque` marker naming its
type. A subclass (a ``float`` whose ``==`` is always true, a tensor subclass
with its own ``__torch_function__``) is never trusted.

The functions used for the conversion are captured when this module is
imported, before any student code runs in the process, so later patching of
``torch.Tensor.numpy`` or ``numpy.array`` does not change what a check sees.
"""

from __future__ import annotations

import builtins
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_type = builtins.type
_len = builtins.len
_dict_items = dict.items
_float_hex = float.hex
_pack = struct.pack
_unpack = struct.unpack
_np_array = np.array
_np_float64 = np.float64
_detach = torch.Tensor.detach
_cpu = torch.Tensor.cpu
_numpy = torch.Tensor.numpy
_torch_tensor = torch.tensor
_torch_from_numpy = torch.from_numpy

_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
_NUMPY_FLOATS = (np.float16, np.float32, np.float64)
_NUMPY_INTS = (
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
)
_ARRAY_KINDS = ("b", "i", "u", "f")
_MAX_DEPTH = 6
_MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Opaque:
    """Stands for a value of a type the grader does not read (named in messages)."""

    type_name: str


def _exact_float(x: Any) -> float:
    """The float with the same 8 bytes as ``x`` (a float or numpy float)."""
    return _unpack("d", _pack("d", x))[0]


def _tensor_to_array(value: Any) -> np.ndarray | Opaque:
    try:
        raw = _numpy(_cpu(_detach(value)))
    except Exception:  # complex, sparse, meta tensors ...
        return Opaque(f"tensor of dtype {value.dtype}")
    if raw.dtype.kind not in _ARRAY_KINDS:
        return Opaque(f"tensor of dtype {value.dtype}")
    return _np_array(raw, dtype=_np_float64, copy=True)


def to_plain(value: Any, _depth: int = 0) -> Any:
    """Convert a student's value into plain data (see the module docstring).

    Args:
        value: anything a student's method returned or stored.

    Returns:
        ``None``, ``bool``, ``int``, ``float``, ``str``, a ``float64``
        ``numpy.ndarray`` (0-d for a 0-d tensor), a list of those, or
        :class:`Opaque` for anything else.
    """
    kind = _type(value)
    if value is None:
        return None
    if kind is bool or kind is np.bool_:
        return True if value else False
    if kind is int:
        return int.__index__(value)
    if kind is float or kind in _NUMPY_FLOATS:
        return _exact_float(value)
    if kind in _NUMPY_INTS:
        return int.__index__(int(value))
    if kind is str:
        return str.__str__(value)
    if kind in _TENSOR_TYPES:
        return _tensor_to_array(value)
    if kind is np.ndarray:
        if value.dtype.kind not in _ARRAY_KINDS:
            return Opaque(f"numpy array of dtype {value.dtype}")
        return _np_array(value, dtype=_np_float64, copy=True)
    if kind is list or kind is tuple:
        if _depth >= _MAX_DEPTH or _len(value) > _MAX_ITEMS:
            return Opaque(kind.__name__ + " (too deep or too long)")
        return [to_plain(item, _depth + 1) for item in value]
    if kind is dict:
        items = [pair for pair in _dict_items(value)]
        if _depth >= _MAX_DEPTH or _len(items) > _MAX_ITEMS or any(_type(key) is not str for key, _ in items):
            return Opaque("dict (too deep, too long, or with keys that are not str)")
        return {str.__str__(key): to_plain(item, _depth + 1) for key, item in items}
    return Opaque(kind.__qualname__)


def to_tensor(array: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A fresh torch tensor with the dtype and values of ``array`` (a leaf)."""
    tensor = _torch_from_numpy(_np_array(array, copy=True))
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def to_student(value: Any) -> Any:
    """Turn a check's argument into what the student's method receives.

    Arrays become torch tensors of the same dtype, lists and tuples are
    converted item by item (a list of arrays becomes a list of tensors) and
    everything else (numbers, strings, ``None``) is passed as is.
    """
    kind = _type(value)
    if kind is np.ndarray:
        return to_tensor(value)
    if kind is list:
        return [to_student(item) for item in value]
    if kind is tuple:
        return tuple(to_student(item) for item in value)
    return value


def describe_type(value: Any) -> str:
    """A short name for the type of a plain value, for messages."""
    if isinstance(value, Opaque):
        return value.type_name
    if isinstance(value, np.ndarray):
        return f"array of shape {tuple(value.shape)}"
    return _type(value).__name__
