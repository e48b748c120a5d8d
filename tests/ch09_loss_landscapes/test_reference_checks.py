"""The course's reference functions pass every chapter-9 check (one more correct implementation), whatever
seed the checks draw their settings from; the checks' oracles agree with the closed forms of the tests."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import landscapes
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.chapters._spec import secret_inputs
from course_lib.checks.chapters.landscapes import oracle_direction
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject

CHECKS = sorted(c for c in REGISTRY if c.startswith("landscapes."))


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
@pytest.mark.parametrize("check_id", CHECKS)
def test_reference_passes(check_id, seed) -> None:
    spec = REGISTRY[check_id]
    with secret_inputs(seed):
        spec.func(LocalSubject(getattr(landscapes, spec.class_name), Trace(check_id)))


def test_every_unit_has_checks_of_the_function_kind() -> None:
    units = {REGISTRY[c].class_name: REGISTRY[c].kind for c in CHECKS}
    assert units == {"filter_normalized_direction": "function", "loss_along_line": "function",
                     "loss_surface": "function"}


def test_oracle_direction_is_the_reference_on_the_same_weights() -> None:
    from course_lib.checks import builders
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s) for s in builders.mlp_shapes([3, 5, 2], True)[0]]
    model = builders.build_mlp({"sizes": [3, 5, 2], "batch_norm": True, "weights": weights})
    for a, b in zip(oracle_direction(weights, 11, "float64"),
                    landscapes.filter_normalized_direction(model, torch.Generator().manual_seed(11))):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-13)
