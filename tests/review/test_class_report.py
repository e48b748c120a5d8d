"""The class report's numbers, pages and figures on a synthetic class whose proportions are known.

30 students submit each of two assignments (4 checks, 1 point each): 12 correct, 9 who make the
first check's mistake, 6 the second's, 3 who hand in the blank release; 2 more submit nothing;
every 5th submitting student is 2 hours late (course_grader/review/synthetic_class.py).
"""
from __future__ import annotations

import re

import pytest

from course_grader.pipeline import check_outcomes
from course_grader.review import report_html, statistics
from course_grader.review.class_record import AssignmentRecord, Submission, load
from course_grader.review.report import write_report
from course_grader.review.synthetic_class import BLANK_MESSAGE, HINTS, build_class, check_ids

PLAN = {"correct": 12, "wrong_first": 9, "wrong_second": 6, "blank": 3, "missing": 2}
ASSIGNMENTS = ["01_first", "02_second"]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return build_class(tmp_path_factory.mktemp("class"), PLAN, ASSIGNMENTS, checks=4, late_every=5)


@pytest.fixture(scope="module")
def record(course):
    return load(course)


@pytest.fixture(scope="module")
def reports(course, tmp_path_factory):
    """``(anonymous index, index with student ids)``."""
    return (write_report(course, tmp_path_factory.mktemp("anonymous")),
            write_report(course, tmp_path_factory.mktemp("named"), show_students=True))


def test_failure_messages_are_parsed_into_headline_and_hint():
    message = "adam.first_step failed: parameter 0 differs\n  at step 3 of 5\nHint: use the bias-corrected moment"
    outcome = check_outcomes.from_message("adam.first_step", False, message)
    assert (outcome.headline, outcome.hint, outcome.mistake) == (
        "parameter 0 differs", "use the bias-corrected moment", "use the bias-corrected moment")
    crash = check_outcomes.from_message("adam.first_step", False, "NameError: name 'AdamOptimizer' is not defined")
    assert crash.hint == "" and crash.mistake == crash.headline
    assert check_outcomes.from_message("x", False, "x failed: 3 of 7 steps wrong").mistake == "# of # steps wrong"
    assert check_outcomes.from_message("x", True, "anything").mistake == ""


def test_scores_statuses_and_lateness_match_the_plan(record):
    assignment = record.assignments[0]
    assert [a.name for a in record.assignments] == ASSIGNMENTS
    assert statistics.status_counts(assignment) == {"graded": 30, "not_submitted": 2}
    assert sorted(statistics.scores(assignment)) == sorted([4.0] * 12 + [3.0] * 15 + [0.0] * 3)
    late = statistics.late(assignment)
    assert len(late) == 6 and all(seconds == 7200 for _, seconds in late)


def test_pass_shares_and_mistakes_match_the_plan(record):
    first, second, third, fourth = statistics.check_summaries(record.assignments[0])
    assert [s.check for s in (first, second, third, fourth)] == check_ids(ASSIGNMENTS[0], 4)
    assert (first.passed, first.submitted) == (18, 30)
    assert (second.passed, third.passed, fourth.passed) == (21, 27, 27)
    assert [(g.mistake, g.count) for g in first.mistakes] == [(HINTS[0], 9), (BLANK_MESSAGE, 3)]
    assert [(g.mistake, g.count) for g in second.mistakes] == [(HINTS[1], 6), (BLANK_MESSAGE, 3)]
    assert f"Hint: {HINTS[0]}" in first.mistakes[0].example
    ranking = statistics.course_ranking(record)
    assert [s.failed for s in ranking] == [12, 12, 9, 9, 3, 3, 3, 3]
    assert {s.check for s in ranking[:2]} == {check_ids(a, 4)[0] for a in ASSIGNMENTS}


def test_pages_link_each_assignment_and_name_students_only_when_asked(reports):
    anonymous, named = reports
    index = anonymous.read_text()
    pages = re.findall(r'href="(\d\d_[\w-]+\.html)"', index)
    assert sorted(set(pages)) == ["01_01_first.html", "02_02_second.html"]
    for page in {p.split("#")[0] for p in pages}:
        assert (anonymous.parent / page).is_file()
    text = "".join(p.read_text() for p in anonymous.parent.glob("*.html"))
    assert not re.search(r"s00\d\d", text)
    assert "18 of 30 submissions pass (60%)" in text and "6 of 30 time-stamped submissions" in text
    named_text = (named.parent / "01_01_first.html").read_text()
    assert "s0013, s0014" in named_text and "s0005" in named_text


def test_every_page_forbids_remote_loads_and_escapes_the_data():
    hostile = "<img src=x onerror=alert(1)>"
    outcome = check_outcomes.from_message("c.one", False, f"c.one failed: {hostile}\nHint: {hostile}")
    record = AssignmentRecord("<script>alert(2)</script>", 1.0, None, [Submission(hostile, 0.0, "graded", None,
                                                                                    [outcome])])
    page = report_html.assignment_page(record, show_students=True)
    assert "<img src=x" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert f'content="{report_html.CSP}"' in page and "default-src 'none'" in report_html.CSP
    assert not re.search(r'src="(?!data:image/png;base64,)', page)
    assert report_html.page_name(3, "../../etc/x y") == "03_______etc_x_y.html"


def test_extensions_and_late_penalties_in_the_gradebook_count(tmp_path):
    """What the late policy writes: a student's extension moves their due date; the penalty lowers the score."""
    from datetime import timedelta

    from course_grader.review.class_record import open_gradebook

    course = build_class(tmp_path / "c", {"correct": 2}, ["01_first"], checks=2, late_every=1)  # both 2 h late
    with open_gradebook(course) as gb:
        gb.find_submission("01_first", "s0001").extension = timedelta(hours=3)
        gb.find_submission("01_first", "s0002").notebooks[0].late_submission_penalty = 0.5
        gb.db.commit()
    (assignment,) = load(course).assignments
    assert [(s.student, s.late, s.score) for s in assignment.submissions] == [("s0001", False, 2.0),
                                                                               ("s0002", True, 1.5)]
