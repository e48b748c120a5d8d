"""The ten chapters read like one course: the same headings, the same words for the checks,
and notebook metadata that JupyterLab does not rewrite when a student opens a chapter.

The convention: "# Chapter N — title"; numbered sections 1, 2, 3, ...; a section "N. Your task: ..." that names
the graded unit(s) in backticks ("N. Your task, part K: `Unit`" when a chapter grades several in turn); a
subsection "Checks you can see" and one "Checks that grade you"; a section "N. Your <thing> at work..."; a
"Your turn: ..." (a subsection, or a section of its own when the exercise is long); "N. In practice"; then
"Going further" and, last, "Summary...".
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = ["01_gradient_descent", "02_adam", "03_lr_schedules", "04_projected_gd", "05_gradient_clipping",
            "06_optimizer_zoo", "07_schedule_zoo", "08_lr_finder", "09_loss_landscapes", "10_training_loop"]
SOURCES = [next((ROOT / "solutions" / chapter).glob("*.ipynb")) for chapter in CHAPTERS]


def _markdown(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("number, path", list(enumerate(SOURCES, start=1)), ids=CHAPTERS)
def test_headings_and_check_sections(number, path):
    cells = _markdown(path)
    assert cells[0].startswith(f"# Chapter {number} — "), cells[0].splitlines()[0]
    headings = [line for cell in cells for line in cell.splitlines() if line.startswith("## ")]
    numbered = [h for h in headings if re.match(r"## \d+\. ", h)]
    assert [int(re.match(r"## (\d+)\.", h).group(1)) for h in numbered] == list(range(1, len(numbered) + 1)), headings
    assert any(re.match(r"## \d+\. Your task(, part \d+)?: .*`\w+`[^`]*$", h) for h in headings), headings
    assert any(re.match(r"## \d+\. Your \w+ at work", h) for h in headings), headings
    assert any(re.match(r"## \d+\. In practice$", h) for h in headings), headings
    assert "## Going further" in headings and headings[-1].startswith("## Summary"), headings
    subheadings = [line for cell in cells for line in cell.splitlines() if line.startswith("### ")]
    assert subheadings.count("### Checks you can see") == 1 and subheadings.count("### Checks that grade you") == 1
    turns = [h for h in subheadings + headings if re.match(r"(### |## \d+\. )Your turn: ", h)]
    assert turns, "each chapter asks the student to decide or measure"
    text = "\n".join(cells)
    for stale in ("hidden checks further down", "Tests you can see", "Tests that grade", "Hidden checks",
                  "Exercise (not graded)"):
        assert stale not in text, stale


def test_notebook_metadata_is_what_jupyterlab_writes():
    """JupyterLab writes the kernel's language_info (with the Python version) into an opened
    notebook; metadata without it shows the notebook as modified the moment it opens."""
    metadata = [nbformat.read(path, as_version=4).metadata for path in SOURCES]
    assert all(m == metadata[0] for m in metadata)
    assert set(metadata[0]) == {"kernelspec", "language_info"}
    assert metadata[0]["kernelspec"]["name"] == "python3"
    assert re.fullmatch(r"3\.11\.\d+", metadata[0]["language_info"]["version"])
    for chapter, source in zip(CHAPTERS, SOURCES):
        student = nbformat.read(ROOT / "notebooks" / chapter / source.name, as_version=4)
        assert student.metadata == metadata[0] and student.nbformat_minor == 5
