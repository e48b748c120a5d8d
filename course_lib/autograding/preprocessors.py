"""nbgrader preprocessors the course adds to ``autograde`` and ``generate_feedback``.

Autograde pipeline (after the sanitizing steps)::

    RobustExecute -> IgnorePattern -> ClearMetadataPreprocessor -> LimitOutput -> LimitOutputSize
    -> PassingTestStderr -> IsolatedVerdict -> SaveAutoGrades -> AssignLatePenalties -> CheckCellMetadata

Feedback pipeline::

    HideHiddenTests -> GetGrades -> CSSHTMLHeaderPreprocessor

While the pipeline grades (``RobustExecute.defer_checks``), a hidden test cell's
``check(...)`` does not run in the kernel: it prints ``<id>: (graded by the isolated grader)``
and ``IsolatedVerdict`` writes the judge's verdict into the cell. The instructor's
demonstration cells are not run (``RobustExecute.skip_demo_cells``).

Outputs added by these steps use their own error names, which the grade report reads back
from the autograded notebook: ``CellTimeoutError`` (nbgrader's), ``DeadKernelError``,
``KernelDiedEarlier``, ``IsolatedCheckFailed``.
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from . import isolation

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
#: what ``course_lib.grading.check`` prints instead of running a check the judge will decide
#: (``course_lib.grading.local.DEFERRED_MARK``)
DEFERRED_MARK = "(graded by the isolated grader)"
#: the kernel environment variable that makes ``check`` defer to the judge (with nbgrader's
#: ``NBGRADER_EXECUTION=autograde``)
DEFER_ENV = "COURSE_ISOLATED_JUDGE"
#: the source a skipped demonstration cell is run with
DEMO_PLACEHOLDER = "# (demo cell: not run when grading)"
END_HIDDEN = "END HIDDEN TESTS"


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

    def preprocess(self, nb, resources=None, km=None):
        self._died_in: str | None = None
        if self.judge_in_parallel and resources is not None:
            IsolatedVerdict(config=self.config, log=self.log).start_early(nb, resources)
        skipped = demo_cells(nb) if self.skip_demo_cells else []
        originals = [cell.source for cell in skipped]
        for cell in skipped:
            cell.source = DEMO_PLACEHOLDER
        try:
            with _environment(**({DEFER_ENV: "1"} if self.defer_checks else {})):
                return super().preprocess(nb, resources, km)
        finally:
            for cell, source in zip(skipped, originals):
                cell.source = source
                cell.outputs = []
                cell.execution_count = None

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._died_in is not None:
            cell.outputs = [error_output(
                "KernelDiedEarlier", f"not run: the kernel died in an earlier cell ({self._died_in})")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._died_in = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"
            cell.outputs.append(error_output(
                "DeadKernelError",
                "the kernel died while running this cell (os._exit, a crash or running out of memory)"))
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

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
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
    - a cell whose kernel run already raised keeps that error (0 points).

    During the pipeline's autograde ``check(...)`` does not run in the kernel at all (it
    prints ``DEFERRED_MARK``); without the judge's pass no such cell earns points. Test cell
    sources are trusted here: ``OverwriteCells`` restored them from the gradebook.
    """

    judge_timeout = Float(120.0, help="seconds the judge may take for one notebook").tag(config=True)
    use_sandbox = Bool(True, help="run the judge's worker under the sandbox prefix").tag(config=True)
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
            prefix = (isolation.command_prefix(Path(workdir), overlays=isolation.worker_overlays(judge, checks))
                      if self.use_sandbox else None)
            return judge.judge(code, checks, command_prefix=prefix, timeout=self.judge_timeout, cwd=workdir,
                               added=added, seed=self.check_seed, cell_timeout=self.cell_timeout), None
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
        early = resources.get("autograding", {}).pop("early_judge", None)
        cells, sources, checks = self._inputs(nb)
        if not self.enabled or not cells:
            return nb, resources
        judge = isolation.load_judge()
        verdicts, judge_error = {}, None
        if judge is None:
            deferred = [c for c in cells if _deferred(c)]
            if not deferred:
                self.log.warning("isolated judge unavailable (course_lib.grading.judge): kernel verdicts only")
                resources.setdefault("autograding", {})["judge"] = "unavailable"
                return nb, resources
            judge_error = "the isolated judge is not installed (course_lib.grading.judge): no verdict"
            self.log.error(judge_error)
        elif early is not None and early[0] == sources and early[1] == checks:
            verdicts, judge_error = early[2].result()
        else:
            verdicts, judge_error = self._run_judge(judge, sources, checks, resources)
        disagreements = []
        for cell in cells:
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
                        cell.metadata["course_autograde"] = {"kernel_passed": True}
                        disagreements.append(check_id)
                    break
                passed.append(check_id)
            else:
                cell.outputs = [NotebookNode(output_type="stream", name="stdout",
                                             text="".join(f"✓ {check_id}: passed\n" for check_id in passed))]
        resources.setdefault("autograding", {})["isolated_failed"] = disagreements
        return nb, resources


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
