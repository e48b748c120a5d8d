"""Every correct fixture passes every check of its class, locally and in the judge;
every wrong fixture fails at least one, both ways, and the two ways agree check by check."""

from __future__ import annotations

import re

import pytest
from grading.grading_helpers import (ALL_FIXTURES, CLASSES_OF, FIXTURES, UNITS_OF, assignment_of, checks_for,
                                     class_of, fixture_id, fixture_key, judged_assignment, local_verdicts, unit_of)


def test_fixture_layout() -> None:
    """2+ correct and 5+ wrong implementations of every graded unit."""
    for assignment, class_names in CLASSES_OF.items():
        files = sorted((FIXTURES / assignment).glob("*.py"))
        assert len([f for f in files if f.stem.startswith(("correct_", "wrong_"))]) == len(files), (
            "fixtures are named correct_* or wrong_*")
        for class_name in class_names:
            mine = [f for f in files if class_of(f) == class_name]
            correct = [f for f in mine if f.stem.startswith("correct_")]
            wrong = [f for f in mine if f.stem.startswith("wrong_")]
            assert len(correct) >= 2 and len(wrong) >= 5, (assignment, class_name)
        for path in files:
            text = path.read_text()
            assert text.startswith("# "), f"{path.name} must start with a comment saying what it does"
            assert f"\nclass {class_of(path)}:" in text
    for assignment, units in UNITS_OF.items():
        assert not list((FIXTURES / assignment).glob("*.py")), "one folder per graded unit"
        assert sorted(p.name for p in (FIXTURES / assignment).iterdir()) == sorted(units)
        for unit in units:
            files = sorted((FIXTURES / assignment / unit).glob("*.py"))
            correct = [f for f in files if f.stem.startswith("correct_")]
            wrong = [f for f in files if f.stem.startswith("wrong_")]
            assert len(correct) >= 2 and len(wrong) >= 5, (assignment, unit)
            assert len(correct) + len(wrong) == len(files), "fixtures are named correct_* or wrong_*"
            for path in files:
                text = path.read_text()
                assert text.startswith("# "), f"{path.name} must start with a comment saying what it does"
                kind = "class" if unit[0].isupper() else "def"
                assert re.search(rf"^{kind} {unit}\b", text, flags=re.MULTILINE), path
                others = [u for u in units if u != unit and re.search(rf"^(class|def) {u}\b", text, re.MULTILINE)]
                assert not others, f"{path} defines other graded units {others}"


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=fixture_id)
def test_local_verdicts(path) -> None:
    verdicts = local_verdicts(path)
    assert set(verdicts) == set(checks_for(unit_of(path)))
    failed = {check_id: v.message for check_id, v in verdicts.items() if not v.passed}
    if path.stem.startswith("correct_"):
        assert not failed, failed
        for verdict in verdicts.values():
            lines = verdict.message.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"✓ {verdict.check_id}: "), verdict.message
    else:
        assert failed, f"{fixture_id(path)} passed every check"


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=fixture_id)
def test_judge_verdicts_agree_with_local(path) -> None:
    remote = {check_id: v for (key, check_id), v in judged_assignment(assignment_of(path)).items()
              if key == fixture_key(path)}
    local = local_verdicts(path)
    assert set(remote) == set(local)
    if path.stem.startswith("correct_"):
        assert all(v.passed for v in remote.values()), {k: v.message for k, v in remote.items() if not v.passed}
    else:
        assert not all(v.passed for v in remote.values())
    disagreements = {k: (local[k].message, remote[k].message) for k in local if local[k].passed != remote[k].passed}
    assert not disagreements


