"""The checks' closed-form oracles agree with PyTorch, and the tolerances separate right from wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils import clip_grad_norm_
from torch.optim.lr_scheduler import CosineAnnealingLR, StepLR

from course_lib.checks.chapters import adam, clipping, optimizer_zoo, projections, schedules, REGISTRY


def test_registry_ids_are_the_published_ones() -> None:
    expected = {
        "gradient_descent": ["vanilla", "momentum", "nesterov", "multiple_params"],
        "adam": ["first_step", "matches_torch", "large_eps", "shared_timestep", "many_steps"],
        "schedules": ["step_decay", "cosine_annealing", "warmup_cosine", "past_total_steps", "step_counter"],
        "projections": ["soft_threshold", "project_box", "step_l1", "step_box", "step_none_and_no_grad"],
        "clipping": ["grad_norm", "clip_by_norm", "clip_by_value", "step", "step_with_constraint"],
        "adagrad": ["matches_torch", "no_grad_many_steps"],
        "rmsprop": ["matches_torch", "momentum_centered"],
        "adamw": ["matches_torch", "shared_timestep"],
        "lion": ["matches_paper", "no_grad_many_steps"],
        "lamb": ["matches_paper", "trust_ratio_edges"],
        "zoo": ["exponential_decay", "polynomial_decay", "cosine_with_restarts", "cyclic", "one_cycle",
                "one_cycle_edges", "with_warmup", "plateau_basics", "plateau_cooldown_eps", "plateau_modes_negative"],
        "lr_finder": ["range_sgd_diverges", "range_adam_never_diverges", "range_batch_norm_restore",
                      "range_defaults_and_edges", "suggest_matches_package", "suggest_edges"],
        "landscapes": ["direction_mlp", "direction_convnet", "line_values", "line_eval_and_restore", "surface_values",
                       "surface_eval_and_restore"],
        "training_loop": ["step_uneven", "step_no_grad", "agc_units", "agc_zero_init", "groups_weight_decay",
                          "groups_layer_decay", "fit_settings", "fit_defaults"],
    }
    assert sorted(REGISTRY) == sorted(f"{chapter}.{name}" for chapter, names in expected.items() for name in names)
    for check_id, spec in REGISTRY.items():
        assert spec.check_id == check_id and spec.description and callable(spec.func)


def test_closed_form_adam_equals_torch_when_every_parameter_has_a_gradient() -> None:
    rng = np.random.default_rng(0)
    initial = [rng.standard_normal((3,)), rng.standard_normal((2, 2))]
    ours = adam._ClosedFormAdam(initial, 0.05, (0.8, 0.9), 1e-3)
    theirs = adam._TorchAdam(initial, 0.05, (0.8, 0.9), 1e-3)
    for _ in range(25):
        grads = [rng.standard_normal(a.shape) for a in initial]
        for a, b in zip(ours.step(grads), theirs.step(grads)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_clip_by_norm_closed_form_matches_torch_up_to_its_epsilon() -> None:
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((4,)) * 3, None, rng.standard_normal((2, 3))]
    expected = clipping.clip_by_norm(grads, 1.5)
    holders = []
    for g in grads:
        holder = torch.zeros(g.shape if g is not None else (1,), dtype=torch.float64)
        holder.grad = None if g is None else torch.tensor(g)
        holders.append(holder)
    norm = clip_grad_norm_(holders, 1.5)
    assert float(norm) == pytest.approx(clipping.global_norm(grads), rel=1e-12)
    for want, holder in zip(expected, holders):
        if want is not None:
            np.testing.assert_allclose(holder.grad.numpy(), want, rtol=1e-5)
    assert np.sqrt(sum(np.sum(g ** 2) for g in expected if g is not None)) == pytest.approx(1.5, rel=1e-12)


def test_schedule_closed_forms_match_torch() -> None:
    steps = schedules.torch_schedule(0.1, lambda o: StepLR(o, step_size=7, gamma=0.5), 40)
    assert steps == pytest.approx([schedules.step_decay(t, 0.1, 0.5, 7) for t in range(41)], rel=1e-12)
    cosine = schedules.torch_schedule(0.1, lambda o: CosineAnnealingLR(o, T_max=30, eta_min=0.01), 30)
    assert cosine == pytest.approx([schedules.cosine(t, 0.1, 30, 0.01) for t in range(31)], rel=1e-9)
    assert schedules.warmup_cosine(0, 0.1, 10, 50, 0.0) == 0.0
    assert schedules.warmup_cosine(10, 0.1, 10, 50, 0.0) == pytest.approx(0.1)
    assert schedules.warmup_cosine(80, 0.1, 10, 50, 0.02) == pytest.approx(0.02)


def test_projection_closed_forms() -> None:
    x = np.array([-2.0, -0.3, 0.0, 0.3, 2.0])
    np.testing.assert_allclose(projections.soft_threshold(x, 0.5), [-1.5, 0.0, 0.0, 0.0, 1.5])
    boxed = projections.project_box(x, None, 0.25)
    np.testing.assert_array_equal(boxed, [-2.0, -0.3, 0.0, 0.25, 0.25])
    np.testing.assert_array_equal(projections.project_box(boxed, None, 0.25), boxed)


def test_closed_form_lion_equals_the_authors_lion_pytorch() -> None:
    from lion_pytorch import Lion

    rng = np.random.default_rng(2)
    initial = [rng.standard_normal((3,)), rng.standard_normal((2, 2)), rng.standard_normal((4,))]
    hyper = dict(lr=0.03, betas=(0.8, 0.95), weight_decay=0.5)
    ours = optimizer_zoo._ClosedFormLion(initial, **hyper)
    tensors = [torch.tensor(a, requires_grad=True) for a in initial]
    theirs = Lion(tensors, **hyper)
    for step in range(40):
        grads = [rng.standard_normal(a.shape) if i == 0 or step % 3 == 0 else None for i, a in enumerate(initial)]
        for tensor, grad in zip(tensors, grads):
            tensor.grad = None if grad is None else torch.tensor(grad)
        theirs.step()
        for a, b in zip(ours.step(grads), tensors):
            np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_closed_form_adamw_equals_torch_when_every_parameter_has_a_gradient() -> None:
    rng = np.random.default_rng(3)
    initial = [rng.standard_normal((3,)), rng.standard_normal((2, 2))]
    hyper = dict(lr=0.05, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.3)
    ours, theirs = optimizer_zoo._ClosedFormAdamW(initial, **hyper), optimizer_zoo._TorchAdamW(initial, **hyper)
    for _ in range(25):
        grads = [rng.standard_normal(a.shape) for a in initial]
        for a, b in zip(ours.step(grads), theirs.step(grads)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_closed_form_lamb_moves_each_tensor_by_lr_times_its_norm() -> None:
    rng = np.random.default_rng(4)
    initial = [rng.standard_normal((5,)), 10 * rng.standard_normal((3, 3)), np.zeros(4)]
    lamb = optimizer_zoo._ClosedFormLAMB(initial, lr=0.02, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1)
    before = [a.copy() for a in initial]
    for _ in range(10):
        after = lamb.step([rng.standard_normal(a.shape) for a in initial])
        for i, (b, a) in enumerate(zip(before, after)):
            moved = np.linalg.norm(a - b)
            if np.linalg.norm(b) > 0:
                assert moved == pytest.approx(0.02 * np.linalg.norm(b), rel=1e-12)
            else:  # a zero tensor moves by lr·‖r‖ (trust ratio 1)
                assert moved > 0
        before = after
