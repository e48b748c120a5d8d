"""nbgrader preprocessors the course adds to ``autograde`` and ``generate_feedback``.

Autograde pipeline (after the sanitizing steps)::

    RobustExecute -> IgnorePattern -> ClearMetadataPreprocessor -> LimitOutput -> LimitOutputSize
    -> PassingTestStderr -> IsolatedVerdict -> SaveAutoGrades -> CheckCellMetadata

(no ``AssignLatePenalties``: late penalties are the course policy's, applied to the gradebook
after grading by :mod:`course_grader.pipeline.late_policy`, whatever nbgrader's
``LateSubmissionPlugin`` is set to)

Feedback pipeline::

    HideHiddenTests -> GetGrades -> SanitizeFeedback -> CSSHTMLHeaderPreprocessor

Budgets of one notebook (``RobustExecute``): its kernel runs in a fresh working folder of its
own (never the autograded folder, which nbgrader copies and chmods), for at most
``notebook_timeout`` seconds in total, and is stopped when that folder holds more than
``max_write_files`` entries or ``max_write_bytes`` bytes.

While the pipeline grades (``RobustExecute.defer_checks``), a hidden test cell's
``check(...)`` does not run in the kernel: it prints ``<id>: (graded by the isolated grader)``
and ``IsolatedVerdict`` writes the judge's verdict into the cell. The instructor's
demonstration cells are not run (``RobustExecute.skip_demo_cells``).

Outputs added by these steps use their own error names, which the grade report reads back
from the autograded notebook: ``CellTimeoutError`` (nbgrader's), ``DeadKernelError``,
``KernelDiedEarlier``, ``IsolatedCheckFailed``, ``NotebookTimeBudgetExceeded``,
``DiskBudgetExceeded``.
"""
from __future__ import annotations

import base64
import binascii
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from course_grader.pipeline import check_outcomes, feedback_math, isolation
from course_grader.sandbox import safefs
from course_grader.pipeline.feedback_html import clean_html

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
#: what ``course_lib.checks.check`` prints instead of running a check the judge will decide
#: (``course_lib.checks.local.DEFERRED_MARK``)
DEFERRED_MARK = "(graded by the isolated grader)"
#: the kernel environment variable that makes ``check`` defer to the judge (with nbgrader's
#: ``NBGRADER_EXECUTION=autograde``)
DEFER_ENV = "COURSE_ISOLATED_JUDGE"
#: the source a skipped demonstration cell is run with
DEMO_PLACEHOLDER = "# (demo cell: not run when grading)"
END_HIDDEN = "END HIDDEN TESTS"
#: error name of a cell interrupted, or not run, because the notebook used up its total time
TIME_BUDGET_ERROR = "NotebookTimeBudgetExceeded"
#: error name of the cell during which the kernel was stopped for writing too much
DISK_BUDGET_ERROR = "DiskBudgetExceeded"


