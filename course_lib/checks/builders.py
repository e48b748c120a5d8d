r"""Trusted builders: the torch objects a graded function takes, made from plain specs.

A graded function that takes a model, a loss function, batches or an optimizer cannot
receive them across the judge's protocol, which carries plain data only. A check
describes each object as a *spec* (plain numbers, strings and arrays) and the subject
builds it where the student's code runs, with the code below (never the student's), keeps
it under a handle, passes it to the graded function by handle, and reads it back with
:func:`snapshot`. The same mechanism as :data:`course_lib.checks.subjects.CLOSED_FORMS`,
for objects instead of schedules.

Kinds (:data:`BUILDERS`) and their spec keys:

- ``"mlp"``: ``sizes=[d_0, ..., d_L]`` (``Linear(d_0, d_1)``, then for every hidden layer
  ``[BatchNorm1d] -> ReLU -> [Dropout]``, ending with ``Linear(d_{L-1}, d_L)``), ``dtype``,
  ``batch_norm`` (bool), ``dropout`` (probability, 0 for none), ``weights`` (one array per
  entry of ``model.parameters()``, in that order), ``buffers`` (optional, one per entry of
  ``model.buffers()``) and ``train`` (the mode the model is in when handed over).
- ``"convnet"``: ``in_channels``, ``channels=[c_1, ..., c_K]`` (for each ``Conv2d(c_{k-1}, c_k,
  kernel_size, padding=kernel_size // 2)``, then ``[BatchNorm2d] -> ReLU``), ``kernel_size``,
  ``image_size`` (square inputs), ``classes`` (a ``Flatten -> Linear`` head), ``dtype``,
  ``batch_norm``, ``weights``, ``buffers`` and ``train`` as for ``"mlp"``; so that a
  parameter has four dimensions (filters of several dimensions).
- ``"loss"``: ``name`` = ``"mse"`` (``nn.MSELoss()``) or ``"cross_entropy"`` (``nn.CrossEntropyLoss()``);
  ``record_graphs`` (optional, bool): the loss also counts the calls whose outputs carry an
  autograd graph (read back by :func:`snapshot` as ``graphs``), so that a check can tell
  whether a function evaluated without building graphs. The count is kept in a
  :class:`GraphRecord` that :func:`build` hands to the subject, not on the loss the graded
  function receives (which could reset it).
- ``"batches"``: ``inputs`` and ``targets`` (lists of arrays of equal length; targets of
  dtype int64 stay integer class labels): a list of ``(inputs, targets)`` tensor pairs.
- ``"optimizer"``: ``name`` = ``"sgd"``, ``"adam"`` or ``"adamw"``, ``model`` (the handle of a built model),
  ``groups`` (optional: lists of parameter indices, one per param group, default one group),
  ``lrs`` (one per group), the optimizer's keyword hyperparameters (``momentum``, ``nesterov``,
  ``dampening``, ``betas``, ``eps``, ``weight_decay``, ``amsgrad``) and ``state`` (optional:
  ``[[parameter index, [[key, value], ...]], ...]``, e.g. a momentum buffer or Adam's
  ``step``, ``exp_avg``, ``exp_avg_sq``) so that a check can hand over an optimizer in mid-run.
- ``"generator"``: ``seed``: a ``torch.Generator`` seeded with it.
- ``"net"``: a model whose top-level children are listed in ``children``, each
  ``["linear", d_in, d_out]``, ``["linear_nobias", d_in, d_out]``, ``["layer_norm", d]``,
  ``["batch_norm", d]``, ``["relu"]`` or ``["tanh"]`` (applied in order); ``shared``
  (optional: ``[[i, j], ...]``, child ``j``'s weight *is* child ``i``'s), ``direct`` (optional:
  shapes of parameters registered on the model itself, ``direct_0``, ..., unused by the
  forward pass), ``frozen`` (optional: indices into ``model.parameters()`` that get
  ``requires_grad=False``), ``dtype``, ``weights`` (one array per entry of
  ``model.parameters()``, in that order, shared ones once; :func:`net_shapes`) and ``train``.
- ``"dataset"``: ``inputs`` and ``targets`` (two arrays): an ``(inputs, targets)`` tensor pair.
- ``"tensors"``: ``values`` and ``grads`` (lists of arrays, a grad may be None), ``dtype``,
  ``single`` (optional: hand over the one tensor itself, not a list): leaf tensors with those
  ``.grad``; their values and gradients read back like a model's.

:func:`snapshot` reads a built model or optimizer as plain data: for a model the tensors
it was built with (parameters and buffers, read through the references kept at build time,
so a function that rebinds them instead of restoring them in place shows up) and each
module's training flag; for an optimizer every group's hyperparameters and the state of
every parameter. Two snapshots compared entry by entry with ``==`` tell whether a function
left the objects exactly as it found them (float32 values convert to float64 exactly).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from course_lib.checks.plain import to_plain, to_tensor

# captured before any student code runs in the process
_SGD = torch.optim.SGD
_ADAM = torch.optim.Adam
_ADAMW = torch.optim.AdamW
_MODULE_DICT = object.__getattribute__
_GRAD_ENABLED = torch.is_grad_enabled

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_OPTIMIZERS = {"sgd": _SGD, "adam": _ADAM, "adamw": _ADAMW}
_HYPERPARAMETERS = ("momentum", "nesterov", "dampening", "betas", "eps", "weight_decay", "amsgrad")


def _dtype(spec: dict) -> torch.dtype:
    name = spec.get("dtype", "float64")
    if name not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {name!r}")
    return _DTYPES[name]


def mlp_shapes(sizes: list[int], batch_norm: bool = False) -> tuple[list[tuple], list[tuple]]:
    """The shapes of ``model.parameters()`` and ``model.buffers()`` of the ``"mlp"`` with these sizes."""
    parameters: list[tuple] = []
    buffers: list[tuple] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        parameters += [(fan_out, fan_in), (fan_out,)]
        if batch_norm and index < len(sizes) - 2:
            parameters += [(fan_out,), (fan_out,)]
            buffers += [(fan_out,), (fan_out,), ()]
    return parameters, buffers


def build_mlp(spec: dict) -> nn.Sequential:
    """A multilayer perceptron with exactly the given weights (see the module docstring)."""
    sizes = [int(n) for n in spec["sizes"]]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive widths, got {sizes!r}")
    dtype, dropout = _dtype(spec), float(spec.get("dropout", 0.0))
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out, dtype=dtype))
        if index < len(sizes) - 2:
            if spec.get("batch_norm", False):
                layers.append(nn.BatchNorm1d(fan_out, dtype=dtype))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    model = nn.Sequential(*layers)
    _load(model, spec)
    return model


def convnet_shapes(spec: dict) -> tuple[list[tuple], list[tuple]]:
    """The shapes of ``model.parameters()`` and ``model.buffers()`` of the ``"convnet"`` of ``spec``."""
    parameters: list[tuple] = []
    buffers: list[tuple] = []
    fan_in, size = int(spec["in_channels"]), int(spec["kernel_size"])
    for width in [int(c) for c in spec["channels"]]:
        parameters += [(width, fan_in, size, size), (width,)]
        if spec.get("batch_norm", False):
            parameters += [(width,), (width,)]
            buffers += [(width,), (width,), ()]
        fan_in = width
    side = int(spec["image_size"])
    parameters += [(int(spec["classes"]), fan_in * side * side), (int(spec["classes"]),)]
    return parameters, buffers


def _load(model: nn.Module, spec: dict) -> None:
    with torch.no_grad():
        for key, tensors in (("weights", list(model.parameters())), ("buffers", list(model.buffers()))):
            values = spec.get(key)
            if values is None and key == "buffers":
                continue
            if values is None or len(values) != len(tensors):
                raise ValueError(f"{key}: one array per tensor is needed ({len(tensors)})")
            for tensor, value in zip(tensors, values):
                array = np.asarray(value)
                if tuple(array.shape) != tuple(tensor.shape):
                    raise ValueError(f"{key}: shape {array.shape} does not fit {tuple(tensor.shape)}")
                tensor.copy_(torch.from_numpy(np.array(array, copy=True)).to(tensor.dtype))
    model.train(bool(spec.get("train", True)))


def build_convnet(spec: dict) -> nn.Sequential:
    """A small convolutional network with exactly the given weights (see the module docstring)."""
    dtype, size = _dtype(spec), int(spec["kernel_size"])
    channels = [int(c) for c in spec["channels"]]
    if not channels or min(channels) < 1 or size < 1 or size % 2 == 0:
        raise ValueError(f"channels must list positive widths and kernel_size be odd, got {channels!r}, {size}")
    layers: list[nn.Module] = []
    fan_in = int(spec["in_channels"])
    for width in channels:
        layers.append(nn.Conv2d(fan_in, width, size, padding=size // 2, dtype=dtype))
        if spec.get("batch_norm", False):
            layers.append(nn.BatchNorm2d(width, dtype=dtype))
        layers.append(nn.ReLU())
        fan_in = width
    side = int(spec["image_size"])
    layers += [nn.Flatten(), nn.Linear(fan_in * side * side, int(spec["classes"]), dtype=dtype)]
    model = nn.Sequential(*layers)
    _load(model, spec)
    return model


class GraphRecord:
    """What a recording loss saw: its calls, and those whose outputs carried an autograd graph.

    The record is kept by whoever built the loss (the subject's handle table), never as an
    attribute of the loss: the graded function holds the loss, and could reset a counter kept
    on it. The loss reaches the record only through the closure of its class's methods, and
    :meth:`plain` refuses to vouch for a loss whose class or methods were swapped.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.graphs = 0
        self._cls: type | None = None
        self._methods: dict[str, Any] = {}

    def bind(self, cls: type, methods: dict[str, Any]) -> None:
        """Remember the loss's class and methods, to tell later whether they were replaced."""
        self._cls, self._methods = cls, dict(methods)

    def count(self, outputs: Any) -> None:
        """One call; a graph if autograd is recording and ``outputs`` carries a graph."""
        self.calls += 1
        if _GRAD_ENABLED() and isinstance(outputs, torch.Tensor) and outputs.requires_grad:
            self.graphs += 1

    def intact(self, obj: Any) -> bool:
        """Whether ``obj`` still is the loss built with this record, counting every call."""
        if type(obj) is not self._cls:
            return False
        if "forward" in _MODULE_DICT(obj, "__dict__"):
            return False
        return all(_MODULE_DICT(self._cls, "__dict__").get(name) is method for name, method in self._methods.items())

    def plain(self, obj: Any) -> list:
        """``[["calls", n], ["graphs", n], ["intact", bool]]`` (see :func:`snapshot`)."""
        return [["calls", int(self.calls)], ["graphs", int(self.graphs)], ["intact", self.intact(obj)]]


def _recording_loss(loss: nn.Module) -> tuple[nn.Module, GraphRecord]:
    """``loss`` behind a module that counts its calls in a :class:`GraphRecord` it does not expose.

    Calling the module, or its ``forward``, counts and then applies ``loss`` (held in the
    closure, so that the uncounted loss is not an attribute either). ``__call__`` is defined on
    the class, which Python looks up for ``loss_fn(...)``: assigning ``loss_fn.forward`` or
    registering hooks does not skip the count.
    """
    record = GraphRecord()

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        record.count(outputs)
        return loss(outputs, targets)

    methods = {"__call__": __call__, "forward": __call__}
    cls = type("_GraphRecordingLoss", (nn.Module,), {
        **methods, "__module__": __name__,
        "__doc__": f"{type(loss).__name__} that also counts the calls whose outputs carried an autograd graph."})
    record.bind(cls, methods)
    return cls(), record


class Net(nn.Module):
    """Top-level children applied in order (a parameter may be registered on the model itself)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for child in self.children():
            x = child(x)
        return x


_CHILDREN: dict[str, Callable[..., nn.Module]] = {
    "linear": lambda d_in, d_out, dtype: nn.Linear(int(d_in), int(d_out), dtype=dtype),
    "linear_nobias": lambda d_in, d_out, dtype: nn.Linear(int(d_in), int(d_out), bias=False, dtype=dtype),
    "layer_norm": lambda d, dtype: nn.LayerNorm(int(d), dtype=dtype),
    "batch_norm": lambda d, dtype: nn.BatchNorm1d(int(d), dtype=dtype),
    "relu": lambda dtype: nn.ReLU(),
    "tanh": lambda dtype: nn.Tanh(),
}


def _net_structure(spec: dict) -> Net:
    dtype = _dtype(spec)
    model = Net()
    for index, child in enumerate(spec["children"]):
        kind, *sizes = child
        if kind not in _CHILDREN:
            raise ValueError(f"children: kind must be one of {sorted(_CHILDREN)}, got {kind!r}")
        model.add_module(f"layer{index}", _CHILDREN[kind](*sizes, dtype=dtype))
    children = list(model.children())
    for source, target in spec.get("shared") or []:
        children[int(target)].weight = children[int(source)].weight
    for index, shape in enumerate(spec.get("direct") or []):
        model.register_parameter(f"direct_{index}", nn.Parameter(torch.zeros(tuple(shape), dtype=dtype)))
    return model


def net_shapes(spec: dict) -> list[tuple]:
    """The shapes of ``model.parameters()`` of the ``"net"`` with these ``children``, ``shared``, ``direct``."""
    return [tuple(p.shape) for p in _net_structure(spec).parameters()]


def build_net(spec: dict) -> Net:
    """A model of named top-level children with exactly the given weights (see the module docstring)."""
    model = _net_structure(spec)
    parameters = list(model.parameters())
    values = spec.get("weights")
    if values is None or len(values) != len(parameters):
        raise ValueError(f"weights: one array per parameter is needed ({len(parameters)})")
    with torch.no_grad():
        for tensor, value in zip(parameters, values):
            array = np.asarray(value)
            if tuple(array.shape) != tuple(tensor.shape):
                raise ValueError(f"weights: shape {array.shape} does not fit {tuple(tensor.shape)}")
            tensor.copy_(torch.from_numpy(np.array(array, copy=True)).to(tensor.dtype))
    for index in spec.get("frozen") or []:
        parameters[int(index)].requires_grad_(False)
    model.train(bool(spec.get("train", True)))
    return model


def build_dataset(spec: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)`` as tensors with the arrays' dtypes."""
    inputs, targets = np.asarray(spec["inputs"]), np.asarray(spec["targets"])
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError("inputs and targets: two non-empty arrays with the same number of rows are needed")
    return to_tensor(inputs), to_tensor(targets)


def build_tensors(spec: dict) -> list[torch.Tensor] | torch.Tensor:
    """Leaf tensors with the given values and ``.grad`` (see the module docstring)."""
    dtype = _dtype(spec)
    values, grads = list(spec["values"]), list(spec["grads"])
    if len(values) != len(grads) or not values:
        raise ValueError("values and grads: two non-empty lists of the same length are needed")
    tensors = []
    for value, grad in zip(values, grads):
        tensor = to_tensor(np.asarray(value)).to(dtype).requires_grad_(True)
        if grad is not None:
            tensor.grad = to_tensor(np.asarray(grad)).to(dtype)
        tensors.append(tensor)
    if spec.get("single"):
        if len(tensors) != 1:
            raise ValueError("single: exactly one tensor is needed")
        return tensors[0]
    return tensors


def build_loss(spec: dict) -> nn.Module | tuple[nn.Module, GraphRecord]:
    """``nn.MSELoss()`` or ``nn.CrossEntropyLoss()``; with ``record_graphs``, ``(counting loss, its record)``."""
    losses = {"mse": nn.MSELoss, "cross_entropy": nn.CrossEntropyLoss}
    if spec.get("name") not in losses:
        raise ValueError(f"loss name must be one of {sorted(losses)}, got {spec.get('name')!r}")
    loss = losses[spec["name"]]()
    return _recording_loss(loss) if spec.get("record_graphs", False) else loss


def build_batches(spec: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(inputs, targets), ...]`` as tensors with the arrays' dtypes."""
    inputs, targets = list(spec["inputs"]), list(spec["targets"])
    if len(inputs) != len(targets) or not inputs:
        raise ValueError("inputs and targets: two non-empty lists of the same length are needed")
    return [(to_tensor(np.asarray(x)), to_tensor(np.asarray(y))) for x, y in zip(inputs, targets)]


def build_optimizer(spec: dict, model: nn.Module) -> torch.optim.Optimizer:
    """A torch optimizer over ``model``'s parameters, in the given groups and state."""
    if spec.get("name") not in _OPTIMIZERS:
        raise ValueError(f"optimizer name must be one of {sorted(_OPTIMIZERS)}, got {spec.get('name')!r}")
    parameters = list(model.parameters())
    groups = spec.get("groups") or [list(range(len(parameters)))]
    lrs = [float(lr) for lr in spec["lrs"]]
    if len(lrs) != len(groups):
        raise ValueError("lrs: one learning rate per group is needed")
    options = {key: (tuple(spec[key]) if key == "betas" else spec[key]) for key in _HYPERPARAMETERS if key in spec}
    param_groups = [{"params": [parameters[int(i)] for i in indices], "lr": lr} for indices, lr in zip(groups, lrs)]
    optimizer = _OPTIMIZERS[spec["name"]](param_groups, **options)
    for index, entries in spec.get("state") or []:
        parameter = parameters[int(index)]
        state = {}
        for key, value in entries:
            if key == "step":  # torch keeps Adam's step as a float32 scalar tensor
                state[key] = torch.tensor(float(value), dtype=torch.float32)
            else:
                state[key] = to_tensor(np.asarray(value)).to(parameter.dtype)
        optimizer.state[parameter] = state
    return optimizer


def build_generator(spec: dict) -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed``."""
    return torch.Generator().manual_seed(int(spec["seed"]))


#: kind -> ``builder(spec, resolve)``, where ``resolve(handle)`` returns an object built earlier
BUILDERS: dict[str, Callable[[dict, Callable[[int], Any]], Any]] = {
    "mlp": lambda spec, resolve: build_mlp(spec),
    "convnet": lambda spec, resolve: build_convnet(spec),
    "loss": lambda spec, resolve: build_loss(spec),
    "batches": lambda spec, resolve: build_batches(spec),
    "optimizer": lambda spec, resolve: build_optimizer(spec, resolve(int(spec["model"]))),
    "generator": lambda spec, resolve: build_generator(spec),
    "net": lambda spec, resolve: build_net(spec),
    "dataset": lambda spec, resolve: build_dataset(spec),
    "tensors": lambda spec, resolve: build_tensors(spec),
}


def build(kind: str, spec: dict, resolve: Callable[[int], Any]) -> tuple[Any, list[torch.Tensor], list[nn.Module]]:
    """Build an object of ``kind``; also return the tensors and modules :func:`snapshot` will read.

    For a loss built with ``record_graphs`` the third item is ``[its GraphRecord]``: the caller keeps
    it (out of reach of the function the loss is handed to) and passes it back to :func:`snapshot`.
    """
    if kind not in BUILDERS:
        raise ValueError(f"kind must be one of {sorted(BUILDERS)}, got {str(kind)[:40]!r}")
    obj = BUILDERS[kind](spec, resolve)
    if kind == "loss" and isinstance(obj, tuple):  # a recording loss: its record stays with the builder's side
        loss, record = obj
        return loss, [], [record]
    if isinstance(obj, nn.Module):
        return obj, list(obj.parameters()) + list(obj.buffers()), list(obj.modules())
    if isinstance(obj, torch.Tensor):
        return obj, [obj], []
    if kind == "tensors":
        return obj, list(obj), []
    return obj, [], []


def _plain_value(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return to_plain(value)
    if type(value) in (bool, int, float, str) or value is None:
        return value
    if type(value) in (tuple, list):
        return [_plain_value(v) for v in value]
    return str(type(value).__name__)


def snapshot(obj: Any, tensors: list[torch.Tensor], modules: list[nn.Module]) -> list:
    """A model or optimizer as plain data: ``[[name, value], ...]`` (see the module docstring).

    Model: ``tensors`` (parameters then buffers, as built) and ``training`` (one flag per module).
    Optimizer: ``groups`` (per group ``[[key, value], ...]`` for every key but ``params``, sorted)
    and ``state`` (per parameter in group order ``[[key, value], ...]``, sorted by key).
    A loss built with ``record_graphs`` (``modules`` is ``[its GraphRecord]``): ``calls``, ``graphs``
    (calls whose outputs carried a graph) and ``intact`` (False: its class or methods were replaced,
    so that calls may have gone uncounted).
    Anything else: ``[["value", to_plain(obj)]]``.
    """
    if len(modules) == 1 and type(modules[0]) is GraphRecord:
        return modules[0].plain(obj)
    if modules:
        flags = [_MODULE_DICT(module, "__dict__").get("training") for module in modules]
        return [["tensors", [to_plain(t) for t in tensors]], ["training", [to_plain(f) for f in flags]]]
    if isinstance(obj, torch.optim.Optimizer):
        groups = [[[key, _plain_value(value)] for key, value in sorted(group.items()) if key != "params"]
                  for group in obj.param_groups]
        state = [[[key, _plain_value(value)] for key, value in sorted(obj.state.get(p, {}).items())]
                 for group in obj.param_groups for p in group["params"]]
        return [["groups", groups], ["state", state]]
    return [["value", to_plain(obj)]]
