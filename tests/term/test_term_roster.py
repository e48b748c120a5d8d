"""The roster: its columns, its checks, and the example that ships with the course."""
from __future__ import annotations

from pathlib import Path

import pytest
from term.term_course import REPO, write_roster

from course_grader.term.roster import COLUMNS, read_roster

ADA = {"student_id": "ada", "name": "Ada", "email": "Ada@Example.org", "lms_id": "1", "section": ""}


def test_example_roster_reads():
    roster = read_roster(REPO / "course_grader" / "pipeline" / "examples" / "roster.csv")
    assert [s.student_id for s in roster.students] == ["ada", "alan", "grace"]
    assert roster.by_lms_id("1002").name == "Alan Turing"


def test_lookups(tmp_path: Path):
    path = tmp_path / "roster.csv"
    write_roster(path, [ADA, {**ADA, "student_id": "bo", "lms_id": "", "email": ""}])
    roster = read_roster(path)
    assert roster.by_email("ada@example.org").student_id == "ada"
    assert roster.by_lms_id("") is None and roster.by_email("") is None
    assert roster.by_student_id("bo").lms_id == ""


@pytest.mark.parametrize("rows, message", [
    ([ADA, {**ADA, "lms_id": "2"}], "student_id='ada' appears twice"),
    ([ADA, {**ADA, "student_id": "bo"}], "lms_id='1' appears twice"),
    ([{**ADA, "student_id": "=cmd"}], "line 2: student_id='=cmd' is not allowed"),
    ([{**ADA, "student_id": "a/b"}], "student_id='a/b' is not allowed"),
    ([{**ADA, "student_id": ""}], "student_id='' is not allowed"),
])
def test_bad_rosters_are_refused(tmp_path: Path, rows, message):
    path = tmp_path / "roster.csv"
    write_roster(path, rows)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        read_roster(path)


def test_a_missing_roster_says_what_to_write(tmp_path: Path):
    with pytest.raises(ValueError, match=r"roster='.*nope.csv' does not exist: write it with the columns"):
        read_roster(tmp_path / "nope.csv")


def test_a_missing_column_is_named(tmp_path: Path):
    path = tmp_path / "roster.csv"
    path.write_text("student_id,name,email\nada,Ada,a@x\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['lms_id', 'section'\]"):
        read_roster(path)
    assert COLUMNS == ("student_id", "name", "email", "lms_id", "section")