def _output_size(output: NotebookNode) -> int:
    kind = output.get("output_type")
    if kind == "stream":
        return len(output.get("text", ""))
    if kind == "error":
        return len(str(output.get("evalue", ""))) + sum(len(line) for line in output.get("traceback", []))
    return sum(len(str(v)) for v in output.get("data", {}).values())


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An nbformat error output with a one-line traceback (what the feedback shows)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def is_graded_test(cell: NotebookNode) -> bool:
    """A code cell that earns points by running (a grade cell that is not a solution)."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def has_error(cell: NotebookNode) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def demo_cells(nb: NotebookNode) -> list[NotebookNode]:
    """The instructor's demonstration cells: locked code cells that are neither graded nor solutions.

    The first code cell carrying nbgrader metadata (the setup cell with the imports) is not
    one of them; cells without nbgrader metadata (added by the student) never are.
    """
    found, setup_seen = [], False
    for cell in nb.cells:
        if cell.cell_type != "code" or "nbgrader" not in cell.get("metadata", {}):
            continue
        if not setup_seen:
            setup_seen = True
            continue
        if utils.is_locked(cell) and not utils.is_grade(cell) and not utils.is_solution(cell):
            found.append(cell)
    return found


@contextmanager
def _environment(**values: str):
    """Set environment variables (inherited by the kernel started inside), restore them after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class RobustExecute(Execute):
    """nbgrader's ``Execute`` that survives a kernel dying (``os._exit``, a crash, the OOM killer).

    The cell that killed the kernel gets a ``DeadKernelError`` output and every later code
    cell a ``KernelDiedEarlier`` output, so that the notebook is still scored (0 points for
    everything from that cell on) instead of the whole submission failing.
    """

    skip_demo_cells = Bool(False, help=(
        "run the instructor's demonstration cells (locked, not graded, not solution, after the "
        "setup cell) as a one-line comment; their sources are restored after execution")).tag(config=True)
    defer_checks = Bool(False, help=(
        "start the kernel with COURSE_ISOLATED_JUDGE=1: check(...) then leaves the verdict to "
        "IsolatedVerdict, which must run after this step")).tag(config=True)

    judge_in_parallel = Bool(False, help=(
        "start the isolated judge (IsolatedVerdict, same configuration) in a thread before executing "
        "the notebook; IsolatedVerdict uses its verdicts if the sources it judged are unchanged")).tag(config=True)

    notebook_timeout = Float(0.0, help=(
        "seconds the whole notebook may run (kernel start and every cell); cells not finished by "
        "then get a NotebookTimeBudgetExceeded error (0 points). 0: no total limit")).tag(config=True)
    workdir = Unicode("", help=(
        "the kernel's working folder (created fresh, removed afterwards, never read back); the "
        "regular non-notebook files of the notebook's folder are copied into it. Empty: the "
        "notebook's own folder")).tag(config=True)
    max_write_bytes = Integer(0, help="bytes the kernel may store in its working folder (0: no limit)").tag(
        config=True)
    max_write_files = Integer(0, help="files and folders the kernel may create in its working folder (0: no limit)"
                              ).tag(config=True)
    watch_interval = Float(0.5, help="seconds between two looks at the working folder").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._died_in: str | None = None
        self._budget_error: tuple[str, str] | None = None
        self._cell_timeout = self.timeout
        self._deadline = time.monotonic() + self.notebook_timeout if self.notebook_timeout > 0 else None
        if resources is not None and self._deadline is not None:
            resources.setdefault("autograding", {})["deadline"] = self._deadline  # the judge's too
        if self.judge_in_parallel and resources is not None:
            IsolatedVerdict(config=self.config, log=self.log).start_early(nb, resources)
        skipped = demo_cells(nb) if self.skip_demo_cells else []
        originals = [cell.source for cell in skipped]
        for cell in skipped:
            cell.source = DEMO_PLACEHOLDER
        workdir, notebook_dir, stop, watcher = None, None, threading.Event(), None
        if self.workdir:
            if resources is None:
                resources = {}
            meta = resources.setdefault("metadata", {})
            notebook_dir = meta.get("path")
            workdir = self._prepare_workdir(Path(self.workdir), notebook_dir)
            meta["path"] = str(workdir)
            if self.max_write_bytes > 0 or self.max_write_files > 0:
                watcher = threading.Thread(target=self._watch, args=(workdir, stop), daemon=True,
                                           name="kernel-disk-budget")
                watcher.start()
        try:
            with _environment(**({DEFER_ENV: "1"} if self.defer_checks else {})):
                return super().preprocess(nb, resources, km)
        finally:
            self.timeout = self._cell_timeout
            stop.set()
            if watcher is not None:
                watcher.join()
            if workdir is not None:
                resources["metadata"]["path"] = notebook_dir
                safefs.remove_tree(workdir)
            for cell, source in zip(skipped, originals):
                cell.source = source
                cell.outputs = []
                cell.execution_count = None

    @staticmethod
    def _prepare_workdir(workdir: Path, notebook_dir: str | None) -> Path:
        """A fresh working folder holding copies of the notebook folder's regular data files."""
        safefs.fresh_dir(workdir)
        if notebook_dir:
            for entry in safefs.entries(Path(notebook_dir)):
                if entry.is_file and not entry.name.endswith(".ipynb"):
                    safefs.copy_regular(Path(notebook_dir) / entry.name, workdir / entry.name, 1 << 31)
        return workdir

    def _over_budget(self, workdir: Path) -> str | None:
        limit = self.max_write_files if self.max_write_files > 0 else 1 << 62
        files, size, problem = safefs.usage(workdir, limit)
        if problem:
            return f"the kernel's working folder cannot be counted: {problem}"
        if files > limit:
            return f"the kernel created more than {self.max_write_files} files in its working folder"
        if self.max_write_bytes > 0 and size > self.max_write_bytes:
            return (f"the kernel wrote more than {self.max_write_bytes / 2**20:g} MiB to its working folder "
                    f"({size / 2**20:.0f} MiB)")
        return None

    def _watch(self, workdir: Path, stop: threading.Event) -> None:
        """Stop the kernel as soon as its working folder is over the write budget."""
        while not stop.wait(self.watch_interval):
            try:
                why = self._over_budget(workdir)
            except OSError:
                continue
            if why:
                self._budget_error = (DISK_BUDGET_ERROR, f"stopped: {why}")
                self.log.warning("%s", why)
                process = getattr(getattr(getattr(self, "km", None), "provisioner", None), "process", None)
                if process is not None:
                    try:
                        process.kill()
                    except OSError:
                        pass
                return

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._died_in is not None:
            cell.outputs = [error_output(
                "KernelDiedEarlier", f"not run: the kernel died in an earlier cell ({self._died_in})")]
            return cell, resources
        limited_by_budget = False
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining < 1:
                cell.outputs = [error_output(TIME_BUDGET_ERROR, (
                    f"not run: the notebook used up its total time budget of {self.notebook_timeout:g} s"))]
                return cell, resources
            limited_by_budget = remaining < self._cell_timeout
            self.timeout = int(min(self._cell_timeout, math.ceil(remaining)))
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"
            if self._budget_error is not None:
                ename, message = self._budget_error
                self._died_in = f"{where}, {message}"
            else:
                ename = "DeadKernelError"
                message = "the kernel died while running this cell (os._exit, a crash or running out of memory)"
                self._died_in = where
            cell.outputs.append(error_output(ename, message))
            return cell, resources
        finally:
            self.timeout = self._cell_timeout
        if limited_by_budget:
            for i, output in enumerate(cell.outputs):
                if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                    cell.outputs[i] = error_output(TIME_BUDGET_ERROR, (
                        f"interrupted: the notebook ran past its total time budget of {self.notebook_timeout:g} s"))
        return cell, resources

    async def _async_cleanup_kernel(self) -> None:
        try:
            await super()._async_cleanup_kernel()
        except Exception as error:  # a dead kernel may refuse a clean shutdown
            self.log.warning("kernel cleanup failed: %r", error)


