"""The one-command entry points exist and setup is idempotent."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("setup", "lab", "test", "student", "autograde", "grade-demo", "report", "similarity", "bench")


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
                 "solutions", "graders/nbgrader_config.py", "course_lib", "course_lib/checks", "course_grader",
                 "tests", "binder",
                 ".ci/run"):
        assert (ROOT / path).exists(), f"{path} is missing"


def _course_copy(tmp_path: Path, stamp: str) -> Path:
    """A copy of the Makefile and what its setup depends on, with a .venv stamp saying `stamp`."""
    copy = tmp_path / "moved course"
    copy.mkdir(parents=True)
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "constraints.txt", "pyproject.toml"):
        (copy / name).write_bytes((ROOT / name).read_bytes())
    (copy / ".venv" / "bin").mkdir(parents=True)
    (copy / ".venv" / ".installed").write_text(stamp + "\n")
    return copy


def test_a_moved_checkout_rebuilds_its_environment(tmp_path):
    """.venv names the folder it was made for (editable course_lib, script headers)."""
    moved = _course_copy(tmp_path, "/somewhere/else/optim-course")
    assert subprocess.run(["make", "-q", "setup"], cwd=moved).returncode == 1, \
        "a .venv made for another folder must be rebuilt"
    plan = subprocess.run(["make", "-n", "setup"], cwd=moved, capture_output=True, text=True).stdout
    assert "rm -rf .venv" in plan and "-m venv .venv" in plan and "pip install" in plan
    at_home = _course_copy(tmp_path / "home", str(tmp_path / "home" / "moved course"))
    assert subprocess.run(["make", "-q", "setup"], cwd=at_home).returncode == 0


@pytest.mark.parametrize("version, ok", [("3.11.2", False), ("3.10.14", False), ("3.12.4", False),
                                         ("3.11.5", True), ("3.11.9", True)])
def test_setup_says_at_once_which_python_it_needs(tmp_path, version, ok):
    """Debian 12's 3.11.2 (and any Python the lock was not made for) is refused with what to do."""
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\necho {version}\n")
    fake.chmod(0o755)
    result = subprocess.run(["make", "--no-print-directory", "check-python", f"PYTHON={fake}"], cwd=ROOT,
                            capture_output=True, text=True)
    assert (result.returncode == 0) is ok, result.stderr
    if not ok:
        assert f"is {version}" in result.stderr and "CPython 3.11.5" in result.stderr
        assert "make setup PYTHON=" in result.stderr
