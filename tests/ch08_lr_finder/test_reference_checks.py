"""The chapter-8 checks under secret seeds: the reference passes every check, each wrong fixture fails one.

The fixtures' verdicts on the public inputs (locally and in the judge) are in tests/grading; here the same
fixtures are run under grading seeds, so that no mistake slips through because of a lucky draw.
"""
from __future__ import annotations

import pytest
from grading.grading_helpers import checks_for, fixtures_of, load_class, run_local, unit_of

from course_lib import lr_finder
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.chapters._spec import secret_inputs
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject

CHECKS = sorted(c for c in REGISTRY if c.startswith("lr_finder."))
SEEDS = [7, 2026]


@pytest.mark.parametrize("seed", [None, *SEEDS])
@pytest.mark.parametrize("check_id", CHECKS)
def test_reference_passes(check_id, seed) -> None:
    spec = REGISTRY[check_id]
    with secret_inputs(seed):
        spec.func(LocalSubject(getattr(lr_finder, spec.class_name), Trace(check_id)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", fixtures_of("08_lr_finder"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_verdicts_hold_for_secret_seeds(path, seed) -> None:
    unit = load_class(path)
    with secret_inputs(seed):
        verdicts = {check_id: run_local(check_id, unit) for check_id in checks_for(unit_of(path))}
    failed = {c: v.message for c, v in verdicts.items() if not v.passed}
    if path.stem.startswith("correct_"):
        assert not failed, failed
    else:
        assert failed, f"{path.stem} passed every check with seed {seed}"


def test_units_kinds_and_what_is_forbidden() -> None:
    assert {REGISTRY[c].class_name for c in CHECKS} == {"lr_range_test", "suggest_lr"}
    assert all(REGISTRY[c].kind == "function" for c in CHECKS)
    for check_id in CHECKS:  # torch's optimizers are the tools of this exercise; someone else's finder is not
        forbidden = REGISTRY[check_id].forbidden
        assert "torch_lr_finder" in forbidden.modules and "torch.optim" not in forbidden.modules
