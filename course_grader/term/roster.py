"""The course roster, ``graders/roster.csv``: who the students are, and their ids in the LMS.

One row per student, UTF-8 CSV with a header; the columns (any order, more are ignored):

- ``student_id``: the course's id of the student, the folder name under ``submitted/`` and
  the ``student_id`` of the gradebook and ``grades.csv``. A plain id: 1 to 100 printable
  characters, no ``/`` or ``\\``, not starting with ``.``, ``=``, ``+``, ``-`` or ``@``.
- ``name``: the student's name as people read it.
- ``email``: the e-mail address (Moodle's grade import matches users on it).
- ``lms_id``: the student's id in the LMS: Canvas's numeric user id (the ``ID`` column of a
  Canvas gradebook export, the number in a submissions download), or Moodle's participant id
  (the number in a "Download all submissions" folder name). May be empty for a student who
  only submits through nbgrader's exchange.
- ``section``: the section or group (Canvas's ``Section`` column); may be empty.

``student_id`` values are unique, and so are the non-empty ``lms_id`` values. An example ships
in ``course_grader/pipeline/examples/roster.csv``.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

ROSTER_NAME = "roster.csv"
COLUMNS: tuple[str, ...] = ("student_id", "name", "email", "lms_id", "section")

_PLAIN_ID = re.compile(r"[^\x00-\x1f\x7f/\\]{1,100}")
_REFUSED_STARTS = (".", "=", "+", "-", "@")


@dataclass(frozen=True)
class Student:
    """One row of the roster."""

    student_id: str
    name: str
    email: str
    lms_id: str
    section: str


@dataclass(frozen=True)
class Roster:
    """The students of the course, in the roster's order."""

    students: tuple[Student, ...]

    def by_lms_id(self, lms_id: str) -> Student | None:
        """The student whose ``lms_id`` is ``lms_id`` (None if nobody)."""
        return next((s for s in self.students if s.lms_id and s.lms_id == lms_id), None)

    def by_email(self, email: str) -> Student | None:
        """The student with this e-mail address, compared without case (None if nobody)."""
        email = email.strip().lower()
        return next((s for s in self.students if s.email and s.email.lower() == email), None)

    def by_student_id(self, student_id: str) -> Student | None:
        return next((s for s in self.students if s.student_id == student_id), None)


def roster_path(course_root: Path) -> Path:
    """Where a course keeps its roster: ``<course>/roster.csv``."""
    return Path(course_root) / ROSTER_NAME


def check_student_id(student_id: str) -> None:
    """Raise ValueError unless ``student_id`` can be a folder name under ``submitted/``."""
    if not _PLAIN_ID.fullmatch(student_id) or student_id.startswith(_REFUSED_STARTS) \
            or student_id != student_id.strip():
        raise ValueError(f"student_id={student_id!r} is not allowed: use 1 to 100 printable characters, "
                         "no '/' or '\\', no surrounding spaces, not starting with '.', '=', '+', '-' or '@'")


def read_roster(path: str | Path) -> Roster:
    """Read and check a roster file (format in the module docstring).

    Raises:
        ValueError: the file lacks a column, a ``student_id`` is not a plain id, or a
            ``student_id`` or non-empty ``lms_id`` appears twice, or there is no such file (the
            message names the line or the value).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"roster={str(path)!r} does not exist: write it with the columns {list(COLUMNS)} "
                         "(docs/instructors.md, 'The roster')")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"roster={str(path)!r} lacks the column(s) {missing}: "
                             f"a roster has the columns {list(COLUMNS)}")
        students: list[Student] = []
        for line, row in enumerate(reader, start=2):
            student = Student(*((row.get(c) or "").strip() for c in COLUMNS))
            try:
                check_student_id(student.student_id)
            except ValueError as error:
                raise ValueError(f"roster={str(path)!r}, line {line}: {error}") from None
            students.append(student)
    _check_unique(path, [s.student_id for s in students], "student_id")
    _check_unique(path, [s.lms_id for s in students if s.lms_id], "lms_id")
    return Roster(tuple(students))


def _check_unique(path: Path, values: list[str], column: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"roster={str(path)!r}: {column}={value!r} appears twice; each must be unique")
        seen.add(value)
