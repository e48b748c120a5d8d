"""The files nbgrader's exchange expects next to a graded submission: ``timestamp.txt`` and
``submission_secret.txt``.

``nbgrader release_feedback`` reads both from ``feedback/<student>/<assignment>/`` (and
``nbgrader collect`` / ``autograde`` keep them in ``autograded/``). The pipeline writes its
feedback from the autograded notebook alone, and a Dask worker sends back notebooks and pages
only, so after every graded submission, local or on a cluster, :func:`stamp` writes them into
both folders:

- ``timestamp.txt``: the submission's own (``nbgrader submit`` wrote it, ``nbgrader collect``
  copied it), when it is a valid nbgrader timestamp; otherwise the time of grading (a
  submission without a timestamp counts as on time: :mod:`~course_grader.pipeline.late_policy`
  reads the gradebook's time, which stays empty);
- ``submission_secret.txt``: the submission's own, so that the student's
  ``nbgrader fetch_feedback`` finds the page; a submission that did not come through the
  exchange gets a fresh random one (its feedback is released under a name nobody fetches:
  hand it out with ``python -m course_grader.term release`` instead).

The submission's files are the student's: they are read with ``O_NOFOLLOW``, at most
:data:`MAX_BYTES`, and only written if they parse.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets

from nbgrader.utils import parse_utc

from course_grader.pipeline.course import Course
from course_grader.sandbox import safefs

#: nbgrader's own format (``Exchange.timestamp_format``)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"
MAX_BYTES = 1024
_SECRET = re.compile(r"[0-9a-fA-F]{16,256}")


def submitted_text(course: Course, student: str, assignment: str, name: str) -> str | None:
    """The stripped text of a small regular file of the submission, or None."""
    try:
        return safefs.read_regular(course.submitted / student / assignment / name, MAX_BYTES).decode().strip()
    except (OSError, safefs.UnsafeEntry, UnicodeDecodeError):
        return None


def submission_timestamp(course: Course, student: str, assignment: str) -> str | None:
    """The submission's ``timestamp.txt`` when nbgrader can read it, else None."""
    text = submitted_text(course, student, assignment, "timestamp.txt")
    if not text:
        return None
    try:
        parse_utc(text)
    except Exception:  # noqa: BLE001 - dateutil raises several kinds on a student's text
        return None
    return text


def stamp(course: Course, student: str, assignment: str) -> None:
    """Write ``timestamp.txt`` and ``submission_secret.txt`` into the submission's autograded and
    feedback folders (those that exist)."""
    timestamp = submission_timestamp(course, student, assignment) or \
        dt.datetime.now(dt.UTC).strftime(TIMESTAMP_FORMAT)
    secret = submitted_text(course, student, assignment, "submission_secret.txt")
    if not secret or not _SECRET.fullmatch(secret):
        secret = secrets.token_hex(64)
    for base in (course.autograded, course.feedback):
        folder = base / student / assignment
        if not safefs.is_real_dir(folder):
            continue
        for name, text in (("timestamp.txt", timestamp), ("submission_secret.txt", secret)):
            path = folder / name
            safefs.remove_tree(path)  # an earlier one (a link is removed, never followed)
            safefs.write_new(path, text.encode())
