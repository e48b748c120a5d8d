"""The chapter-7 checks draw every setting and step from rng_for(check_id), which the judge may seed
differently on every run: each correct fixture passes and each wrong one fails whatever the seed."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import course_lib.checks.chapters.schedule_zoo as zoo
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.errors import CheckFailed
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject
from grading.grading_helpers import checks_for, fixture_id, fixtures_of, load_class, unit_of

FIXTURES = fixtures_of("07_schedule_zoo")
SEEDS = [11, 2024, 987654]


def verdicts(path, seed: int, monkeypatch) -> dict[str, bool]:
    monkeypatch.setattr(zoo, "rng_for", lambda cid: np.random.default_rng(zlib.crc32(cid.encode()) ^ seed))
    unit = load_class(path)
    passed = {}
    for check_id in checks_for(unit_of(path)):
        try:
            REGISTRY[check_id].func(LocalSubject(unit, Trace(check_id)))
            passed[check_id] = True
        except CheckFailed:
            passed[check_id] = False
    return passed


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", FIXTURES, ids=fixture_id)
def test_verdict_does_not_depend_on_the_seed(path, seed, monkeypatch) -> None:
    passed = verdicts(path, seed, monkeypatch)
    if path.stem.startswith("correct_"):
        assert all(passed.values()), passed
    else:
        assert not all(passed.values()), f"{fixture_id(path)} passed every check with seed {seed}"


def test_the_seed_changes_what_is_drawn(monkeypatch) -> None:
    drawn = []
    for seed in SEEDS[:2]:
        monkeypatch.setattr(zoo, "rng_for", lambda cid, seed=seed: np.random.default_rng(seed))
        calls = []

        class Recorder:
            class_name = "exponential_decay"
            trace = Trace("zoo.exponential_decay")

            def function_values(self, batch):
                calls.extend(batch)
                return [args[1] * args[2] ** args[0] for args, _ in batch]

        zoo._exponential_decay(Recorder())
        drawn.append(calls)
    assert drawn[0] != drawn[1]
