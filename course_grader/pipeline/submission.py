"""Grade one submission with nbgrader's Python API: stage, autograde, read back, feedback.

A pool worker imports nbgrader once and calls :func:`grade_submission` for each submission
it is given: one kernel start per notebook, no Python start-up per command. That is
:func:`stage` then :func:`grade_staged` (autograde, :func:`read_back`, :func:`generate_feedback`);
on a Dask cluster (``remote.py``) the instructor's machine stages and a worker runs
:func:`grade_staged` on a private copy.
"""
from __future__ import annotations

import io
import logging
import threading
import signal
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde, GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    CheckCellMetadata, GetGrades, IgnorePattern, LimitOutput, SaveAutoGrades,
)
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from course_grader.pipeline import feedback_html, isolation
from course_grader.sandbox import safefs
from course_grader.pipeline.course import Course
from course_grader.pipeline.preprocessors import (
    DISK_BUDGET_ERROR, TIME_BUDGET_ERROR, HideHiddenTests, IsolatedVerdict, LimitOutputSize, PassingTestStderr,
    RobustExecute, SanitizeFeedback,
)
from course_grader.pipeline.repair import SubmissionError, locate_notebooks, read_notebook, restore_metadata

#: statuses that leave the submission out of the gradebook (score 0, reported with a reason)
UNGRADED = ("missing_notebook", "invalid_notebook", "unsafe_notebook", "too_large", "invalid_name", "failed")


#: a folder holding every scratch course this process grades (a Dask worker's tasks): the kernels'
#: warm server then serves them all, instead of one server per course (each kernel still sees
#: only its own working folder); None: the course's own sandbox folder
KERNEL_POOL_ROOT: Path | None = None


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
            :func:`~course_grader.pipeline.batch.grade_course` use the course's own
            (created on its first grading, see ``course_check_seed``).
        notebook_timeout: seconds one notebook's kernel may run in total (its cells and the
            kernel start); cells not finished by then get 0 points. Default ``6 * timeout``.
        max_write_mb: MiB a kernel may write to its working folder (also the largest file it
            may write anywhere); past it the kernel is stopped.
        max_write_files: files and folders a kernel may create in its working folder.
        max_notebook_mb: largest submitted notebook (and any other submitted file) read.
        max_output_mb: outputs kept per notebook after execution (text and rich output
            together); what is past it is dropped with a note.
        warm_pool: fork the judge's workers from a sandboxed server that imported torch once
            (:mod:`course_grader.sandbox.warm_pool`) instead of starting a Python per notebook;
            grades are the same either way. Only with ``sandbox``.
    """

    timeout: int = 30
    sandbox: bool = True
    judge_timeout: float | None = None
    isolated_verdict: bool = True
    skip_demo_cells: bool = True
    check_seed: int | None = None
    notebook_timeout: float | None = None
    max_write_mb: int = 100
    max_write_files: int = 2000
    max_notebook_mb: int = 20
    max_output_mb: int = 10
    warm_pool: bool = True

    def __post_init__(self) -> None:
        for name in ("timeout", "max_write_mb", "max_write_files", "max_notebook_mb", "max_output_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.notebook_timeout is not None and not self.notebook_timeout > 0:
            raise ValueError(f"notebook_timeout must be > 0 seconds or None, got {self.notebook_timeout!r}")

    @property
    def notebook_seconds(self) -> float:
        """The total time one notebook's kernel may run."""
        return float(self.notebook_timeout or 6 * self.timeout)


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
    c.RobustExecute.notebook_timeout = settings.notebook_seconds
    c.RobustExecute.max_write_bytes = settings.max_write_mb * 2**20
    c.RobustExecute.max_write_files = settings.max_write_files
    c.LimitOutputSize.max_total_bytes = settings.max_output_mb * 2**20
    if settings.sandbox:
        c.RobustExecute.kernel_manager_class = isolation.kernel_manager_class()
        c.SandboxedKernelManager.file_size_mb = settings.max_write_mb
        if settings.warm_pool:  # kernels forked from a warm server that sees the course's sandbox folders
            shared = KERNEL_POOL_ROOT is not None and course.sandboxes.resolve().is_relative_to(KERNEL_POOL_ROOT)
            c.SandboxedKernelManager.pool_root = str(KERNEL_POOL_ROOT if shared else course.sandboxes)
    # With the judge on, it alone decides the checks: the kernel skips them (check() prints one
    # line, IsolatedVerdict writes the verdict) and the instructor's demo cells are not run.
    c.RobustExecute.defer_checks = settings.isolated_verdict
    c.RobustExecute.skip_demo_cells = settings.skip_demo_cells
    c.RobustExecute.judge_in_parallel = settings.isolated_verdict  # the judge runs while the kernel does
    c.IsolatedVerdict.enabled = settings.isolated_verdict
    c.IsolatedVerdict.use_sandbox = settings.sandbox
    c.IsolatedVerdict.warm_pool = settings.warm_pool
    c.IsolatedVerdict.judge_timeout = float(settings.judge_timeout or max(30, 2 * settings.timeout))
    c.IsolatedVerdict.cell_timeout = float(settings.timeout)
    c.IsolatedVerdict.check_seed = settings.check_seed
    c.PassingTestStderr.enabled = True
    c.Autograde.autograde_preprocessors = [
        RobustExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, LimitOutputSize,
        PassingTestStderr, IsolatedVerdict, SaveAutoGrades, CheckCellMetadata,
    ]
    c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, SanitizeFeedback, CSSHTMLHeaderPreprocessor]
    feedback_html.configure(c)
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
    logger = logging.getLogger(f"course_grader.{name}")
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


