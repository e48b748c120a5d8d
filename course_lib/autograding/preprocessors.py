"""nbgrader preprocessors the course adds to ``autograde`` and ``generate_feedback``.

Autograde pipeline (after the sanitizing steps)::

    RobustExecute -> IgnorePattern -> ClearMetadataPreprocessor -> LimitOutput -> LimitOutputSize
    -> PassingTestStderr -> IsolatedVerdict -> SaveAutoGrades -> AssignLatePenalties -> CheckCellMetadata

Feedback pipeline::

    HideHiddenTests -> GetGrades -> CSSHTMLHeaderPreprocessor

Outputs added by these steps use their own error names, which the grade report reads back
from the autograded notebook: ``CellTimeoutError`` (nbgrader's), ``DeadKernelError``,
``KernelDiedEarlier``, ``IsolatedCheckFailed``.
"""
from __future__ import annotations

import re
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from . import isolation

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An nbformat error output with a one-line traceback (what the feedback shows)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def is_graded_test(cell: NotebookNode) -> bool:
    """A code cell that earns points by running (a grade cell that is not a solution)."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def has_error(cell: NotebookNode) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


class RobustExecute(Execute):
    """nbgrader's ``Execute`` that survives a kernel dying (``os._exit``, a crash, the OOM killer).

    The cell that killed the kernel gets a ``DeadKernelError`` output and every later code
    cell a ``KernelDiedEarlier`` output, so that the notebook is still scored (0 points for
    everything from that cell on) instead of the whole submission failing.
    """

    def preprocess(self, nb, resources=None, km=None):
        self._died_in: str | None = None
        return super().preprocess(nb, resources, km)

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
    """Re-run every ``check("<id>", <Class>)`` of the graded test cells in the isolated judge.

    The judge executes the submission's solution cells in a fresh (sandboxed) worker and
    runs the checks from this trusted process. A test cell whose kernel run passed but one of
    whose checks failed in the judge gets its outputs replaced by an ``IsolatedCheckFailed``
    error, so ``SaveAutoGrades`` gives it 0 points. Test cell sources are trusted here:
    ``OverwriteCells`` restored them from the gradebook.
    """

    judge_timeout = Float(120.0, help="seconds the judge may take for one notebook").tag(config=True)
    use_sandbox = Bool(True, help="run the judge's worker under the sandbox prefix").tag(config=True)
    workdir = Unicode("", help="scratch folder for the judge (the notebook's folder if empty)").tag(config=True)

    def preprocess(self, nb, resources):
        cells = [c for c in nb.cells if is_graded_test(c) and isolation.find_checks(c.source)]
        if not self.enabled or not cells:
            return nb, resources
        judge = isolation.load_judge()
        if judge is None:
            self.log.warning("isolated judge unavailable (course_lib.grading.judge): kernel verdicts only")
            resources.setdefault("autograding", {})["judge"] = "unavailable"
            return nb, resources
        checks = list(dict.fromkeys(chk for c in cells for chk in isolation.find_checks(c.source)))
        sources = [c.source for c in nb.cells if c.cell_type == "code" and utils.is_solution(c)]
        workdir = self.workdir or resources.get("metadata", {}).get("path") or "."
        Path(workdir).mkdir(parents=True, exist_ok=True)
        prefix = isolation.command_prefix(Path(workdir)) if self.use_sandbox else None
        try:
            verdicts = judge.judge(sources, checks, command_prefix=prefix, timeout=self.judge_timeout, cwd=workdir)
            judge_error = None
        except Exception as error:  # never credit what could not be verified
            verdicts, judge_error = {}, f"the isolated judge could not run: {error!r}"
            self.log.error(judge_error)
        disagreements = []
        for cell in cells:
            if has_error(cell):
                continue  # the kernel already failed it; the student sees that message
            for check_id, _ in isolation.find_checks(cell.source):
                verdict = verdicts.get(check_id)
                if verdict is None or not verdict.passed:
                    message = judge_error or (verdict.message if verdict else f"no verdict for {check_id}")
                    cell.outputs = [error_output("IsolatedCheckFailed", message)]
                    disagreements.append(check_id)
                    break
        resources.setdefault("autograding", {})["isolated_failed"] = disagreements
        return nb, resources


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
