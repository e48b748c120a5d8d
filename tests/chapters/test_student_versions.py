"""notebooks/ is exactly what nbgrader generates from solutions/, and safe to hand out.

A maintainer edits a chapter in solutions/ and runs `make student`; these tests fail
when that step was forgotten, when a student version leaks a solution or a hidden
test, or when it ships outputs.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.release import tool_env

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(ROOT.glob("solutions/*/*.ipynb"))
ASSIGNMENTS = sorted({p.parent.name for p in SOURCES})
LEAKS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def _comparable(nb: dict) -> list:
    return [(c["cell_type"], "".join(c["source"]), c.get("metadata", {})) for c in nb["cells"]]


def test_every_source_has_a_student_version_and_back():
    sources = {p.relative_to(ROOT / "solutions") for p in SOURCES}
    students = {p.relative_to(ROOT / "notebooks") for p in ROOT.glob("notebooks/*/*.ipynb")}
    assert sources, "no chapter sources found in solutions/"
    assert sources == students


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """Student versions generated afresh into a scratch release folder and gradebook."""
    out = tmp_path_factory.mktemp("release")
    db = f"sqlite:///{out / 'gradebook.db'}"
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force",
         "--log-level=ERROR", f"--CourseDirectory.release_directory={out}",
         f"--CourseDirectory.db_url={db}"],
        cwd=ROOT / "graders", check=True, capture_output=True, env=tool_env(),
    )
    return out


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.parent.name)
def test_student_version_is_up_to_date(source, regenerated):
    rel = source.relative_to(ROOT / "solutions")
    fresh = json.loads((regenerated / rel).read_text())
    committed = json.loads((ROOT / "notebooks" / rel).read_text())
    assert _comparable(committed) == _comparable(fresh), (
        f"notebooks/{rel} is stale: run `make student` after editing solutions/{rel}")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.parent.name)
def test_student_version_leaks_nothing_and_has_no_outputs(source):
    rel = source.relative_to(ROOT / "solutions")
    nb = json.loads((ROOT / "notebooks" / rel).read_text())
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        for marker in LEAKS:
            assert marker not in text, f"notebooks/{rel} contains {marker!r}"
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.parent.name)
def test_sources_are_committed_without_outputs(source):
    nb = json.loads(source.read_text())
    assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), (
        f"{source.relative_to(ROOT)} has outputs: clear them before committing")
