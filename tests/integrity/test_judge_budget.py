"""The judge's worker has a write budget: what it writes stays in a tmpfs of its own.

A solution cell that writes far more than the budget (hundreds of MiB in thousands of files)
in its working folder can write at most ``JUDGE_WRITE_MB`` there, nothing of it reaches the
host's disk, and the class defined after it is judged as usual: pooled or cold.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from course_grader.judge.trusted import judge_checks, worker_overlays
from course_grader.pipeline import isolation
from course_grader.pipeline.isolation import JUDGE_WRITE_MB
from course_lib.checks.chapters import REGISTRY
from integrity.integrity_helpers import GRADING_SEED

pytestmark = pytest.mark.usefixtures("sandbox_available")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "implementations" / "02_adam" / "correct_in_place.py"
FLOOD = f'''
import os
_written, _files = 0, 0
for _i in range(3000):
    try:
        with open(f"junk{{_i}}.bin", "wb") as _f:
            _f.write(b"x" * 262144)
        _written, _files = _written + 262144, _files + 1
    except OSError:
        break
assert _written <= {JUDGE_WRITE_MB} * 2**20, f"the judge's worker wrote {{_written}} bytes in {{_files}} files"
'''


def test_a_flooding_cell_is_capped_and_leaves_the_host_untouched(tmp_path, worker_spawn):
    checks = [(check_id, "AdamOptimizer") for check_id, spec in REGISTRY.items()
              if spec.class_name == "AdamOptimizer"][:2]
    overlays = worker_overlays(checks)
    workdir = tmp_path / "judge"
    workdir.mkdir()
    prefix = isolation.command_prefix(workdir, overlays=overlays, private=True)
    verdicts = judge_checks([FLOOD + "\n" + FIXTURE.read_text()], checks, command_prefix=prefix, timeout=120,
                            cwd=str(workdir), seed=GRADING_SEED, spawn=worker_spawn(overlays))
    assert all(v.passed for v in verdicts), [v.message for v in verdicts]
    assert list(workdir.iterdir()) == []
