"""Grade one submission with nbgrader's Python API: stage, autograde, read back, feedback.

A pool worker imports nbgrader once and calls :func:`grade_submission` for each submission
it is given: one kernel start per notebook, no Python start-up per command.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, GetGrades, IgnorePattern, LimitOutput, SaveAutoGrades,
)
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from . import isolation
from .course import Course
from .preprocessors import (
    HideHiddenTests, IsolatedVerdict, LimitOutputSize, PassingTestStderr, RobustExecute,
)
from .repair import SubmissionError, locate_notebooks, read_notebook, restore_metadata

#: statuses that leave the submission out of the gradebook (score 0, reported with a reason)
UNGRADED = ("missing_notebook", "invalid_notebook", "failed")


@dataclass(frozen=True)
class Settings:
    """How a batch is graded.

    Attributes:
        timeout: seconds one cell may run before it is interrupted (0 point for that cell).
        sandbox: run kernels and the judge inside the sandbox.
        judge_timeout: seconds the isolated judge may take to start its worker (which runs
            the solution cells) and for each check; default ``max(30, 2 * timeout)``.
        isolated_verdict: decide the checks in the isolated judge (the notebook's kernel then
            skips them: ``check(...)`` only prints that the judge grades it).
        skip_demo_cells: do not run the instructor's demonstration cells (locked, neither
            graded nor solution, after the setup cell); their code is kept, without outputs.
        check_seed: the seed the judge draws the checks' secret inputs from; ``None`` lets
            :func:`~course_lib.autograding.pipeline.grade_course` use the course's own
            (created on its first grading, see ``course_check_seed``).
    """

    timeout: int = 30
    sandbox: bool = True
    judge_timeout: float | None = None
    isolated_verdict: bool = True
    skip_demo_cells: bool = True
    check_seed: int | None = None


@dataclass
class Result:
    """What grading one submission gave (one row of grades.csv, before the gradebook columns)."""

    student: str
    assignment: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def nbgrader_config(course: Course, settings: Settings, db_url: str, **course_dir: str) -> Config:
    """The nbgrader configuration of a batch: the course's own settings plus the pipeline's."""
    c = Config()
    c.merge(course.config)
    cd = c.CourseDirectory
    cd.root = str(course.root)
    cd.course_id = course.course_id
    cd.source_directory = str(course.source)
    cd.release_directory = str(course.release)
    cd.submitted_directory = str(course.staging)
    cd.autograded_directory = str(course.autograded)
    cd.feedback_directory = str(course.feedback)
    cd.db_url = db_url
    for key, value in course_dir.items():
        setattr(cd, key, value)
    c.Execute.timeout = int(settings.timeout)
    c.RobustExecute.timeout = int(settings.timeout)
    c.RobustExecute.error_on_timeout = {
        "ename": "CellTimeoutError",
        "evalue": f"the cell ran longer than {settings.timeout} s and was interrupted (0 points for it)",
        "traceback": [f"CellTimeoutError: the cell ran longer than {settings.timeout} s and was interrupted"],
    }
    c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--log-level=ERROR"]
    if settings.sandbox:
        c.RobustExecute.kernel_manager_class = isolation.kernel_manager_class()
    # With the judge on, it alone decides the checks: the kernel skips them (check() prints one
    # line, IsolatedVerdict writes the verdict) and the instructor's demo cells are not run.
    c.RobustExecute.defer_checks = settings.isolated_verdict
    c.RobustExecute.skip_demo_cells = settings.skip_demo_cells
    c.RobustExecute.judge_in_parallel = settings.isolated_verdict  # the judge runs while the kernel does
    c.IsolatedVerdict.enabled = settings.isolated_verdict
    c.IsolatedVerdict.use_sandbox = settings.sandbox
    c.IsolatedVerdict.judge_timeout = float(settings.judge_timeout or max(30, 2 * settings.timeout))
    c.IsolatedVerdict.cell_timeout = float(settings.timeout)
    c.IsolatedVerdict.check_seed = settings.check_seed
    c.PassingTestStderr.enabled = True
    c.Autograde.autograde_preprocessors = [
        RobustExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, LimitOutputSize,
        PassingTestStderr, IsolatedVerdict, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
    c.HTMLExporter.template_name = "feedback"
    return c


def _run(converter_class: type, config: Config, logger: logging.Logger, **attrs) -> None:
    coursedir = CourseDirectory(config=config, log=logger)
    converter = converter_class(coursedir=coursedir, config=config, log=logger)
    for name, value in attrs.items():
        setattr(converter, name, value)
    converter.start()


def generate_release(course: Course, assignment: str, db_url: str, settings: Settings) -> str:
    """Record an assignment's cells in the gradebook and regenerate its student version.

    The student version goes to the pipeline's own release folder (never ``notebooks/``):
    it is what submissions are compared with when their metadata must be restored.

    Returns:
        The captured log (warnings and errors).
    """
    logger, stream = _capture_logger(f"release.{assignment}")
    config = nbgrader_config(course, settings, db_url, assignment_id=assignment)
    _run(GenerateAssignment, config, logger, force=True, create_assignment=True)
    return stream.getvalue()


def _capture_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(f"course_lib.autograding.{name}")
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.handlers[0].setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    return logger, stream


def _last_error(log: str) -> str:
    """The most telling line of an nbgrader error log (the exception line of its traceback)."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("[ERROR]") and ("Error" in ln or "Exception" in ln) and "There was an error" not in ln \
                and "Please see" not in ln:
            return ln.removeprefix("[ERROR] ")
    tracebacks = [ln for ln in lines if not ln.startswith("[") and ":" in ln and ("Error" in ln or "Exception" in ln)]
    return tracebacks[-1] if tracebacks else (lines[-1] if lines else "nbgrader failed without a message")


