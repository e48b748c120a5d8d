"""grades.csv and the summary a batch prints.

``grades.csv`` has the columns of ``nbgrader export`` (written by nbgrader's own CSV export
plugin, so they match exactly) plus these:

- ``status``: ``graded``; ``timeout`` (a cell ran past the limit: graded, that cell 0);
  ``time_budget`` (the notebook ran past its total time: graded, unfinished cells 0);
  ``disk_budget`` (the kernel wrote past its budget and was stopped: graded, later cells 0);
  ``kernel_died`` (graded up to the cell that killed the kernel, later cells 0);
  ``unsafe_files`` (graded; links, devices, FIFOs, sockets or oddly named files in the
  submission were not read); ``missing_notebook``; ``invalid_notebook``;
  ``unsafe_notebook`` (the notebook is a link or a special file: not read, not graded);
  ``too_large`` (the notebook is over the size limit); ``invalid_name`` (a student or
  assignment folder whose name is not a plain id, or a link); ``failed`` (nbgrader or the
  judge could not grade it); ``unknown_assignment``; ``not_submitted`` (in the gradebook, no
  submission).
- ``reason``: what happened, in words, for every status but a clean ``graded``;
- ``auto_score`` / ``auto_max_score``, ``manual_score`` / ``manual_max_score`` and
  ``manual_status`` (``none``, ``to_grade``, ``graded``): the autograded checks and the written
  answers graded by hand in the formgrader (:mod:`course_grader.pipeline.manual_grades`);
  ``raw_score = auto_score + manual_score`` is the total before the late penalty;
- ``penalty_reason``: why ``late_submission_penalty`` is not 0 (``late 2 d 3 h: -20 %``), or
  that a submission with a due date had no submission time (counted on time).

The late-work columns come from the course's policy (:mod:`course_grader.pipeline.late_policy`),
written into the gradebook before this export: ``raw_score`` is what the checks gave,
``late_submission_penalty`` what the policy takes off, and ``score`` (``max(0, raw_score -
late_submission_penalty)``) is the final grade, the one to publish.

Every cell that a spreadsheet would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return, and is not a plain number) is written with a ``'`` in front
(:mod:`course_grader.pipeline.spreadsheet_safe`); the rows returned keep the raw values.

A 0.0 whose status is not ``graded`` is not a grade: it is a submission to look at.
"""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.plugins import CsvExportPlugin

from course_grader.pipeline.course import Course
from course_grader.pipeline.late_policy import Penalty
from course_grader.pipeline.manual_grades import columns as split_columns
from course_grader.pipeline.manual_grades import split_scores
from course_grader.pipeline.spreadsheet_safe import safe_row
from course_grader.pipeline.submission import Result

EXPORT_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                  "raw_score", "late_submission_penalty", "score", "max_score"]
SPLIT_COLUMNS = ["auto_score", "auto_max_score", "manual_score", "manual_max_score", "manual_status"]
COLUMNS = EXPORT_COLUMNS + ["status", "reason", "penalty_reason"] + SPLIT_COLUMNS


def export_rows(db_url: str, course_id: str) -> tuple[list[dict], set[tuple[str, str]]]:
    """The rows ``nbgrader export`` writes (every assignment x every student), as dicts, and
    the ``(student, assignment)`` pairs that have a submission in the gradebook."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "export.csv"
        with Gradebook(db_url, course_id) as gb:
            CsvExportPlugin(to=str(dest)).export(gb)
            submitted = {(s.student.id, s.assignment.name) for a in gb.assignments for s in a.submissions}
        with open(dest, newline="") as fh:
            return list(csv.DictReader(fh)), submitted


def write_grades_csv(course: Course, db_url: str, results: list[Result],
                     penalties: dict[tuple[str, str], Penalty] | None = None) -> list[dict]:
    """Write ``<course>/grades.csv``; rows for submissions outside the gradebook are added too.

    ``penalties`` (from :func:`~course_grader.pipeline.late_policy.apply_policy`) give the
    ``penalty_reason`` column; the penalties themselves are read from the gradebook.
    """
    by_key = {(r.student, r.assignment): r for r in results}
    penalties = penalties or {}
    rows, submitted = export_rows(db_url, course.course_id)
    splits = split_scores(db_url, course.course_id)
    seen = set()
    for row in rows:
        key = (row["student_id"], row["assignment"])
        seen.add(key)
        row.update(split_columns(splits.get(key)))
        row["penalty_reason"] = penalties[key].reason if key in penalties else ""
        result = by_key.get(key)
        if result is not None:
            row["status"], row["reason"] = result.status, result.reason
        elif key in submitted:  # graded earlier; its folder is gone from submitted/
            row["status"], row["reason"] = "graded", "no longer in submitted/: grade kept from an earlier run"
        else:
            row["status"], row["reason"] = "not_submitted", ""
    for key, result in sorted(by_key.items()):
        if key not in seen:  # e.g. a folder for an assignment the course does not have
            rows.append({**{c: "" for c in EXPORT_COLUMNS}, "student_id": key[0], "assignment": key[1],
                         "raw_score": "0.0", "late_submission_penalty": "0.0", "score": "0.0",
                         "status": result.status, "reason": result.reason, "penalty_reason": "",
                         **split_columns(None)})
    tmp = course.grades_csv.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(safe_row(row) for row in rows)  # ids and reasons never open as formulas
    tmp.replace(course.grades_csv)
    return rows


def grade_table(rows: list[dict], only_submitted: bool = True) -> str:
    """A fixed-width table: student, assignment, final score/max, status, reason.

    Written answers still to grade by hand are named in the reason column (their points are in
    the maximum, not yet in the score).

    A late penalty shows in the reason column, before the status's reason:
    ``raw 10 - 2 (late 2 d 3 h: -20 %)``.
    """
    lines = [f"{'student':<16} {'assignment':<22} {'score':>11}  {'status':<17} reason"]
    for row in sorted(rows, key=lambda r: (r["student_id"], r["assignment"])):
        if only_submitted and row["status"] == "not_submitted":
            continue
        score = f"{float(row['score'] or 0):g}/{float(row['max_score'] or 0):g}"
        reason = "; ".join(filter(None, (_penalty_text(row), _manual_text(row), row["reason"])))
        reason = reason if len(reason) <= 110 else reason[:107] + "..."
        lines.append(f"{row['student_id']:<16} {row['assignment']:<22} {score:>11}  {row['status']:<17} {reason}")
    return "\n".join(lines)


def _manual_text(row: dict) -> str:
    """Why a full autograded score is not the maximum yet: written answers not graded by hand."""
    if row.get("manual_status") != "to_grade":
        return ""
    return f"{float(row.get('manual_max_score') or 0):g} points of written answers to grade by hand"


def _penalty_text(row: dict) -> str:
    penalty = float(row.get("late_submission_penalty") or 0)
    why = row.get("penalty_reason", "")
    if penalty:
        return f"raw {float(row['raw_score'] or 0):g} - {penalty:g} ({why or 'late'})"
    return why


def failure_summary(rows: list[dict]) -> str:
    """The submissions whose score is not an honest grade, one line each (empty if none)."""
    bad = sorted((r for r in rows if r["status"] not in ("graded", "not_submitted")),
                 key=lambda r: r["status"] != "failed")  # the grader's failures first
    if not bad:
        return ""
    lines = [f"{len(bad)} submission(s) NOT graded normally (their score is not an honest grade):"]
    lines += [f"  {r['student_id']}/{r['assignment']}: {r['status']}: {r['reason']}" for r in bad]
    return "\n".join(lines)
