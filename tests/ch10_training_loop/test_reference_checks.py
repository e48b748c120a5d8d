"""The course's reference training loop passes every chapter-10 check (one more correct implementation),
whatever seed the checks draw their settings from."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import course_lib.checks.chapters.training_loop as checks
from course_lib import training_loop
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject

CHECKS = sorted(c for c in REGISTRY if c.startswith("training_loop."))


@pytest.mark.parametrize("seed", [None, 1, 2])
@pytest.mark.parametrize("check_id", CHECKS)
def test_reference_passes(check_id, seed, monkeypatch) -> None:
    if seed is not None:
        monkeypatch.setattr(checks, "rng_for", lambda cid: np.random.default_rng(zlib.crc32(cid.encode()) + seed))
    spec = REGISTRY[check_id]
    spec.func(LocalSubject(getattr(training_loop, spec.class_name), Trace(check_id)))


def test_every_unit_has_checks_and_the_right_kind() -> None:
    units = {REGISTRY[c].class_name: REGISTRY[c].kind for c in CHECKS}
    assert units == {"train_step": "function", "adaptive_clip_grad_": "function", "param_groups": "function",
                     "fit": "function"}


def test_torch_optimizers_and_clip_grad_norm_are_allowed_agc_is_not() -> None:
    for check_id in CHECKS:
        forbidden = REGISTRY[check_id].forbidden
        assert "torch.optim" not in forbidden.modules and "torch.nn.utils.clip_grad" not in forbidden.modules
        assert "timm.utils.agc" in forbidden.modules