def stage(course: Course, student: str, assignment: str) -> tuple[dict[str, str], list[str], str]:
    """Copy a submission to the staging folder, with notebooks located, read and repaired.

    Returns:
        ``(status_by_problem, notes, staged_folder)``: problems maps a status to its reason
        (``missing_notebook``, ``invalid_notebook``) for notebooks that could not be staged.

    Raises:
        SubmissionError: when no notebook at all can be graded.
    """
    folder = course.submitted / student / assignment
    release = course.release / assignment
    expected = sorted(p.stem for p in release.glob("*.ipynb"))
    target = course.staging / student / assignment
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for item in folder.iterdir():  # data files, timestamp.txt
        if item.suffix != ".ipynb" and item.is_file():
            shutil.copy2(item, target / item.name)

    located = locate_notebooks(folder, expected)
    notes = list(located.notes)
    problems: dict[str, str] = {}
    if located.missing:
        present = ", ".join(p.name for p in folder.glob("*.ipynb")) or "no .ipynb file"
        problems["missing_notebook"] = (
            f"missing {', '.join(n + '.ipynb' for n in located.missing)} (found: {present})")
    staged = 0
    for name, path in located.notebooks.items():
        try:
            nb = read_notebook(path)
        except SubmissionError as error:
            problems[error.status] = error.reason
            continue
        notes += restore_metadata(nb, nbformat.read(release / f"{name}.ipynb", as_version=4))
        nbformat.write(nb, target / f"{name}.ipynb")
        staged += 1
    if staged == 0:
        status, reason = next(iter(problems.items())) if problems else ("missing_notebook", "no notebook")
        raise SubmissionError(status, reason)
    return problems, notes, str(target)


