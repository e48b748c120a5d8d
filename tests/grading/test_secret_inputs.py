"""The checks' inputs: public in the notebook, drawn from the course's secret seed when graded."""

from __future__ import annotations

import re
import stat

import pytest

from course_grader.pipeline import scratch
from course_grader.pipeline.batch import course_check_seed
from course_lib.checks import CheckFailed
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.chapters._spec import rng_for, secret_inputs
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject
from grading.grading_helpers import FIXTURES, load_class


def test_public_inputs_are_the_same_every_time_and_secret_ones_differ() -> None:
    public = rng_for("adam.first_step").standard_normal(4)
    assert (rng_for("adam.first_step").standard_normal(4) == public).all()
    with secret_inputs(7):
        seven = rng_for("adam.first_step").standard_normal(4)
    with secret_inputs(8):
        eight = rng_for("adam.first_step").standard_normal(4)
    with secret_inputs(7):
        assert (rng_for("adam.first_step").standard_normal(4) == seven).all()
    assert not (seven == public).any() and not (seven == eight).any()
    assert (rng_for("adam.first_step").standard_normal(4) == public).all(), "the seed must not leak out"


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_a_bad_seed_is_refused(seed) -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        with secret_inputs(seed):
            pass


def test_the_course_seed_is_private_kept_and_rotated(tmp_path) -> None:
    course = scratch.new_course(tmp_path / "course", source=tmp_path / "source")
    seed = course_check_seed(course)
    path = course.state_dir / "check_seed"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert course_check_seed(course) == seed
    rotated = course_check_seed(course, new=True)
    assert rotated != seed and course_check_seed(course) == rotated


def test_schedule_checks_ask_for_settings_drawn_from_the_seed() -> None:
    """A schedule takes no random array: the drawn settings are what a replay table cannot know."""
    asked: dict[int | None, set] = {}
    correct = load_class(FIXTURES / "03_lr_schedules" / "correct_math.py")
    for seed in (None, 1):
        seen = asked.setdefault(seed, set())

        class Spy(correct):
            def __init__(self, base_lr, warmup_steps=0, total_steps=1000):
                super().__init__(base_lr, warmup_steps, total_steps)
                seen.add((base_lr, warmup_steps, total_steps))

        with secret_inputs(seed):
            for check_id, spec in REGISTRY.items():
                if spec.class_name == "LRScheduler":
                    spec.func(LocalSubject(Spy, Trace(check_id)))
    assert asked[None] - asked[1] and asked[1] - asked[None]


def _failure(check_id: str, cls: type, trace: Trace, seed: int | None) -> str:
    with secret_inputs(seed), pytest.raises(CheckFailed) as failed:
        REGISTRY[check_id].func(LocalSubject(cls, trace))
    return str(failed.value)


def test_a_graded_failure_names_the_setting_but_not_its_drawn_values() -> None:
    """Read over resubmissions, graded feedback must not rebuild the secret inputs."""
    wrong = load_class(FIXTURES / "02_adam" / "wrong_eps_inside_sqrt.py")
    public = _failure("adam.large_eps", wrong, Trace("adam.large_eps"), None)
    assert re.search(r"setting: lr=\S+", public), public  # the visible check shows every value
    graded_trace = Trace("adam.large_eps", secret=True)
    graded = _failure("adam.large_eps", wrong, graded_trace, 11)
    assert "drawn values stay secret" in graded and "Hint:" in graded, graded
    for key, value in graded_trace.setting.items():
        if key != "dtype":
            assert f"{key}={value}" not in graded, (key, value, graded)
