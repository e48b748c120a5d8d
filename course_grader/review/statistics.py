"""The numbers of the class report, computed from a :class:`~course_grader.review.class_record.ClassRecord`.

Per assignment:

- the scores of the submissions that exist (a missing one is counted by status, not as a 0);
- the submissions by status (``graded``, ``timeout``, ..., ``not_submitted``);
- the late submissions (time stamp after the due date) and by how much;
- per check, the share of the class that passes: ``passed / submitted`` where *submitted* counts
  every submission that exists (a submission without a verdict for the check, e.g. one that
  could not be graded, fails it);
- per check, the failures grouped by the mistake they name (:attr:`Outcome.mistake`, the hint),
  most frequent first, each with its count, one example message and the students who made it.

Across the course, :func:`course_ranking` orders the checks by how many students fail them.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from course_grader.review.class_record import AssignmentRecord, ClassRecord


@dataclass
class MistakeGroup:
    """Failures of one check that name the same mistake."""

    mistake: str
    count: int
    example: str
    students: list[str] = field(default_factory=list)


@dataclass
class CheckSummary:
    """How the class did on one check of one assignment."""

    assignment: str
    check: str
    submitted: int
    passed: int
    mistakes: list[MistakeGroup]

    @property
    def failed(self) -> int:
        return self.submitted - self.passed

    @property
    def pass_share(self) -> float:
        """``passed / submitted`` (0 when nobody submitted)."""
        return self.passed / self.submitted if self.submitted else 0.0


def status_counts(record: AssignmentRecord) -> dict[str, int]:
    """``{status: submissions}``, most frequent first (``not_submitted`` included)."""
    return dict(Counter(s.status for s in record.submissions).most_common())


def scores(record: AssignmentRecord) -> list[float]:
    """The scores of the submissions that exist."""
    return [s.score for s in record.submitted]


def late(record: AssignmentRecord) -> list[tuple[str, float]]:
    """``(student, seconds late)`` of the late submissions, latest first."""
    found = [(s.student, s.seconds_late) for s in record.submitted if s.late]
    return sorted(found, key=lambda item: -item[1])


def check_summaries(record: AssignmentRecord) -> list[CheckSummary]:
    """One :class:`CheckSummary` per check recorded for the assignment, in the order first met."""
    submitted = record.submitted
    order: dict[str, None] = {}
    for submission in submitted:
        order.update(dict.fromkeys(o.check for o in submission.outcomes))
    summaries = []
    for check in order:
        passed = 0
        groups: dict[str, list] = defaultdict(list)
        for submission in submitted:
            outcome = next((o for o in submission.outcomes if o.check == check), None)
            if outcome is not None and outcome.passed:
                passed += 1
            elif outcome is not None:
                groups[outcome.mistake].append((submission.student, outcome.message))
            else:
                groups[f"no verdict ({submission.status})"].append((submission.student, ""))
        mistakes = [MistakeGroup(mistake, len(found), found[0][1], sorted(student for student, _ in found))
                    for mistake, found in groups.items()]
        mistakes.sort(key=lambda g: (-g.count, g.mistake))
        summaries.append(CheckSummary(record.name, check, len(submitted), passed, mistakes))
    return summaries


def course_ranking(record: ClassRecord) -> list[CheckSummary]:
    """Every check of the course, the one most students fail first."""
    summaries = [summary for assignment in record.assignments for summary in check_summaries(assignment)]
    return sorted(summaries, key=lambda s: (-s.failed, s.assignment, s.check))
