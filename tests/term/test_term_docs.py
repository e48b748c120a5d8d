"""The term commands docs/instructors.md gives are exactly the ones the term tests run."""
from __future__ import annotations

import shlex

from term import test_term_collect, test_term_export
from term.term_course import REPO

PREFIX = ".venv/bin/python -m course_grader.term "


def documented_commands() -> list[list[str]]:
    text = (REPO / "docs" / "instructors.md").read_text()
    return [shlex.split(line.removeprefix(PREFIX)) for line in text.splitlines() if line.startswith(PREFIX)]


def test_documented_commands_are_the_tested_ones():
    tested = [test_term_collect.COMMAND + ["~/Downloads/submissions.zip"], *test_term_export.COMMANDS.values()]
    assert sorted(documented_commands()) == sorted(tested)