class LimitOutputSize(NbGraderPreprocessor):
    """Cap the characters of each cell's outputs (nbgrader's ``LimitOutput`` counts lines only).

    One ``print("x" * 20_000_000)`` is a single line; without this cap it would land, whole,
    in the autograded notebook and in the feedback HTML.
    """

    max_chars = Integer(20_000, help="characters of text output kept per cell").tag(config=True)
    max_data_bytes = Integer(2_000_000, help="bytes of rich output (images, HTML) kept per cell").tag(config=True)
    max_total_bytes = Integer(10 * 2**20, help=(
        "characters of output kept in the whole notebook; later outputs are dropped with a note")).tag(config=True)

    def preprocess(self, nb, resources):
        self._total = 0
        self._dropped = 0
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        cell, resources = self._limit_cell(cell, resources)
        size = sum(_output_size(o) for o in cell.outputs)
        total = getattr(self, "_total", 0)
        if self.max_total_bytes > 0 and total + size > self.max_total_bytes:
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=(
                f"... output dropped ({size} characters): the notebook's outputs passed "
                f"{self.max_total_bytes / 2**20:g} MiB (output truncated) ...\n"))]
            size = len(cell.outputs[0].text)
        self._total = total + size
        return cell, resources

    def _limit_cell(self, cell, resources):
        budget, data_budget = self.max_chars, self.max_data_bytes
        kept = []
        for output in cell.outputs:
            kind = output.get("output_type")
            if kind == "stream":
                text = output.get("text", "")
                if budget <= 0:
                    continue
                if len(text) > budget:
                    output.text = text[:budget] + f"\n... output truncated ({len(text) - budget} characters dropped) ...\n"
                budget -= len(text)
            elif kind == "error":
                output.evalue = str(output.get("evalue", ""))[: self.max_chars]
                output.traceback = [line[: self.max_chars] for line in output.get("traceback", [])][-200:]
            elif kind in ("display_data", "execute_result"):
                size = sum(len(str(v)) for v in output.get("data", {}).values())
                if size > data_budget:
                    plain = str(output.get("data", {}).get("text/plain", ""))[:1000]
                    output.data = {"text/plain": plain + f"\n... rich output dropped ({size} bytes) ..."}
                    size = len(output.data["text/plain"])
                data_budget -= size
            kept.append(output)
        cell.outputs = kept
        return cell, resources