def stage(course: Course, student: str, assignment: str,
          settings: Settings = Settings()) -> tuple[dict[str, str], list[str], str]:
    """Copy a submission to the staging folder, with notebooks located, read and repaired.

    The submission folder is the student's: it is listed with ``lstat``, and only regular
    files with plain names are read (``O_NOFOLLOW``, checked with ``fstat``), up to
    ``settings.max_notebook_mb`` each. Links, devices, FIFOs, sockets, sub-folders and odd
    names are never followed or copied; an expected notebook that is one of them makes the
    submission ``unsafe_notebook``, any other one is listed under ``unsafe_files``.

    Returns:
        ``(status_by_problem, notes, staged_folder)``: problems maps a status to its reason
        (``missing_notebook``, ``invalid_notebook``, ``unsafe_files``) for what could not be
        staged.

    Raises:
        SubmissionError: when no notebook at all can be graded.
    """
    folder = course.submitted / student / assignment
    release = course.release / assignment
    expected = sorted(p.stem for p in release.glob("*.ipynb"))
    limit = settings.max_notebook_mb * 2**20
    target = safefs.fresh_dir(course.staging / student / assignment)

    listing = safefs.entries(folder)
    files: dict[str, safefs.Entry] = {}
    refused: list[str] = []
    unsafe_notebooks: list[str] = []
    for entry in listing:
        odd = safefs.odd_name(entry.name)
        if odd:
            refused.append(f"{safefs.shown(entry.name)!r} ({odd})")
        elif entry.is_dir:
            continue  # sub-folders are not part of a submission (never read)
        elif not entry.is_file:
            refused.append(f"{safefs.shown(entry.name)} ({entry.kind})")
            if entry.name.endswith(".ipynb"):
                unsafe_notebooks.append(f"{safefs.shown(entry.name)} is {entry.kind}")
        elif entry.size > limit:
            if entry.name.endswith(".ipynb"):
                raise SubmissionError("too_large", f"{safefs.shown(entry.name)} is larger than "
                                                   f"{settings.max_notebook_mb} MiB ({entry.size} bytes): not graded")
            refused.append(f"{safefs.shown(entry.name)} (larger than {settings.max_notebook_mb} MiB)")
        else:
            files[entry.name] = entry
    expected_unsafe = [why for why in unsafe_notebooks if why.split(" is ")[0].removesuffix(".ipynb") in expected]
    if expected_unsafe or (unsafe_notebooks and not any(n.endswith(".ipynb") for n in files)):
        raise SubmissionError("unsafe_notebook", f"{(expected_unsafe or unsafe_notebooks)[0]}: not read "
                                                 "(submit the notebook itself, not a link or a special file)")

    for name in files:  # data files, timestamp.txt
        if not name.endswith(".ipynb"):
            try:
                safefs.copy_regular(folder / name, target / name, limit)
            except (OSError, safefs.UnsafeEntry) as error:
                refused.append(f"{safefs.shown(name)} ({error})")

    located = locate_notebooks(folder, expected, present=[n for n in files if n.endswith(".ipynb")])
    notes = list(located.notes)
    problems: dict[str, str] = {}
    if located.missing:
        present = ", ".join(safefs.shown(n) for n in files if n.endswith(".ipynb")) or "no .ipynb file"
        problems["missing_notebook"] = (
            f"missing {', '.join(n + '.ipynb' for n in located.missing)} (found: {present})")
    staged = 0
    for name, path in located.notebooks.items():
        try:
            nb = read_notebook(path, max_bytes=limit)
        except SubmissionError as error:
            problems[error.status] = error.reason
            continue
        notes += restore_metadata(nb, nbformat.read(release / f"{name}.ipynb", as_version=4))
        nbformat.write(nb, target / f"{name}.ipynb")
        staged += 1
    if staged == 0:
        status, reason = next(iter(problems.items())) if problems else ("missing_notebook", "no notebook")
        raise SubmissionError(status, reason)
    if refused:
        problems["unsafe_files"] = f"not read: {', '.join(refused[:8])}" + (
            f" and {len(refused) - 8} more" if len(refused) > 8 else "")
    return problems, notes, str(target)


