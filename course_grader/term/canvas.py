"""Canvas: its "Download Submissions" zip and its gradebook import CSV.

**Submissions download** (Assignment page, "Download Submissions"): a flat zip with one entry
per file of each student's latest submission, named::

    <name>[_late]_<user id>_<attachment id>_<file name>
    e.g.  smithjohn_12345_67890_adam.ipynb, smithjohn_late_12345_67891_adam.ipynb

``<name>`` is the student's sortable name, lower case, without spaces or punctuation;
``_late`` marks a file submitted after the due date; ``<user id>`` is Canvas's numeric user
id (the roster's ``lms_id``); ``<file name>`` the name the student uploaded. When a student
uploads a file whose name is already in their Canvas files (a resubmission), Canvas renames the
new one ``adam-1.ipynb``, ``adam-2.ipynb``, ...: :func:`released_stem_match` accepts those as
the released name. The download carries no submission time.

**Gradebook import** (Grades, Import): a CSV with the columns of Canvas's gradebook export:
``Student, ID, SIS User ID, SIS Login ID, Section`` and then one column per assignment. Canvas
matches each row to a student by ``ID`` (the Canvas user id), and each assignment column by its
header: ``Title (assignment id)`` updates that Canvas assignment; a title Canvas does not know
creates a new assignment. The second row, ``Points Possible``, gives each assignment's
maximum. An empty cell leaves the Canvas grade as it is.
"""
from __future__ import annotations

import re

from course_grader.term.lms_zip import Upload

NAME = "canvas"
TITLE = "Canvas"
_ENTRY = re.compile(r"(?P<name>[^_/]+)(?P<late>_late)?_(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>[^/]+)",
                    re.IGNORECASE)
_RESUBMITTED = re.compile(r"(?P<stem>.+?)-\d+(?P<ext>\.[^.]+)")

ID_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_ROW = "Points Possible"


def parse_entry(entry: str) -> Upload | None:
    """The upload a zip entry of a Canvas download stands for (None: not a Canvas file name)."""
    match = _ENTRY.fullmatch(entry)
    if match is None:
        return None
    return Upload(entry=entry, lms_id=match["user"], lms_name=match["name"], filename=match["file"],
                  late=match["late"] is not None)


def released_stem_match(filename: str, released: str) -> bool:
    """Whether ``filename`` is ``released`` as Canvas names a resubmitted copy (``adam-1.ipynb``)."""
    match = _RESUBMITTED.fullmatch(filename)
    return match is not None and match["stem"] + match["ext"] == released


def gradebook_rows(students: list[dict], assignments: list[tuple[str, float]]) -> list[list]:
    """The rows of a Canvas gradebook import file.

    Args:
        students: one dict per student with ``name``, ``lms_id``, ``section`` and
            ``scores`` (assignment column header -> score, or None for an empty cell).
        assignments: ``(column header, points possible)`` in column order.
    """
    header = ID_COLUMNS + [title for title, _ in assignments]
    points = [POINTS_ROW, "", "", "", ""] + [points for _, points in assignments]
    rows = [header, points]
    for student in students:
        rows.append([student["name"], student["lms_id"], "", "", student["section"]]
                    + [_cell(student["scores"].get(title)) for title, _ in assignments])
    return rows


def _cell(score: float | None) -> str | float:
    return "" if score is None else score
