"""Trusted builders: torch objects from plain specs, passed to graded functions by handle, read back as plain data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.checks import builders
from course_lib.checks.errors import CheckFailed
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject


def _mlp_spec(batch_norm=False, dtype="float64", train=True):
    sizes = [3, 4, 2]
    shapes, buffer_shapes = builders.mlp_shapes(sizes, batch_norm)
    rng = np.random.default_rng(0)
    spec = {"sizes": sizes, "dtype": dtype, "batch_norm": batch_norm, "train": train,
            "weights": [rng.standard_normal(s).astype(dtype) for s in shapes]}
    if batch_norm:
        spec["buffers"] = [np.zeros(s, dtype) if s else np.array(3, dtype=np.int64) for s in buffer_shapes]
    return spec


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp_has_exactly_the_given_weights(batch_norm, dtype) -> None:
    spec = _mlp_spec(batch_norm, dtype, train=False)
    model = builders.build_mlp(spec)
    assert [tuple(p.shape) for p in model.parameters()] == builders.mlp_shapes(spec["sizes"], batch_norm)[0]
    for p, w in zip(model.parameters(), spec["weights"]):
        assert p.dtype == getattr(torch, dtype) and np.array_equal(p.detach().numpy(), w)
    assert not model.training and any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()) == batch_norm
    if batch_norm:
        assert int(model[1].num_batches_tracked) == 3


def test_optimizer_groups_hyperparameters_and_state() -> None:
    made = {1: builders.build_mlp(_mlp_spec())}
    spec = {"name": "adam", "model": 1, "groups": [[0, 1], [2, 3]], "lrs": [0.1, 0.01], "betas": [0.8, 0.99],
            "state": [[0, [["exp_avg", np.ones((4, 3))], ["exp_avg_sq", np.ones((4, 3))], ["step", 7.0]]]]}
    optimizer, _, _ = builders.build("optimizer", spec, made.__getitem__)
    assert isinstance(optimizer, torch.optim.Adam)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.01] and optimizer.param_groups[0]["betas"] == (0.8, 0.99)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert state["step"].dtype == torch.float32 and float(state["step"]) == 7.0
    snap = dict(builders.snapshot(optimizer, [], []))
    assert len(snap["groups"]) == 2 and dict(snap["groups"][1])["lr"] == 0.01
    assert [k for k, _ in snap["state"][0]] == ["exp_avg", "exp_avg_sq", "step"] and snap["state"][1] == []
    generator, _, _ = builders.build("generator", {"seed": 3}, made.__getitem__)
    assert torch.equal(torch.rand(2, generator=generator), torch.rand(2, generator=torch.Generator().manual_seed(3)))


def test_unknown_kinds_and_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        builders.build("rnn", {}, lambda h: None)
    with pytest.raises(ValueError, match="weights"):
        builders.build_mlp({"sizes": [2, 2], "weights": [np.zeros((2, 2))]})
    with pytest.raises(ValueError, match="loss name"):
        builders.build_loss({"name": "hinge"})


def _graded_pair(function):
    subject = LocalSubject(function, Trace("test"))
    model = subject.make("mlp", **_mlp_spec(batch_norm=True))
    optimizer = subject.make("optimizer", name="sgd", model=model, lrs=[0.1], momentum=0.9)
    return subject, model, optimizer


def test_a_function_gets_the_built_objects_and_the_snapshot_sees_what_it_did() -> None:
    def shift(model, optimizer, by=1.0):
        with torch.no_grad():
            model[0].bias.add_(by)
        optimizer.param_groups[0]["lr"] = 0.5
        model.eval()
        return by

    subject, model, optimizer = _graded_pair(shift)
    before = subject.snapshot(model), subject.snapshot(optimizer)
    assert subject.call_with(None, objects=[(0, model), ("optimizer", optimizer)], by=2.0) == 2.0
    after = subject.snapshot(model), subject.snapshot(optimizer)
    assert np.array_equal(after[0]["tensors"][1], before[0]["tensors"][1] + 2.0)
    assert after[0]["training"] == [False] * len(before[0]["training"]) and all(before[0]["training"])
    assert dict(after[1]["groups"][0])["lr"] == 0.5


def test_rebinding_a_parameter_does_not_fool_the_snapshot() -> None:
    def rebind(model):
        model[0].weight = torch.nn.Parameter(torch.zeros_like(model[0].weight))  # the original tensor is kept

    subject, model, _ = _graded_pair(rebind)
    before = subject.snapshot(model)
    subject.call_with(None, objects=[(0, model)])
    assert all(np.array_equal(a, b) for a, b in zip(before["tensors"], subject.snapshot(model)["tensors"]))


def test_student_errors_are_reported_with_the_call() -> None:
    def broken(model):
        raise RuntimeError("no")

    subject, model, _ = _graded_pair(broken)
    with pytest.raises(CheckFailed, match=r"broken\(<Sequential>\) raised RuntimeError: no"):
        subject.call_with(None, objects=[(0, model)])