def grade_submission(course: Course, student: str, assignment: str, settings: Settings, db_url: str) -> Result:
    """Autograde one submission and write its feedback; never raises for a student's mistake.

    :func:`stage`, then :func:`grade_staged`: the same two steps a Dask worker runs on a
    private copy of the course (``course_grader/pipeline/dask_cluster.py``).

    Returns:
        The status (``graded``, ``timeout``, ``kernel_died``, ``missing_notebook``,
        ``invalid_notebook``, ``failed``) and a reason a person can act on.
    """
    start = time.perf_counter()
    try:
        problems, notes, _ = stage(course, student, assignment, settings)
    except SubmissionError as error:
        return Result(student, assignment, error.status, error.reason, seconds=time.perf_counter() - start)
    return grade_staged(course, student, assignment, settings, db_url, problems, notes, start=start)


def grade_staged(course: Course, student: str, assignment: str, settings: Settings, db_url: str,
                 problems: dict[str, str], notes: list[str], start: float | None = None) -> Result:
    """Autograde a submission already staged in ``course.staging``, read it back, write its feedback.

    Args:
        problems, notes: what :func:`stage` found (reported in the result's reason).
        start: ``time.perf_counter()`` when the submission's grading began (default: now).

    Returns:
        The result; ``failed`` when nbgrader could not autograde the submission.
    """
    start = time.perf_counter() if start is None else start
    result = Result(student, assignment, "graded", notes=notes)
    logger, stream = _capture_logger(f"grade.{student}.{assignment}")
    config = nbgrader_config(course, settings, db_url, assignment_id=assignment, student_id=student)
    # Folders a sandbox writes: fresh for each submission, outside every folder nbgrader reads,
    # copies or chmods, and removed afterwards without following anything in them.
    sandboxes = course.sandboxes / student / assignment
    for base in (course.autograded, course.feedback):  # outputs of an earlier run: links never followed
        safefs.remove_tree(base / student / assignment)
    config.IsolatedVerdict.workdir = str(safefs.fresh_dir(sandboxes / "judge"))
    config.RobustExecute.workdir = str(sandboxes / "kernel")
    try:
        try:
            _run(Autograde, config, logger, force=True, create_student=True)
        finally:
            try:
                safefs.remove_tree(sandboxes)
            except OSError as error:  # e.g. a judge worker still writing: removed on the next run
                notes.append(f"sandbox folder not removed yet: {error}")
    except Exception as error:  # nbgrader reports a failed notebook by raising at the end
        result.status = "failed"
        result.reason = f"nbgrader autograde failed: {_last_error(stream.getvalue()) or error}"
        result.seconds = time.perf_counter() - start
        return result

    status, findings = read_back(course.autograded / student / assignment)
    if problems:  # e.g. one notebook of several was invalid: graded, but say so first
        status = next(iter(problems)) if status == "graded" else status
        findings = list(problems.values()) + findings
    result.status = status
    trouble = generate_feedback(course, student, assignment, settings, db_url, logger, stream)
    if trouble:
        findings.append(f"feedback not generated: {trouble}")
    result.reason = "; ".join(findings + notes)
    result.seconds = time.perf_counter() - start
    return result


