"""Each chapter through the whole pipeline: blank scores 0, solutions score full, wrong code loses points.

One batch grades every chapter (one student per case, 2 jobs): per chapter the blank
notebook, the filled one and every implementation in
tests/fixtures/implementations/<assignment>/ (each wrong_* must lose points, each correct_*
must earn full marks). A chapter that grades several units keeps one fixture folder per unit
(<assignment>/<unit>/); its k-th correct (wrong) submission puts the k-th correct (wrong)
fixture of every unit into that unit's solution cell at once, and every unit's own graded
cells must then earn full marks (lose points). The autograder skips the chapters' demo
cells, so this also shows that no visible test needs them.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from course_grader.pipeline import scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.preprocessors import DEMO_PLACEHOLDER, demo_cells
from course_grader.pipeline.submission import Settings
from course_grader.judge.trusted import find_checks

REPO = Path(__file__).resolve().parents[2]
IMPLEMENTATIONS = REPO / "tests" / "fixtures" / "implementations"
CHAPTERS = [a for a in scratch.chapters() if any((scratch.NOTEBOOKS / a).glob("*.ipynb"))]
SETTINGS = Settings(timeout=120, sandbox=False)
#: chapters whose per-unit fixture folders are graded here (the others' are graded by tests/grading)
UNIT_FOLDERS = ("10_training_loop",)


def implementations(assignment: str, full: bool) -> list[Path]:
    """The fixtures of an assignment: ``<assignment>/*.py`` (one graded class), or one folder per graded unit
    (``<assignment>/<unit>/*.py``) for the chapters whose fixtures are organised that way."""
    folder = IMPLEMENTATIONS / assignment
    files = sorted(folder.glob("*.py")) + sorted(p for p in folder.glob("*/*.py") if assignment in UNIT_FOLDERS)
    if full:
        return files
    return [f for f in files if f.name.startswith("wrong_")][:1]


def unit_submissions(assignment: str, full: bool) -> dict[str, dict[str, Path]]:
    """``{"wrong_set1": {unit: fixture, ...}, ...}`` for a chapter with one fixture folder per unit."""
    units = sorted(p.name for p in (IMPLEMENTATIONS / assignment).iterdir() if p.is_dir())
    sets: dict[str, dict[str, Path]] = {}
    for kind in ("correct", "wrong"):
        files = {unit: sorted((IMPLEMENTATIONS / assignment / unit).glob(f"{kind}_*.py")) for unit in units}
        count = max((len(f) for f in files.values()), default=0)
        for k in range(count if full else min(count, 1 if kind == "wrong" else 0)):
            sets[f"{kind}_set{k + 1}"] = {unit: found[k % len(found)] for unit, found in files.items() if found}
    return sets


def grade_chapters(root: Path, full: bool):
    course = scratch.new_course(root)
    cases = {}
    for assignment in CHAPTERS:
        name, release = scratch.release_notebook(course, assignment)
        filled = scratch.filled(release, scratch.source_notebook(course, assignment, name))
        submissions = {"blank": release, "filled": filled}
        for path in implementations(assignment, full):
            submissions[path.stem] = scratch.with_implementation(filled, path.read_text())
        if (IMPLEMENTATIONS / assignment).is_dir():
            for student, fixtures in unit_submissions(assignment, full).items():
                nb = filled
                for unit, path in fixtures.items():
                    nb = scratch.with_unit(nb, unit, path.read_text())
                submissions[student] = nb
        for student, nb in submissions.items():
            scratch.submit(course, student, assignment, nb, f"{name}.ipynb")
            cases[(student, assignment)] = nb
    report = grade_course(course, SETTINGS, jobs=2, log=lambda _: None)
    return course, report, cases


def scores(course, student, assignment):
    """``{grade cell: (score, max)}`` of the graded test cells of one submission."""
    with Gradebook(course.db_url, course.course_id) as gb:
        sub = gb.find_submission(assignment, student)
        return {g.name: (g.score, g.max_score) for nb in sub.notebooks for g in nb.grades
                if g.cell_type == "code" and g.max_score > 0 and not g.needs_manual_grade}


def check_batch(course, report, cases):
    statuses = {(r.student, r.assignment): r for r in report.results}
    for (student, assignment) in cases:
        result = statuses[(student, assignment)]
        assert result.status == "graded", (student, assignment, result.reason)
        assert "feedback not generated" not in result.reason, (student, assignment, result.reason)
        assert list((course.feedback / student / assignment).glob("*.html")), (student, assignment, "no feedback")
        cells = scores(course, student, assignment)
        assert cells, f"{assignment}: no graded test cell"
        total, maximum = sum(s for s, _ in cells.values()), sum(m for _, m in cells.values())
        if student == "blank":
            assert all(s == 0 for s, _ in cells.values()), (assignment, cells)
        elif student == "filled" or student.startswith("correct_"):
            assert total == maximum, (student, assignment, cells, result.reason)
            check_visible_tests_and_demos(course, student, assignment, cases[(student, assignment)])
        else:
            assert total < maximum, f"{assignment}/{student} earned full marks"
        if student.startswith(("wrong_set", "correct_set")):
            for unit, (got, most) in unit_scores(course, student, assignment).items():
                if student.startswith("wrong_set"):
                    assert got < most, f"{assignment}/{student}: the wrong {unit} earned full marks {cells}"
                else:
                    assert got == most, f"{assignment}/{student}: the correct {unit} lost points {cells}"


def unit_scores(course, student, assignment):
    """``{unit: (score, max)}`` summed over the graded cells whose check drives that unit."""
    source = scratch.source_notebook(course, assignment, scratch.release_notebook(course, assignment)[0])
    unit_of = {cell.metadata["nbgrader"]["grade_id"]: find_checks(cell.source)[0][1] for cell in source.cells
               if cell.metadata.get("nbgrader", {}).get("points") and find_checks(cell.source)}
    totals: dict[str, list[float]] = {}
    for grade_id, (got, most) in scores(course, student, assignment).items():
        pair = totals.setdefault(unit_of[grade_id], [0.0, 0.0])
        pair[0] += got
        pair[1] += most
    assert len(totals) > 1, f"{assignment}: expected several graded units"
    return {unit: tuple(pair) for unit, pair in totals.items()}


def check_visible_tests_and_demos(course, student, assignment, submitted):
    """Nothing grading needs lives in the demo cells the autograder skips.

    In the autograded notebook of a correct submission no visible test cell (0 points) shows
    an error, and every demo cell has its original code back, without outputs.
    """
    [path] = sorted((course.autograded / student / assignment).glob("*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") and not meta.get("points"):
            errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
            assert not errors, (assignment, student, meta.get("grade_id"), errors)
    demos = demo_cells(nb)
    assert demos, f"{assignment}: no demo cell found"
    originals = {c.metadata["nbgrader"]["grade_id"]: c.source for c in demo_cells(submitted)}
    for cell in demos:
        assert cell.source != DEMO_PLACEHOLDER and cell.source == originals[cell.metadata["nbgrader"]["grade_id"]]
        assert cell.outputs == [], (assignment, cell.metadata["nbgrader"]["grade_id"])


@pytest.fixture(scope="module")
def chapter_batch(tmp_path_factory):
    if not CHAPTERS:
        pytest.skip("no chapter has a student version yet (make student)")
    return grade_chapters(tmp_path_factory.mktemp("chapters"), full=True)


def test_every_chapter_grades_blank_zero_filled_full_wrong_less_correct_full(chapter_batch):
    check_batch(*chapter_batch)
