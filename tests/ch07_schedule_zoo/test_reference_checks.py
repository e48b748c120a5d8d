"""The course's reference schedules and ReduceLROnPlateau pass every chapter-7 check (one more
correct implementation), whatever seed the checks draw their settings from."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import course_lib.checks.chapters.schedule_zoo as zoo
from course_lib import plateau, schedule_zoo
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject

ZOO_CHECKS = sorted(c for c in REGISTRY if c.startswith("zoo."))


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
@pytest.mark.parametrize("check_id", ZOO_CHECKS)
def test_reference_passes(check_id, seed, monkeypatch) -> None:
    if seed is not None:
        monkeypatch.setattr(zoo, "rng_for", lambda cid: np.random.default_rng(zlib.crc32(cid.encode()) + seed))
    spec = REGISTRY[check_id]
    unit = getattr(schedule_zoo, spec.class_name, None) or getattr(plateau, spec.class_name)
    spec.func(LocalSubject(unit, Trace(check_id)))


def test_every_unit_has_checks_and_the_right_kind() -> None:
    units = {REGISTRY[c].class_name: REGISTRY[c].kind for c in ZOO_CHECKS}
    assert units == {"exponential_decay": "function", "polynomial_decay": "function",
                     "cosine_with_restarts": "function", "cyclic": "function", "one_cycle": "function",
                     "with_warmup": "function", "ReduceLROnPlateau": "class"}
