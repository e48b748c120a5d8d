"""The one-command entry points exist and setup is idempotent."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("setup", "lab", "test", "student", "autograde", "grade-demo", "bench")


@pytest.mark.parametrize("target", TARGETS)
def test_makefile_has_target(target):
    result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_second_setup_reinstalls_nothing():
    """After `make setup` (which `make test` runs first) the environment is up to date."""
    result = subprocess.run(["make", "-q", "setup"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, "make setup would reinstall although no requirement changed"


def test_layout():
    for path in ("README.md", "environment.yml", "Makefile", "pyproject.toml", "notebooks",
                 "solutions", "graders/nbgrader_config.py", "course_lib", "tests", "binder",
                 ".ci/run"):
        assert (ROOT / path).exists(), f"{path} is missing"
