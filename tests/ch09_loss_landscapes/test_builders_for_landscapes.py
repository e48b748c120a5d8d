"""The trusted builders chapter 9 adds: a small convolutional network built from given weights, and a loss
that counts the calls whose outputs carry an autograd graph (read back by snapshot, from a record the
builder keeps, not from the loss the student's function holds)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.checks import builders

SPEC = {"in_channels": 2, "channels": [3, 2], "kernel_size": 3, "image_size": 4, "classes": 5, "dtype": "float64",
        "batch_norm": True, "train": False}


def test_convnet_has_the_predicted_shapes_and_the_given_weights() -> None:
    params, buffers = builders.convnet_shapes(SPEC)
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s) for s in params]
    values = [rng.uniform(1, 2, s) if s else np.array(7) for s in buffers]
    model = builders.build_convnet(dict(SPEC, weights=weights, buffers=values))
    assert [tuple(p.shape) for p in model.parameters()] == params
    assert [tuple(b.shape) for b in model.buffers()] == buffers
    assert params[0] == (3, 2, 3, 3)  # filters of several dimensions
    assert all(np.array_equal(p.detach().numpy(), w) for p, w in zip(model.parameters(), weights))
    assert not model.training and not any(m.training for m in model.modules())
    assert model(torch.zeros(4, 2, 4, 4, dtype=torch.float64)).shape == (4, 5)
    with pytest.raises(ValueError, match="weights"):
        builders.build_convnet(dict(SPEC, weights=weights[:-1]))


def _recording_loss():
    loss, tensors, kept = builders.build("loss", {"name": "mse", "record_graphs": True}, lambda h: None)
    return loss, lambda: dict(builders.snapshot(loss, tensors, kept))


def test_recording_loss_counts_graphs_and_snapshot_reads_them() -> None:
    loss, read = _recording_loss()
    x = torch.ones(3, 2, requires_grad=True)
    y = torch.zeros(3, 2)
    assert loss(x * 2, y).item() == 4.0
    with torch.no_grad():
        loss(x * 2, y)
    loss(torch.ones(3, 2), y)
    assert read() == {"calls": 3, "graphs": 1, "intact": True}
    plain, _, _ = builders.build("loss", {"name": "cross_entropy"}, lambda h: None)
    assert type(plain) is torch.nn.CrossEntropyLoss


def test_the_count_is_not_kept_on_the_loss_the_student_holds() -> None:
    """Resetting attributes of the loss, overriding forward or hooking it does not hide a graph."""
    loss, read = _recording_loss()
    x, y = torch.ones(3, 2, requires_grad=True), torch.zeros(3, 2)
    loss.register_forward_pre_hook(lambda module, args: tuple(a.detach() for a in args))
    loss(x * 2, y)
    loss.forward(x * 2, y)
    assert not any(isinstance(value, builders.GraphRecord) for value in vars(loss).values())
    for name in ("record", "calls", "graphs"):
        setattr(loss, name, 0)
    assert read() == {"calls": 2, "graphs": 2, "intact": True}


@pytest.mark.parametrize("tamper", ["instance forward", "class __call__", "class swap"])
def test_a_loss_whose_class_or_methods_were_replaced_is_reported(tamper) -> None:
    loss, read = _recording_loss()
    if tamper == "instance forward":
        loss.forward = lambda outputs, targets: torch.nn.functional.mse_loss(outputs, targets)
    elif tamper == "class __call__":
        type(loss).__call__ = lambda self, outputs, targets: torch.nn.functional.mse_loss(outputs, targets)
    else:
        loss.reduction = "mean"
        loss.__class__ = torch.nn.MSELoss
    loss(torch.ones(3, 2, requires_grad=True) * 2, torch.zeros(3, 2))
    assert read()["intact"] is False
