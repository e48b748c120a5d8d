"""No chapter points at material the student cannot see.

The course was written from internal notes and drafts. A sentence like "the seed material
normalises the whole tensor" or "the source material this course grew from has three of
them" sends the student to something that is not theirs to read: a chapter cites papers and
libraries, or says "a common implementation". Every cell of every notebook, solution and
student version, markdown and code, is searched for phrases that name the internal material.

The phrases are narrow on purpose: "random seed", "secret seed", "seeds 0 to 9" and "over the
seeds" are everyday words of this course and must not match.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb")) + sorted((ROOT / "notebooks").glob("*/*.ipynb"))

_ = r"\s+"  # words may be split across lines
INTERNAL_SOURCES = re.compile("|".join([
    rf"\bsource{_}materials?\b",
    rf"\bseed{_}(?:materials?|documents?|docs?|notebooks?|notes|texts?|chapters?|courses?)\b",
    rf"\b(?:in|from){_}the{_}seeds\b",
    rf"\bthe{_}seeds{_}(?:say|says|use|uses|do|does|give|gives|have|has|define|defines|describe|describes)\b",
    rf"\bour{_}(?:own{_})?sources\b",
    rf"\bsources{_}(?:that{_})?(?:this|the){_}course\b",
    rf"\b(?:this|the){_}course{_}(?:grew|was{_}grown|draws|drew|is{_}based|was{_}based|was{_}written{_}from)\b",
    rf"\b(?:internal|original){_}(?:materials?|notes|sources|drafts?)\b",
]), re.IGNORECASE)


def internal_references(text: str) -> list[str]:
    """The phrases of ``text`` that name the course's internal material (whitespace collapsed)."""
    return [" ".join(match.group(0).split()) for match in INTERNAL_SOURCES.finditer(text)]


@pytest.mark.parametrize("text", [
    "The seed material normalises the whole tensor instead.",
    "(The seed material's per-tensor normalisation passes this test.)",
    "The source material this course grew from has three of them.",
    "many tutorials, including two of the sources this course draws on, rise linearly",
    "As in our sources, the warmup is linear.",
    "The seed document uses a different sign.",
    "In the seeds the bias is not clipped.",
    "the seeds use a per-tensor norm",
    "This course is based on lecture notes.",
    "The source\nmaterial splits across a line.",
])
def test_the_matcher_finds_a_planted_reference(text):
    assert internal_references(text), text


@pytest.mark.parametrize("text", [
    "torch.manual_seed(0) fixes the random seed.",
    "The grader draws its inputs from a secret seed.",
    "radius = 0.25 and seeds 0 to 9; return the mean over the seeds as a float.",
    "How much do two seeds of the same setting differ? With one seed and 450 test images the ranking is noise.",
    "Mean over seeds of the rise; generator seeds 1 and 2.",
    "Watch the warmup's off-by-one between sources: libraries and papers differ by one step.",
    "the source of the gradient noise; open-source implementations; sources of error",
    "the `norm='layer'` option of the authors' `net_plotter.py`, a common implementation",
    "This course follows PyTorch because it is what you will call in practice.",
])
def test_the_matcher_leaves_ordinary_words_alone(text):
    assert not internal_references(text), internal_references(text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_cell_names_the_internal_material(path):
    found = {}
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type in ("markdown", "code") and (hits := internal_references(cell.source)):
            found[f"cell {index} ({cell.get('id', '?')})"] = hits
    assert not found, (f"{path.relative_to(ROOT)} refers to material the student cannot see; cite the paper or "
                       f"library, or say 'a common implementation': {found}")


def test_every_chapter_is_searched():
    assert len(NOTEBOOKS) == 20, [str(path.relative_to(ROOT)) for path in NOTEBOOKS]
