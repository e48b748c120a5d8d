"""docs/instructors.md says what the tests run: the term it opens with is the walkthrough's,
the term commands it gives are the ones the term tests run, and its table of the assignments'
points is the course's (read from solutions/)."""
from __future__ import annotations

import re
import shlex

from term import test_term_collect, test_term_export, test_term_walkthrough
from term.term_course import REPO

from course_grader.pipeline.points import course_points, markdown_table

PREFIX = ".venv/bin/python -m course_grader.term "
DOCS = REPO / "docs" / "instructors.md"


def documented_commands() -> list[list[str]]:
    text = DOCS.read_text()
    return [shlex.split(line.removeprefix(PREFIX)) for line in text.splitlines() if line.startswith(PREFIX)]


def test_documented_commands_are_the_tested_ones():
    walked = [shlex.split(line.removeprefix(PREFIX)) for line in test_term_walkthrough.TERM if line.startswith(PREFIX)]
    tested = [test_term_collect.COMMAND + ["~/Downloads/submissions.zip"], *test_term_export.COMMANDS.values(), *walked]
    assert sorted(documented_commands()) == sorted(tested)


def test_the_docs_open_with_the_walked_term():
    text = DOCS.read_text()
    sections = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert sections[0] == "The term, command by command"
    section = text.split("\n## The term, command by command\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    assert block.splitlines() == test_term_walkthrough.TERM


def test_the_points_table_is_the_courses():
    text = DOCS.read_text()
    table = text.split("<!-- points table: course_grader.pipeline.points -->\n", 1)[1].split(
        "\n<!-- end of points table -->", 1)[0]
    points = course_points()
    assert len(points) == 10
    assert table == markdown_table(points), (
        "docs/instructors.md's points table differs from solutions/: paste the output of "
        "`.venv/bin/python -m course_grader.pipeline.points` between its markers")