def generate_feedback(course: Course, student: str, assignment: str, settings: Settings, db_url: str,
                      logger: logging.Logger, stream: io.StringIO) -> str | None:
    """Write the feedback HTML of an autograded submission; what went wrong, or None.

    Feedback is built from the autograded notebook alone (no other file is copied).
    """
    feedback_config = nbgrader_config(course, settings, db_url, assignment_id=assignment, student_id=student)
    feedback_config.CourseDirectory.ignore = ["*"]
    try:
        _run(feedback_html.SafeGenerateFeedback, feedback_config, logger, force=True)
    except Exception:
        return _last_error(stream.getvalue())
    return None


def _names(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def read_back(folder: Path) -> tuple[str, list[str]]:
    """Status and findings read from the error outputs of an autograded submission."""
    status, findings = "graded", []
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        found: dict[str, list[str]] = {"timeout": [], "died": [], "isolated": [], "truncated": [],
                                       "time_budget": [], "disk_budget": []}
        for index, cell in enumerate(nb.cells):
            where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"
            for output in cell.get("outputs", []):
                kind = output.get("output_type")
                ename = output.get("ename") if kind == "error" else None
                if ename == "CellTimeoutError":
                    found["timeout"].append(where)
                elif ename == "DeadKernelError":
                    found["died"].append(where)
                elif ename == TIME_BUDGET_ERROR:
                    found["time_budget"].append(where)
                elif ename == DISK_BUDGET_ERROR:
                    found["disk_budget"].append((where, output.get("evalue", "")))
                elif ename == "IsolatedCheckFailed" and cell.metadata.get("course_autograde", {}).get(
                        "kernel_passed"):
                    found["isolated"].append(where)
                elif kind == "stream" and "output truncated" in output.get("text", ""):
                    found["truncated"].append(where)
        if found["disk_budget"]:
            status = "disk_budget"
            where, message = found["disk_budget"][0]
            findings.append(f"{path.stem}: {message} (in {where}); later cells were not run")
        if found["time_budget"]:
            status = "time_budget" if status == "graded" else status
            findings.append(f"{path.stem}: the notebook ran past its total time budget; not finished: "
                            f"{_names(found['time_budget'])}")
        if found["died"]:
            status = "kernel_died" if status == "graded" else status
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
    for base in (course.autograded, course.feedback, course.staging, course.sandboxes):
        safefs.remove_tree(base / student / assignment)


def init_worker() -> None:
    """Pool initializer (the imports of this module are the expensive part): keep the worker quiet.

    nbgrader's own autograde emits SQLAlchemy warnings about objects not in the session when
    it creates a submission; they are harmless and would drown the progress lines.
    """
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=SAWarning)
    exit_cleanly_on_sigterm()


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM ends this process through ``SystemExit``, so that its fork servers are stopped and
    their folders removed (the default action kills it on the spot and leaves them behind)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum, frame) -> None:  # noqa: ANN001
    raise SystemExit(128 + signum)


def grade_job(job: tuple) -> dict:
    """Pool entry point: ``job = (course, student, assignment, settings, db_url)`` -> ``Result`` as a dict."""
    course, student, assignment, settings, db_url = job
    try:
        return grade_submission(course, student, assignment, settings, db_url).to_dict()
    except Exception as error:  # an infrastructure failure: report it, keep the batch going
        return Result(student, assignment, "failed", f"grading crashed: {error!r}").to_dict()