def grade_submission(course: Course, student: str, assignment: str, settings: Settings, db_url: str) -> Result:
    """Autograde one submission and write its feedback; never raises for a student's mistake.

    Returns:
        The status (``graded``, ``timeout``, ``kernel_died``, ``missing_notebook``,
        ``invalid_notebook``, ``failed``) and a reason a person can act on.
    """
    start = time.perf_counter()
    result = Result(student, assignment, "graded")
    try:
        problems, notes, staged = stage(course, student, assignment)
    except SubmissionError as error:
        result.status, result.reason = error.status, error.reason
        result.seconds = time.perf_counter() - start
        return result
    result.notes = notes

    logger, stream = _capture_logger(f"grade.{student}.{assignment}")
    config = nbgrader_config(course, settings, db_url, assignment_id=assignment, student_id=student)
    config.IsolatedVerdict.workdir = str(Path(staged) / ".judge")
    try:
        _run(Autograde, config, logger, force=True, create_student=True)
    except Exception as error:  # nbgrader reports a failed notebook by raising at the end
        result.status = "failed"
        result.reason = f"nbgrader autograde failed: {_last_error(stream.getvalue()) or error}"
        result.seconds = time.perf_counter() - start
        return result

    status, findings = read_back(course.autograded / student / assignment)
    if problems:  # e.g. one notebook of several was invalid: graded, but say so first
        status = next(iter(problems))
        findings = list(problems.values()) + findings
    result.status = status
    try:
        _run(GenerateFeedback, config, logger, force=True)
    except Exception:
        findings.append(f"feedback not generated: {_last_error(stream.getvalue())}")
    result.reason = "; ".join(findings + notes)
    result.seconds = time.perf_counter() - start
    return result


def _names(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def read_back(folder: Path) -> tuple[str, list[str]]:
    """Status and findings read from the error outputs of an autograded submission."""
    status, findings = "graded", []
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        found: dict[str, list[str]] = {"timeout": [], "died": [], "isolated": [], "truncated": []}
        for index, cell in enumerate(nb.cells):
            where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"
            for output in cell.get("outputs", []):
                kind = output.get("output_type")
                ename = output.get("ename") if kind == "error" else None
                if ename == "CellTimeoutError":
                    found["timeout"].append(where)
                elif ename == "DeadKernelError":
                    found["died"].append(where)
                elif ename == "IsolatedCheckFailed" and cell.metadata.get("course_autograde", {}).get(
                        "kernel_passed"):
                    found["isolated"].append(where)
                elif kind == "stream" and "output truncated" in output.get("text", ""):
                    found["truncated"].append(where)
        if found["died"]:
            status = "kernel_died"
            findings.append(f"{path.stem}: the kernel died in {found['died'][0]}; later cells were not run")
        if found["timeout"]:
            status = "timeout" if status == "graded" else status
            findings.append(f"{path.stem}: interrupted at the time limit: {_names(found['timeout'])}")
        if found["isolated"]:
            findings.append(f"{path.stem}: {_names(found['isolated'])} passed in the kernel but failed "
                            "in the isolated judge")
        if found["truncated"]:
            findings.append(f"{path.stem}: output of {_names(found['truncated'])} truncated")
    return status, findings


def drop_from_gradebook(course: Course, db_url: str, student: str, assignment: str) -> None:
    """Forget an earlier grade of a submission that can no longer be graded (and its outputs)."""
    with Gradebook(db_url, course.course_id) as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass
    for base in (course.autograded, course.feedback):
        path = base / student / assignment
        if path.exists():
            for root, dirs, files in os.walk(path):
                os.chmod(root, 0o755)
                for name in files:
                    os.chmod(os.path.join(root, name), 0o644)
            shutil.rmtree(path, ignore_errors=True)


def init_worker() -> None:
    """Pool initializer (the imports of this module are the expensive part): keep the worker quiet.

    nbgrader's own autograde emits SQLAlchemy warnings about objects not in the session when
    it creates a submission; they are harmless and would drown the progress lines.
    """
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=SAWarning)


def grade_job(job: tuple) -> dict:
    """Pool entry point: ``job = (course, student, assignment, settings, db_url)`` -> ``Result`` as a dict."""
    course, student, assignment, settings, db_url = job
    try:
        return grade_submission(course, student, assignment, settings, db_url).to_dict()
    except Exception as error:  # an infrastructure failure: report it, keep the batch going
        return Result(student, assignment, "failed", f"grading crashed: {error!r}").to_dict()


