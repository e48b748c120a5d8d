"""Moodle: its assignment "Download all submissions" zip and its grade import CSV.

**Submissions download** (Assignment, View all submissions, "Download all submissions"): a zip
with, by default ("Download submissions in folders"), one folder per student and submission
plugin, holding the files as the student uploaded them (Moodle's ``mod_assign`` downloader)::

    <Full Name>_<participant id>_assignsubmission_file/<file name>     Moodle 4
    <Full Name>_<participant id>_assignsubmission_file_/<file name>    Moodle 3.1 to 3.11
    e.g.  John Smith_1234567_assignsubmission_file/adam.ipynb

and, with that option off, one flat name per file:
``John Smith_1234567_assignsubmission_file_adam.ipynb``. Underscores in the name become
spaces; under blind marking the name is "Participant". ``<participant id>`` is the number
Moodle shows as "Participant 1234567" in the grading worksheet (the roster's ``lms_id``); an
online-text submission comes as ``..._assignsubmission_onlinetext/onlinetext.html``. The
download carries no submission time.

**Grade import** (Grades, Import, CSV file): a CSV with a column that identifies the user and
one column per grade item. On import the instructor maps ``Email address`` to the user's
"Email address" (or ``ID number`` to "ID number"), and each assignment column to its grade
item (or to a new one). Empty cells are not imported.
"""
from __future__ import annotations

import re

from course_grader.term.lms_zip import Upload

NAME = "moodle"
TITLE = "Moodle"
_ENTRY = re.compile(r"(?P<name>[^/]+)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)"
                    r"(?:_?/(?P<in_folder>.+)|_(?P<flat>[^/]+))")
ID_COLUMNS = ["Full name", "Email address", "ID number"]
FILE_PLUGIN = "file"


def parse_entry(entry: str) -> Upload | None:
    """The upload a zip entry of a Moodle download stands for (None: not a Moodle name).

    Files of another submission plugin than ``file`` (online text, ...) keep the plugin in
    their name: ``onlinetext:onlinetext.html``, so that they are reported, not collected.
    """
    match = _ENTRY.fullmatch(entry)
    if match is None:
        return None
    filename = match["in_folder"] or match["flat"]
    if match["plugin"] != FILE_PLUGIN:
        filename = f"{match['plugin']}:{filename}"
    return Upload(entry=entry, lms_id=match["participant"], lms_name=match["name"], filename=filename)


def released_stem_match(filename: str, released: str) -> bool:
    """Moodle keeps the uploaded name as it is: never a renamed copy."""
    return False


def grade_rows(students: list[dict], assignments: list[str]) -> list[list]:
    """The rows of a Moodle grade import file.

    Args:
        students: one dict per student with ``name``, ``email``, ``student_id`` and
            ``scores`` (assignment column -> score, or None for an empty cell).
        assignments: the grade item columns, in order.
    """
    rows = [ID_COLUMNS + list(assignments)]
    for student in students:
        rows.append([student["name"], student["email"], student["student_id"]]
                    + ["" if student["scores"].get(a) is None else student["scores"][a] for a in assignments])
    return rows