HINTS = [
    ("01_gradient_descent/wrong_dampening", "gradient_descent.momentum", "no (1 − momentum) factor"),
    ("01_gradient_descent/wrong_nesterov_is_heavy_ball", "gradient_descent.nesterov", "g + momentum·v"),
    ("01_gradient_descent/wrong_rebind", "gradient_descent.vanilla", "your values did not change at all"),
    ("01_gradient_descent/wrong_crash_no_grad", "gradient_descent.multiple_params",
     "your step() raised TypeError"),
    ("02_adam/wrong_eps_inside_sqrt", "adam.large_eps",
     "eps goes outside the square root: m_hat / (sqrt(v_hat) + eps)"),
    ("02_adam/wrong_t_per_parameter", "adam.shared_timestep", "increment it once per step()"),
    ("02_adam/wrong_no_bias_correction", "adam.first_step", "m̂ = m/(1 − β₁ᵗ)"),
    ("03_lr_schedules/wrong_no_clamp", "schedules.past_total_steps", "clamp the progress at 1"),
    ("03_lr_schedules/wrong_true_division", "schedules.step_decay", "integer division"),
    ("03_lr_schedules/wrong_warmup_plus_one", "schedules.warmup_cosine", "base_lr·t/warmup_steps"),
    ("04_projected_gd/wrong_none_as_zero", "projections.project_box", "None means no limit"),
    ("04_projected_gd/wrong_threshold_times_lr", "projections.step_l1", "not lr·threshold"),
    ("04_projected_gd/wrong_relu", "projections.soft_threshold", "negative entries too"),
    ("05_gradient_clipping/wrong_penalty_sign", "clipping.step_with_constraint", "kl_penalty·(p − p_ref)"),
    ("05_gradient_clipping/wrong_norm_squared", "clipping.grad_norm", "not the squared norm"),
    ("05_gradient_clipping/wrong_always_rescale", "clipping.clip_by_norm", "stay as they are"),
    ("06_optimizer_zoo/wrong_adagrad_eps_inside_sqrt", "adagrad.matches_torch", "eps outside the square root"),
    ("06_optimizer_zoo/wrong_rmsprop_momentum_dampened", "rmsprop.momentum_centered", "no (1 − μ) factor"),
    ("06_optimizer_zoo/wrong_adamw_l2_in_gradient", "adamw.matches_torch", "never enters m or v"),
    ("06_optimizer_zoo/wrong_adamw_decays_frozen", "adamw.shared_timestep", "no weight decay either"),
    ("06_optimizer_zoo/wrong_lion_sign_of_momentum", "lion.matches_paper", "with the OLD m"),
    ("06_optimizer_zoo/wrong_lamb_zero_ratio_for_zero_param", "lamb.trust_ratio_edges", "must still move"),
    ("06_optimizer_zoo/wrong_lamb_clamped_norm", "lamb.matches_paper", "no clamp"),
    ("06_optimizer_zoo/wrong_rmsprop_default_alpha_keras", "rmsprop.matches_torch", "alpha=0.99"),
    ("06_optimizer_zoo/wrong_rmsprop_alpha_one_allowed", "rmsprop.matches_torch", "alpha must be in [0, 1)"),
    ("06_optimizer_zoo/wrong_adagrad_no_validation", "adagrad.matches_torch", "returned without raising ValueError"),
    ("06_optimizer_zoo/wrong_adagrad_assert_checks", "adagrad.matches_torch", "raised AssertionError instead of "
     "ValueError"),
    ("06_optimizer_zoo/wrong_adamw_refuses_zero_lr", "adamw.matches_torch", "lr = 0 is a legal learning rate"),
    ("06_optimizer_zoo/wrong_lion_sign_zero_is_plus_one", "lion.matches_paper", "sign(0) = 0"),
    ("06_optimizer_zoo/wrong_lion_beta_one_allowed", "lion.matches_paper", "betas must each be in [0, 1)"),
    ("04_projected_gd/wrong_box_none_none_crashes", "projections.project_box", "raised RuntimeError"),
    ("07_schedule_zoo/one_cycle/wrong_no_end_check", "zoo.one_cycle_edges", "returned without raising ValueError"),
    ("07_schedule_zoo/one_cycle/wrong_no_rise_check", "zoo.one_cycle_edges", "naming pct_start"),
    ("08_lr_finder/suggest_lr/wrong_no_short_curve_check", "lr_finder.suggest_edges",
     "its message does not name skip_start and skip_end"),
    ("08_lr_finder/suggest_lr/wrong_short_curve_index_error", "lr_finder.suggest_edges",
     "raised IndexError instead of ValueError"),
    ("07_schedule_zoo/cosine_with_restarts/wrong_float_log", "zoo.cosine_with_restarts", "floating logarithm"),
    ("07_schedule_zoo/one_cycle/wrong_peak_rounded", "zoo.one_cycle_edges", "do not round it"),
    ("07_schedule_zoo/cyclic/wrong_exp_range_scales_base", "zoo.cyclic", "not base_lr"),
    ("07_schedule_zoo/with_warmup/wrong_no_shift", "zoo.with_warmup", "schedule(t − warmup_steps)"),
    ("07_schedule_zoo/ReduceLROnPlateau/wrong_sign_aware_threshold", "zoo.plateau_modes_negative",
     "with a negative best a slightly worse metric can count as an improvement"),
    ("07_schedule_zoo/ReduceLROnPlateau/wrong_no_eps_rule", "zoo.plateau_cooldown_eps", "only if lr − new > eps"),
    ("08_lr_finder/lr_range_test/wrong_state_dict_reference", "lr_finder.range_sgd_diverges",
     "state_dict() returns references"),
    ("08_lr_finder/lr_range_test/wrong_linear_spacing", "lr_finder.range_sgd_diverges", "exponential spacing"),
    ("08_lr_finder/lr_range_test/wrong_stop_one_step_late", "lr_finder.range_sgd_diverges",
     "that step is recorded, no step after it"),
    ("08_lr_finder/lr_range_test/wrong_eval_mode_kept", "lr_finder.range_batch_norm_restore", "train mode"),
    ("08_lr_finder/lr_range_test/wrong_zero_factor_freezes", "lr_finder.range_adam_never_diverges",
     "smooth_factor = 0: the raw losses"),
    ("08_lr_finder/suggest_lr/wrong_forward_difference", "lr_finder.suggest_matches_package",
     "not a forward difference"),
    ("08_lr_finder/suggest_lr/wrong_last_on_tie", "lr_finder.suggest_edges", "the first index on a tie"),
    ("09_loss_landscapes/filter_normalized_direction/wrong_per_tensor", "landscapes.direction_mlp",
     "per-tensor normalisation"),
    ("09_loss_landscapes/filter_normalized_direction/wrong_unit_filters", "landscapes.direction_convnet",
     "each filter has norm 1"),
    ("09_loss_landscapes/filter_normalized_direction/wrong_biases_not_zeroed", "landscapes.direction_mlp",
     "zero direction"),
    ("09_loss_landscapes/filter_normalized_direction/wrong_skips_bias_draws", "landscapes.direction_mlp",
     "one draw per parameter"),
    ("09_loss_landscapes/loss_along_line/wrong_not_restored", "landscapes.line_values", "copy the values back"),
    ("09_loss_landscapes/loss_along_line/wrong_train_mode", "landscapes.line_eval_and_restore", "eval mode"),
    ("09_loss_landscapes/loss_along_line/wrong_mode_left_eval", "landscapes.line_eval_and_restore",
     "training flags"),
    ("09_loss_landscapes/loss_surface/wrong_axes_swapped", "landscapes.surface_values", "the axes are swapped"),
    ("09_loss_landscapes/loss_surface/wrong_builds_graphs", "landscapes.surface_eval_and_restore",
     "torch.no_grad()"),
    ("09_loss_landscapes/loss_surface/wrong_forges_graph_counter", "landscapes.surface_values",
     "carry an autograd graph"),
    ("09_loss_landscapes/loss_surface/wrong_forges_graph_counter", "landscapes.surface_eval_and_restore",
     "carry an autograd graph"),
    ("10_training_loop/train_step/wrong_equal_weights", "training_loop.step_uneven", "not 1/len(micro_batches)"),
    ("10_training_loop/train_step/wrong_norm_after_clip", "training_loop.step_uneven", "the global norm BEFORE clipping"),
    ("10_training_loop/adaptive_clip_grad_/wrong_per_tensor_no_eps", "training_loop.agc_zero_init",
     "eps keeps zero-initialised units (biases) trainable"),
    ("10_training_loop/param_groups/wrong_per_parameter_depth", "training_loop.groups_layer_decay",
     "the same for its weight and its bias"),
    ("10_training_loop/fit/wrong_last_group_unclipped", "training_loop.fit_settings",
     "the last group may be shorter, and is clipped too"),
    ("10_training_loop/fit/wrong_last_epoch_weights", "training_loop.fit_defaults", "load it back before returning"),
    ("01_gradient_descent/wrong_default_lr_torch", "gradient_descent.vanilla", "lr=0.01, momentum=0.0"),
    ("02_adam/wrong_default_eps_keras", "adam.matches_torch", "Keras uses eps=1e-7"),
    ("03_lr_schedules/wrong_default_gamma_steplr", "schedules.step_decay", "step_decay(decay_rate=0.5"),
    ("05_gradient_clipping/wrong_norm_stack_no_grad", "clipping.grad_norm", "raised RuntimeError"),
    ("05_gradient_clipping/wrong_min_scale_zero_norm", "clipping.clip_by_norm", "raised ZeroDivisionError"),
    ("05_gradient_clipping/wrong_clip_norm_none_unchecked", "clipping.clip_by_norm", "defaults='all'"),
    ("05_gradient_clipping/wrong_clip_value_none_unchecked", "clipping.clip_by_value", "defaults='all'"),
    ("06_optimizer_zoo/wrong_lamb_no_validation", "lamb.matches_paper", "returned without raising ValueError"),
    ("06_optimizer_zoo/wrong_lamb_default_eps_adam", "lamb.matches_paper", "not Adam's 1e-8"),
    ("06_optimizer_zoo/wrong_lamb_zero_r_nan", "lamb.trust_ratio_edges", "not ‖p‖/0"),
    ("09_loss_landscapes/loss_along_line/wrong_no_argument_checks", "landscapes.line_values",
     "returned without raising ValueError"),
    ("09_loss_landscapes/loss_surface/wrong_assert_arguments", "landscapes.surface_values",
     "raised AssertionError instead of ValueError"),
]


@pytest.mark.parametrize(("fixture", "check_id", "hint"), HINTS, ids=[h[0] for h in HINTS])
def test_failure_messages_carry_a_relevant_hint(fixture, check_id, hint) -> None:
    path = FIXTURES / f"{fixture}.py"
    local = local_verdicts(path)[check_id]
    remote = judged_assignment(assignment_of(path))[(fixture_key(path), check_id)]
    for verdict in (local, remote):
        assert not verdict.passed
        assert verdict.message.startswith(f"{check_id} failed: ")
        assert hint in verdict.message, verdict.message
        assert "setting: " in verdict.message


def test_value_mismatch_message_names_step_parameter_and_values() -> None:
    message = local_verdicts(FIXTURES / "02_adam/wrong_no_bias_correction.py")["adam.matches_torch"].message
    assert "parameter 0 (shape (4,))" in message
    assert "at step 1 of 30" in message
    assert "expected (torch.optim.Adam): [" in message and "got: [" in message
    assert "betas=(0.9, 0.999)" in message and "dtype=float64" in message
    assert "Hint: " in message