class PassingTestStderr(NbGraderPreprocessor):
    """Keep a passing test cell's stderr (warnings) from costing its points.

    nbgrader scores a test cell 0 when it wrote anything to stderr, even when every check in
    it passed (a ``UserWarning`` raised by student code is enough). The course's tests fail
    by raising, so stderr of a test cell without an error output is moved to stdout.
    """

    def preprocess_cell(self, cell, resources, index):
        if self.enabled and is_graded_test(cell) and not has_error(cell):
            for output in cell.outputs:
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output.name = "stdout"
        return cell, resources


class IsolatedVerdict(NbGraderPreprocessor):
    """Decide every ``check("<id>", <Class>)`` of the graded test cells in the isolated judge.

    The judge executes the submission's solution cells in a fresh (sandboxed) worker and
    runs the checks from this trusted process. The verdict is the judge's alone:

    - a cell whose checks all passed in the judge (and whose kernel run raised nothing) gets
      its outputs replaced by one ``✓ <check id>: passed`` line per check;
    - a cell one of whose checks failed in the judge, or got no verdict (the judge could not
      run, or is not installed), gets an ``IsolatedCheckFailed`` error with the judge's
      message, so ``SaveAutoGrades`` gives it 0 points, whatever the kernel printed;
    - when the notebook's total time (``RobustExecute.notebook_timeout``, shared with the
      kernel) runs out before the judge answers, every check cell not already failed gets a
      ``NotebookTimeBudgetExceeded`` error (0 points);
    - a cell whose kernel run already raised keeps that error (0 points).

    Every cell's ``course_autograde`` metadata is removed first: the submitted file may hold a
    forged record (every check passed) that the class report would otherwise read.

    During the pipeline's autograde ``check(...)`` does not run in the kernel at all (it
    prints ``DEFERRED_MARK``); without the judge's pass no such cell earns points. Test cell
    sources are trusted here: ``OverwriteCells`` restored them from the gradebook.
    """

    judge_timeout = Float(120.0, help="seconds the judge may take for one notebook").tag(config=True)
    use_sandbox = Bool(True, help="run the judge's worker under the sandbox prefix").tag(config=True)
    warm_pool = Bool(True, help=("fork the judge's worker from a sandboxed server that has imported torch "
                                 "already (course_grader.sandbox.warm_pool); only with the sandbox")).tag(config=True)
    workdir = Unicode("", help="scratch folder for the judge (the notebook's folder if empty)").tag(config=True)

    check_seed = Integer(None, allow_none=True, help=(
        "seed of the checks' secret inputs (None: the public inputs students run)")).tag(config=True)
    cell_timeout = Float(30.0, help="seconds each cell may run in the judge's worker").tag(config=True)

    def _inputs(self, nb) -> tuple[list[NotebookNode], tuple[list[str], list[int]], list[tuple[str, str]]]:
        """The graded check cells, the cells the judge runs (and which were added) and the checks."""
        cells = [c for c in nb.cells if is_graded_test(c) and isolation.find_checks(c.source)]
        checks = list(dict.fromkeys(chk for c in cells for chk in isolation.find_checks(c.source)))
        return cells, isolation.graded_sources(nb), checks

    def _run_judge(self, judge, sources, checks, resources) -> tuple[dict, str | None]:
        workdir = self.workdir or resources.get("metadata", {}).get("path") or "."
        code, added = sources
        try:
            Path(workdir).mkdir(parents=True, exist_ok=True)
            overlays = isolation.worker_overlays(judge, checks)
            prefix = isolation.command_prefix(Path(workdir), overlays=overlays, private=True) if self.use_sandbox else None
            use_pool = self.use_sandbox and self.warm_pool
            spawn = isolation.warm_spawner(overlays, cold_first=True) if use_pool else None
            return judge.judge(code, checks, command_prefix=prefix, timeout=self.judge_timeout, cwd=workdir,
                               added=added, seed=self.check_seed, cell_timeout=self.cell_timeout,
                               **({"spawn": spawn} if spawn else {})), None
        except Exception as error:  # never credit what could not be verified
            judge_error = f"the isolated judge could not run: {error!r}"
            self.log.error(judge_error)
            return {}, judge_error

    def start_early(self, nb, resources) -> None:
        """Start judging ``nb`` in a thread (while its kernel runs); ``preprocess`` picks the result up.

        The judge needs only the solution sources and the trusted test cells, both final before
        execution. ``preprocess`` uses these verdicts only for exactly the same sources and checks.
        """
        cells, sources, checks = self._inputs(nb)
        judge = isolation.load_judge()
        if not self.enabled or not cells or judge is None:
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isolated-judge")
        future = pool.submit(self._run_judge, judge, sources, checks, resources)
        pool.shutdown(wait=False)
        resources.setdefault("autograding", {})["early_judge"] = (sources, checks, future)

    def preprocess(self, nb, resources):
        for cell in nb.cells:  # the record is the grader's: whatever the submitted file held there goes
            cell.metadata.pop(check_outcomes.METADATA_KEY, None)
        early = resources.get("autograding", {}).pop("early_judge", None)
        cells, sources, checks = self._inputs(nb)
        if not self.enabled or not cells:
            return nb, resources
        judge = isolation.load_judge()
        verdicts, judge_error = {}, None
        if judge is None:
            deferred = [c for c in cells if _deferred(c)]
            if not deferred:
                self.log.warning("isolated judge unavailable (course_grader.judge.trusted): kernel verdicts only")
                resources.setdefault("autograding", {})["judge"] = "unavailable"
                return nb, resources
            judge_error = "the isolated judge is not installed (course_grader.judge.trusted): no verdict"
            self.log.error(judge_error)
        else:
            if early is not None and early[0] == sources and early[1] == checks:
                future = early[2]
            else:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isolated-judge")
                future = pool.submit(self._run_judge, judge, sources, checks, resources)
                pool.shutdown(wait=False)
            deadline = resources.get("autograding", {}).get("deadline")
            try:
                verdicts, judge_error = future.result(
                    timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                # The judge shares the notebook's total time; it stops on its own timeouts.
                verdicts, judge_error = {}, None
                over_budget = "no verdict: the isolated judge did not finish within the notebook's total time budget"
                self.log.error(over_budget)
                for cell in cells:
                    if not has_error(cell):
                        cell.outputs = [error_output(TIME_BUDGET_ERROR, over_budget)]
                    _record(cell, {}, _kernel_error(cell) or over_budget)
                return nb, resources
        disagreements = []
        for cell in cells:
            _record(cell, verdicts, _kernel_error(cell) or judge_error)
            if has_error(cell):
                continue  # the kernel already failed it (0 points); the student sees that message
            kernel_ran_checks = not _deferred(cell)
            passed = []
            for check_id, _ in isolation.find_checks(cell.source):
                verdict = verdicts.get(check_id)
                if verdict is None or not verdict.passed:
                    message = judge_error or (verdict.message if verdict else f"no verdict for {check_id}")
                    cell.outputs = [error_output("IsolatedCheckFailed", message)]
                    if kernel_ran_checks:  # the kernel said yes, the judge no: worth a line in the report
                        cell.metadata.setdefault("course_autograde", {})["kernel_passed"] = True
                        disagreements.append(check_id)
                    break
                passed.append(check_id)
            else:
                cell.outputs = [NotebookNode(output_type="stream", name="stdout",
                                             text="".join(f"✓ {check_id}: passed\n" for check_id in passed))]
        resources.setdefault("autograding", {})["isolated_failed"] = disagreements
        return nb, resources


def _kernel_error(cell: NotebookNode) -> str | None:
    """``"<error name>: <value>"`` of the first error the cell's kernel run raised, or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', '')}: {output.get('evalue', '')}"
    return None


def _record(cell: NotebookNode, verdicts: dict, error: str | None) -> None:
    """Record every check of ``cell`` (:mod:`~course_grader.pipeline.check_outcomes`): the judge's
    verdict, or ``error`` (the kernel's, the judge's, the time budget's) which fails them all."""
    outcomes = []
    for check_id, _ in isolation.find_checks(cell.source):
        verdict = verdicts.get(check_id)
        if error is not None or verdict is None:
            outcomes.append(check_outcomes.from_message(check_id, False, error or f"no verdict for {check_id}"))
        else:
            outcomes.append(check_outcomes.from_message(check_id, verdict.passed, verdict.message))
    check_outcomes.record(cell, outcomes)


def _deferred(cell: NotebookNode) -> bool:
    """Whether the kernel left this cell's checks to the judge (printed ``DEFERRED_MARK``)."""
    return any(o.get("output_type") == "stream" and DEFERRED_MARK in o.get("text", "")
               for o in cell.get("outputs", []))


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback step: show that a hidden check ran and how it ended, never its code.

    The autograded notebook holds the hidden tests (restored from the gradebook). In each
    cell, the region between ``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS`` becomes one line
    per check, ``# hidden test: <check id>``, and error tracebacks of such cells (which quote
    the failing line) are cut to ``<error name>: <message>``.
    """

    def preprocess_cell(self, cell, resources, index):
        if BEGIN_HIDDEN not in cell.source:
            return cell, resources
        lines, region, kept = cell.source.split("\n"), None, []
        for line in lines:
            if BEGIN_HIDDEN in line:
                region = []
            elif END_HIDDEN in line and region is not None:
                ids = [check_id for check_id, _ in isolation.find_checks("\n".join(region))]
                indent = re.match(r"\s*", line).group(0)
                kept.extend([f"{indent}# hidden test: {i}" for i in ids] or [f"{indent}# hidden tests (not shown)"])
                region = None
            elif region is not None:
                region.append(line)
            else:
                kept.append(line)
        if region is not None:  # unterminated region: hide the rest
            kept.append("# hidden tests")
        cell.source = "\n".join(kept)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output.traceback = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


#: output types a feedback page shows (each rendered escaped, cleaned or as checked base64)
FEEDBACK_MIMETYPES = ("text/plain", "text/latex", "text/html", "text/markdown", "image/png", "image/jpeg")
#: characters of one markdown or raw cell, or of one rich text output, that a feedback page renders:
#: markdown and HTML rendering is superlinear in what one piece holds (a student's 300 KB of unclosed
#: maths delimiters cost the grading process minutes); the course's own cells hold under 4,000.
FEEDBACK_TEXT_CHARS = 64 * 1024
_CUT_NOTE = "\n\n*[{} more characters not shown in the feedback page]*\n"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.+ ()-]{0,60}$")
#: keys nbformat requires of the notebook metadata SanitizeFeedback keeps (else it drops the whole entry)
_REQUIRED_METADATA = {"kernelspec": ("name", "display_name"), "language_info": ("name",)}


def _within_budget(text: str) -> str:
    """``text`` cut to :data:`FEEDBACK_TEXT_CHARS`, saying how much was left out."""
    if len(text) <= FEEDBACK_TEXT_CHARS:
        return text
    return text[:FEEDBACK_TEXT_CHARS] + _CUT_NOTE.format(len(text) - FEEDBACK_TEXT_CHARS)


def _is_base64(text) -> bool:
    try:
        base64.b64decode("".join(str(text).split()), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


class SanitizeFeedback(NbGraderPreprocessor):
    """Feedback step: keep only what the feedback page can show without running student code.

    - notebook metadata: only ``kernelspec`` and ``language_info`` (no widget state, which
      nbconvert would load with scripts), with plain values, and only when what nbformat
      requires of them is left (a notebook nbformat refuses gets no feedback page at all);
    - cells: no attachments; metadata reduced to ``nbgrader`` (and that only with a plain
      ``grade_id``); ids and execution counts that are not plain are dropped;
    - code outputs: streams and errors (escaped by the template); rich outputs reduced to
      :data:`FEEDBACK_MIMETYPES`, ``text/html`` cleaned with :func:`clean_html`, PNG/JPEG
      kept only as valid base64, no output metadata (sizes, file names);
    - maths: the page's budget of TeX converted to MathML opened (:func:`~course_grader.pipeline.feedback_math.start_page`);
    - raw cells: cleaned with :func:`clean_html`. Markdown cells are cleaned after rendering
      by the course's template;
    - size: a markdown or raw cell, and a rich text output, beyond :data:`FEEDBACK_TEXT_CHARS`
      is cut there with a note saying how much was left out (the page's rendering time stays
      bounded whatever a student writes).
    """

    def preprocess(self, nb, resources):
        feedback_math.start_page()  # this notebook's page converts its own bounded share of TeX
        kept = NotebookNode()
        for key in ("kernelspec", "language_info"):
            value = nb.metadata.get(key)
            if isinstance(value, dict):  # plain names and versions only (they reach the page's markup)
                plain = NotebookNode({k: v for k, v in value.items() if isinstance(v, str) and _PLAIN_VALUE.match(v)})
                if all(name in plain for name in _REQUIRED_METADATA[key]):  # else the notebook would be invalid
                    kept[key] = plain
        nb.metadata = kept
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        cell.pop("attachments", None)
        meta = cell.get("metadata", {}).get("nbgrader")
        keep = NotebookNode()
        if isinstance(meta, dict) and _SAFE_ID.match(str(meta.get("grade_id", "x"))):
            keep["nbgrader"] = meta
        cell.metadata = keep
        if "id" in cell and not _SAFE_ID.match(str(cell.id)):
            cell.id = f"cell-{index}"
        if cell.cell_type != "code":
            cell.source = _within_budget(str(cell.source))
        if cell.cell_type == "raw":
            cell.source = clean_html(cell.source)
        if cell.cell_type != "code":
            return cell, resources
        if not isinstance(cell.get("execution_count"), int) or isinstance(cell.get("execution_count"), bool):
            cell.execution_count = None
        kept = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                output.name = "stderr" if output.get("name") == "stderr" else "stdout"
                output.text = str(output.get("text", ""))
                kept.append(output)
                continue
            if kind == "error":
                kept.append(error_output(str(output.get("ename", "Error")), str(output.get("evalue", ""))) if not
                            isinstance(output.get("traceback"), list) else output)
                continue
            if kind not in ("display_data", "execute_result"):
                continue
            data = NotebookNode()
            for mimetype in FEEDBACK_MIMETYPES:
                value = output.get("data", {}).get(mimetype)
                if value is None:
                    continue
                if isinstance(value, list):
                    value = "".join(map(str, value))
                if mimetype.startswith("image/") and not _is_base64(value):
                    continue
                if not mimetype.startswith("image/"):
                    value = _within_budget(str(value))
                data[mimetype] = clean_html(value) if mimetype == "text/html" else str(value)
            if data:
                output.data = data
                output.metadata = NotebookNode()
                if kind == "execute_result" and not isinstance(output.get("execution_count"), int):
                    output.execution_count = None
                kept.append(output)
        cell.outputs = kept
        return cell, resources
