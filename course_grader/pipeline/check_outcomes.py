"""What each check said about a submission, recorded in the autograded notebook.

:class:`~course_grader.pipeline.preprocessors.IsolatedVerdict` decides every check of the
graded test cells; besides the cell's outputs (what nbgrader scores and the student reads) it
records, in the cell's metadata, one entry per check::

    cell.metadata["course_autograde"]["checks"] = [
        {"check": "adam.first_step", "passed": false,
         "headline": "parameter 0 differs from the expected values",
         "hint": "divide by the bias-corrected second moment ...", "message": "<the full message>"},
        ...]

A failure message of a check (``course_lib.checks.messages.Trace.fail``) reads::

    <check id> failed: <headline>
      <where: setting, step> / <details: expected, obtained>
    Hint: <the mistake it names>

so the headline is the first line without its ``<check id> failed:`` prefix and the hint is the
``Hint:`` line. The *mistake* a failure names (:attr:`Outcome.mistake`) is its hint or, for a
message without one (a crash, a missing class, no verdict), its headline with numbers replaced
by ``#``, so that the same mistake made with different values groups together.

The record travels with the autograded notebook (also back from a Dask worker), so the class
report (:mod:`course_grader.review`) reads it from ``<course>/autograded/`` alone.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from nbformat import NotebookNode

METADATA_KEY = "course_autograde"
CHECKS_KEY = "checks"
HINT_PREFIX = "Hint:"
#: the most characters of a failure message kept in the record
MAX_MESSAGE_CHARS = 2000
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class Outcome:
    """One check's verdict on one submission: passed or not, and what the failure said."""

    check: str
    passed: bool
    headline: str = ""
    hint: str = ""
    message: str = ""

    @property
    def mistake(self) -> str:
        """The hint, else the headline with its numbers masked (``""`` for a pass)."""
        if self.passed:
            return ""
        return self.hint or _NUMBER.sub("#", self.headline) or "no message"


def from_message(check_id: str, passed: bool, message: str) -> Outcome:
    """The :class:`Outcome` of ``check_id`` whose verdict says ``message``."""
    if passed:
        return Outcome(check_id, True)
    lines = [line for line in str(message).splitlines() if line.strip()]
    headline = lines[0].strip() if lines else ""
    prefix = f"{check_id} failed:"
    if headline.startswith(prefix):
        headline = headline[len(prefix):].strip()
    hints = [line.strip()[len(HINT_PREFIX):].strip() for line in lines if line.strip().startswith(HINT_PREFIX)]
    return Outcome(check_id, False, headline, hints[-1] if hints else "", str(message)[:MAX_MESSAGE_CHARS])


def record(cell: NotebookNode, outcomes: Iterable[Outcome]) -> None:
    """Write ``outcomes`` into ``cell``'s metadata (replacing an earlier record)."""
    meta = cell.metadata.setdefault(METADATA_KEY, {})
    meta[CHECKS_KEY] = [asdict(outcome) for outcome in outcomes]


def read(nb: dict) -> Iterator[tuple[str, Outcome]]:
    """``(grade id of the test cell, outcome)`` for every check recorded in ``nb`` (a notebook, or
    its JSON as plain dicts)."""
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        entries = meta.get(METADATA_KEY, {}).get(CHECKS_KEY, []) if isinstance(meta.get(METADATA_KEY), dict) else []
        grade_id = meta.get("nbgrader", {}).get("grade_id", "")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("check"), str):
                yield grade_id, Outcome(entry["check"], bool(entry.get("passed")), str(entry.get("headline", "")),
                                        str(entry.get("hint", "")), str(entry.get("message", "")))
