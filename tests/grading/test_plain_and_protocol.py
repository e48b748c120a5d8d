"""Conversion of student values to plain data, and the judge-worker wire format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from course_grader.judge import protocol
from course_lib.checks.plain import Opaque, to_plain


class AlwaysEqual(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class SneakyTensor(torch.Tensor):
    pass


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (True, True), (3, 3), (2.5, 2.5), (np.float32(0.5), 0.5), (np.float64(-1.25), -1.25),
    (np.int64(7), 7), ("text", "text"),
])
def test_plain_scalars(value, expected) -> None:
    plain = to_plain(value)
    assert plain == expected and type(plain) is type(expected)


def test_tensors_and_arrays_become_float64_copies() -> None:
    tensor = torch.tensor([1.5, -2.0], dtype=torch.float32, requires_grad=True)
    plain = to_plain(tensor)
    assert plain.dtype == np.float64 and plain.tolist() == [1.5, -2.0]
    zero_d = to_plain(torch.tensor(3.0))
    assert zero_d.shape == () and float(zero_d) == 3.0
    array = np.array([1, 2])
    converted = to_plain(array)
    converted[0] = 99
    assert array[0] == 1
    assert to_plain([tensor, (1, None)])[1] == [1, None]


class SneakyDict(dict):
    pass


@pytest.mark.parametrize("value", [AlwaysEqual(1.0), SneakyTensor(torch.zeros(2)), object(), {1: "a"},
                                   SneakyDict(a=1), np.array(["a"]), torch.zeros(2, dtype=torch.complex64)])
def test_untrusted_types_become_opaque(value) -> None:
    assert isinstance(to_plain(value), Opaque)


def test_dicts_with_str_keys_become_plain_dicts_and_travel() -> None:
    history = {"lr": [0.1, 0.2], "best_epoch": 3, "params": [torch.ones(2)]}
    plain = to_plain(history)
    assert type(plain) is dict and plain["lr"] == [0.1, 0.2] and plain["best_epoch"] == 3
    assert plain["params"][0].tolist() == [1.0, 1.0]
    assert protocol.decode(protocol.encode(plain))["lr"] == [0.1, 0.2]
    with pytest.raises(protocol.ProtocolError):
        protocol.decode({"t": "dict", "v": [[1, {"t": "none"}]]})


def test_conversion_ignores_later_patching(monkeypatch) -> None:
    monkeypatch.setattr(torch.Tensor, "numpy", lambda self: np.zeros(1))
    monkeypatch.setattr(np, "array", lambda *a, **k: np.zeros(1))
    assert to_plain(torch.tensor([4.0, 5.0])).tolist() == [4.0, 5.0]


@pytest.mark.parametrize("value", [
    None, True, -3, 0.1, float("nan"), float("inf"), "s", [1, [2.5, None]], (1, 2),
    np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros((0, 2)), np.array(True), Opaque("Thing"),
])
def test_round_trip(value) -> None:
    line = protocol.dumps({"value": protocol.encode(value)})
    decoded = protocol.decode(protocol.loads(line)["value"])
    if isinstance(value, np.ndarray):
        assert decoded.dtype == value.dtype and np.array_equal(decoded, value)
    elif isinstance(value, float) and value != value:
        assert decoded != decoded
    else:
        assert decoded == value


@pytest.mark.parametrize("payload", [
    b"not json\n", b"[1, 2]\n", b'{"value": NaN}\n', b"\xff\xfe\n", b"{" * 100000 + b"\n",
])
def test_malformed_lines_are_rejected(payload) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.loads(payload)


@pytest.mark.parametrize("obj", [
    {"t": "array", "dtype": "object", "shape": [1], "b64": ""},
    {"t": "array", "dtype": "float64", "shape": [3], "b64": "AAAA"},
    {"t": "array", "dtype": "float64", "shape": [10**9], "b64": ""},
    {"t": "array", "dtype": "float64", "shape": [-1], "b64": ""},
    {"t": "float", "v": 1.0}, {"t": "pickle", "v": "gASV"}, {"t": "int", "v": 2**80}, "text",
    {"t": "list", "v": [{"t": "list", "v": []}] * 2} | {"v": json.loads("[" * 30 + "]" * 30)},
])
def test_invalid_values_are_rejected(obj) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(obj)
