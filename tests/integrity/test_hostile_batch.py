"""Level 2: hostile submissions graded end to end by the pipeline, in one batch.

One scratch course grades chapter 2 (Adam) for an honest correct student, an
honest wrong student, one student per attack on the verdict and one student
running every attack on the machine in turn (tests/integrity/
hostile_submissions.py), with the sandbox on and 2 jobs. Every attack must earn
0 points on every graded cell, the attacks on the machine must have been
stopped by the sandbox, and the honest students must get their expected
scores: full marks, and full marks less the cells that detect a misplaced eps.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from integrity.hostile_submissions import (
    BATCH_ATTACKS, cheating_attacks, combined_machine_attack, machine_attacks,
)
from integrity.integrity_helpers import GRADING_SEED, REPO, failing_cells

pytest.importorskip("course_grader.pipeline.batch", reason="the autograding pipeline is not there yet")
from course_grader.pipeline import scratch  # noqa: E402
from course_grader.pipeline.batch import grade_course  # noqa: E402
from course_grader.pipeline.submission import Settings  # noqa: E402
from nbgrader.api import Gradebook  # noqa: E402

ASSIGNMENT = "02_adam"
FIXTURES = REPO / "tests" / "fixtures" / "implementations" / ASSIGNMENT
#: the honest wrong student: eps inside the square root (a classic slip)
HONEST_WRONG = FIXTURES / "wrong_eps_inside_sqrt.py"
HONEST_CORRECT = FIXTURES / "correct_in_place.py"
#: the graded cells that see eps inside the root with the batch's seed (always the large-eps one)
EPS_CELLS = failing_cells(ASSIGNMENT, HONEST_WRONG, "AdamOptimizer") if HONEST_WRONG.exists() else set()

pytestmark = pytest.mark.usefixtures("sandbox_available")


def unverified_cells(source: Path) -> set[str]:
    """Graded test cells that call no ``check(...)``: decided in the student's kernel alone."""
    unverified = set()
    for path in source.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = _nbgrader(cell)
            if meta.get("grade") and not meta.get("solution") and "check(" not in cell.source:
                unverified.add(meta["grade_id"])
    return unverified


@dataclass
class Graded:
    """What the batch gave one student: per-cell points, status, and the autograded notebook."""

    scores: dict[str, float]
    max_scores: dict[str, float]
    status: str
    reason: str
    outputs: str

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def lean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop the ungraded demonstration cells (students may delete them): faster grading."""
    nb = copy.deepcopy(nb)
    nb.cells = [
        c for c in nb.cells
        if c.cell_type != "code" or _nbgrader(c).get("grade") or _nbgrader(c).get("solution")
        or _nbgrader(c).get("grade_id") == "setup"
    ]
    return nb


def tampered(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook file itself attacked: test cells emptied and re-weighted, no longer graded."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("grade") and not meta.get("solution"):
            cell.source = 'print("all tests passed")'
            meta["points"] = 100
            meta["locked"] = False
    return nb


def read_results(course: scratch.Course, student: str, report) -> Graded:
    result = next(r for r in report.results if r.student == student)
    scores, max_scores = {}, {}
    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            submission = gb.find_submission(ASSIGNMENT, student)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell_type != "code":  # a written answer: graded by hand, not by the checks
                        continue
                    scores[grade.name] = grade.score
                    max_scores[grade.name] = grade.max_score
        except Exception:  # not in the gradebook: ungraded, 0 points
            pass
    outputs = []
    for path in (course.autograded / student / ASSIGNMENT).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                outputs.append(output.get("text", "") or output.get("evalue", ""))
    return Graded(scores, max_scores, result.status, result.reason, "\n".join(outputs))


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, host_server: int) -> dict[str, Graded]:
    if not (REPO / "solutions" / ASSIGNMENT).is_dir() or not HONEST_WRONG.exists():
        pytest.skip(f"solutions/{ASSIGNMENT} or its fixture implementations are missing")
    root = tmp_path_factory.mktemp("hostile")
    source = root / "source"
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, source / ASSIGNMENT)
    course = scratch.new_course(root / "course", source=source)
    settings = Settings(timeout=30, sandbox=True, check_seed=GRADING_SEED)
    # Submissions start from the source notebook: nbgrader restores every test cell from the
    # gradebook, so what a submission holds in its test cells does not matter. This saves a
    # pipeline run to generate the student version first.
    name = next((source / ASSIGNMENT).glob("*.ipynb")).stem
    full = lean(scratch.source_notebook(course, ASSIGNMENT, name))
    cheats = cheating_attacks()
    submissions = {
        "honest_correct": scratch.with_class(full, "AdamOptimizer", HONEST_CORRECT.read_text()),
        "honest_wrong": scratch.with_class(full, "AdamOptimizer", HONEST_WRONG.read_text()),
        "machine_attacks": scratch.with_class(
            full, "AdamOptimizer", combined_machine_attack(REPO, host_server)),
        "fake_output_tampered_notebook": tampered(
            scratch.with_class(full, "AdamOptimizer", cheats["fake_passing_output"])),
    }
    for attack in BATCH_ATTACKS:
        submissions[attack] = scratch.with_class(full, "AdamOptimizer", cheats[attack])
    for student, nb in submissions.items():
        scratch.submit(course, student, ASSIGNMENT, nb, f"{name}.ipynb")
    report = grade_course(course, settings, jobs=2, log=lambda line: None)
    graded = {student: read_results(course, student, report) for student in submissions}
    return graded


def test_honest_correct_student_gets_full_marks(batch: dict[str, Graded]) -> None:
    correct = batch["honest_correct"]
    assert correct.status == "graded", correct.reason
    assert correct.scores and correct.scores == correct.max_scores


def test_honest_wrong_student_loses_exactly_the_cells_that_see_eps(batch: dict[str, Graded]) -> None:
    wrong = batch["honest_wrong"]
    assert wrong.status == "graded", wrong.reason
    lost = {cell for cell, score in wrong.scores.items() if score < wrong.max_scores[cell]}
    assert "hidden_large_eps" in EPS_CELLS
    assert lost == EPS_CELLS, (lost, wrong.outputs[-3000:])


ATTACKS = ["machine_attacks", "fake_output_tampered_notebook", *BATCH_ATTACKS]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_earns_no_points(batch: dict[str, Graded], attack: str) -> None:
    graded = batch[attack]
    earned = {cell: score for cell, score in graded.scores.items() if score}
    unverified = unverified_cells(REPO / "solutions" / ASSIGNMENT)
    if earned and set(earned) <= unverified:
        # A known gap outside this suite: these cells grade with plain asserts in the kernel.
        pytest.xfail(
            f"{attack} earned points only in graded cells without a check() call, which the "
            f"isolated judge cannot verify: {sorted(earned)}; every graded cell of "
            f"solutions/{ASSIGNMENT} must call check(...) or carry 0 points"
        )
    assert earned == {}, f"{attack} earned points: {earned} ({graded.status}: {graded.reason})"


@pytest.mark.parametrize("attack", list(machine_attacks(REPO, 0)))
def test_sandbox_stopped_the_attack(batch: dict[str, Graded], attack: str) -> None:
    outputs = batch["machine_attacks"].outputs
    lines = [line for line in outputs.splitlines() if line.startswith(f"ATTACK {attack}:")]
    assert lines, f"{attack} left no trace in its notebook: {outputs[-500:]}"
    assert all("blocked" in line for line in lines), lines
