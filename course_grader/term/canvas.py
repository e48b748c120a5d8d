"""Canvas: its "Download Submissions" zip and its gradebook import CSV.

**Submissions download** (Assignment page, "Download Submissions"): a flat zip with one entry
per file of each student's latest submission, named (canvas-lms, ``ContentZipper``)::

    <name>[_late]_<user id>_<attachment id>_<file name>
    e.g.  smithjohn_12345_67890_adam.ipynb, smithjohn_late_12345_67891_adam.ipynb

``<name>`` is the student's sortable name with everything but letters, digits and ``_``
removed, lower case (left out, with its ``_``, under anonymous grading); ``late`` marks a
submission after the due date (older Canvas versions wrote ``<name>-late_<user id>``);
``<user id>`` is Canvas's numeric user id (the roster's ``lms_id``); ``<file name>`` the name
the file has in Canvas. When a student uploads a file whose name is already taken, Canvas
names the new one ``adam-1.ipynb``, ``adam-2.ipynb``, ...: :func:`released_stem_match` accepts
those as the released name. A text entry or a URL comes as ``<name>_<user id>_text.html`` or
``..._link.html``. The download carries no submission time.

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
_ENTRY = re.compile(r"(?:(?P<head>[^/]*?)_)?(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>[^/]+)")
_ONLINE = re.compile(r"(?:(?P<head>[^/]*?)_)?(?P<user>\d+)_(?P<file>text\.html|link\.html)")
_RESUBMITTED = re.compile(r"(?P<stem>.+?)-\d+(?P<ext>\.[^.]+)")

ID_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_ROW = "Points Possible"


def parse_entry(entry: str) -> Upload | None:
    """The upload a zip entry of a Canvas download stands for (None: not a Canvas file name).

    A text entry or URL (``..._text.html``, ``..._link.html``) is an upload named
    ``online:text.html`` (``online:link.html``), so that it is reported, not collected.
    """
    match = _ENTRY.fullmatch(entry) or _ONLINE.fullmatch(entry)
    if match is None:
        return None
    name, late = _name_and_late(match["head"] or "")
    filename = match["file"] if "attachment" in match.groupdict() else f"online:{match['file']}"
    return Upload(entry=entry, lms_id=match["user"], lms_name=name, filename=filename, late=late)


def _name_and_late(head: str) -> tuple[str, bool]:
    """``<name>``, ``<name>_late``, ``late`` (anonymous) or ``<name>-late`` (older Canvas)."""
    lowered = head.lower()
    if lowered == "late":
        return "", True
    if lowered.endswith(("_late", "-late")):
        return head[:-5], True
    return head, False


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
