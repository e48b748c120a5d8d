"""The class report's HTML pages: safe to open, whatever the gradebook and the messages hold.

The same rules as the feedback pages (:mod:`course_grader.pipeline.feedback_html`):

- every text that comes from the course's data (ids, names, statuses, failure messages, hints)
  is escaped (``html.escape``), so it shows as text and never runs;
- the page loads nothing: its Content-Security-Policy is ``default-src 'none'`` with images only
  from ``data:`` and only the page's own inline style sheet; figures are ``data:image/png`` URLs;
- links go only to the report's own pages, named by :func:`page_name` (a plain file name).

Students appear by id only when the report is written with ``show_students``; otherwise a
failure's example is its message alone and late submissions are listed by how late they are.
"""
from __future__ import annotations

import html
import re
import statistics as stats
from collections.abc import Sequence

from course_grader.review import figures
from course_grader.review.class_record import AssignmentRecord, ClassRecord
from course_grader.review.statistics import (
    CheckSummary,
    check_summaries,
    late,
    scores,
    status_counts,
)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STYLE = """body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.n{text-align:right}pre{white-space:pre-wrap;margin:0;font-size:.85em}
img{max-width:100%;display:block;margin:.5em 0}.muted{color:#666}table.pair{width:100%;table-layout:fixed}
mark{background:#ffe08a}"""


def esc(value: object) -> str:
    """``value`` as HTML text (quotes escaped too: safe in an attribute)."""
    return html.escape(str(value), quote=True)


def page_name(index: int, assignment: str) -> str:
    """The file name of an assignment's page: its position and its name reduced to ``[A-Za-z0-9_-]``."""
    return f"{index:02d}_{re.sub(r'[^A-Za-z0-9_-]', '_', assignment)[:60]}.html"


def page(title: str, body: str) -> str:
    """A whole page with the report's Content-Security-Policy."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table; ``rows`` hold HTML already escaped; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class=\"n\">{cell}</td>" if i in numeric else f"<td>{cell}</td>"
                                     for i, cell in enumerate(row)) + "</tr>\n" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def figure(fig, alt: str) -> str:
    """An ``<img>`` of ``fig`` as a ``data:`` URL."""
    return f"<img class=\"figure\" alt=\"{esc(alt)}\" src=\"{figures.png_data_url(fig)}\">"


def duration(seconds: float) -> str:
    """``2d 3h``, ``5h 10m`` or ``12m``."""
    minutes = int(seconds // 60)
    days, hours, minutes = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def _share(summary: CheckSummary) -> str:
    return f"{100 * summary.pass_share:.0f}%"


def _mistakes(summary: CheckSummary, show_students: bool) -> str:
    if not summary.mistakes:
        return "<p class=\"muted\">every submission passes.</p>"
    rows = []
    for group in summary.mistakes:
        row = [str(group.count), esc(group.mistake), f"<pre>{esc(group.example)}</pre>" if group.example else ""]
        if show_students:
            row.append(esc(", ".join(group.students)))
        rows.append(row)
    headers = ["students", "mistake (hint)", "example message"] + (["student ids"] if show_students else [])
    return table(headers, rows, numeric=(0,))


def _late_section(record: AssignmentRecord, show_students: bool) -> str:
    found = late(record)
    known = sum(1 for s in record.submitted if s.seconds_late is not None)
    if record.duedate is None or not known:
        return "<h2>Late submissions</h2><p class=\"muted\">no due date or no time stamps: lateness unknown.</p>"
    text = f"<h2>Late submissions</h2><p>{len(found)} of {known} time-stamped submissions after the due date " \
           f"({esc(record.duedate)}).</p>"
    if found:
        rows = [([esc(student)] if show_students else []) + [esc(duration(seconds))] for student, seconds in found]
        text += table((["student"] if show_students else []) + ["late by"], rows)
    return text


def _split_line(record: AssignmentRecord) -> str:
    """Autograded and hand-graded points (the written answers), when the assignment has both."""
    split = [s for s in record.submitted if s.auto_score is not None and s.manual_score is not None]
    if not record.manual_max or not split:
        return ""
    to_grade = sum(s.manual_status == "to_grade" for s in split)
    auto = stats.mean(s.auto_score for s in split)
    manual = stats.mean(s.manual_score for s in split)
    return (f"<p>Autograded: mean {auto:.2f} of {record.max_score - record.manual_max:g}; written answers "
            f"(graded by hand): mean {manual:.2f} of {record.manual_max:g}, {to_grade} still to grade.</p>")


def assignment_page(record: AssignmentRecord, show_students: bool = False) -> str:
    """The page of one assignment: scores, statuses, lateness and every check."""
    found, counts, summaries = scores(record), status_counts(record), check_summaries(record)
    mean = f"{stats.mean(found):.2f}" if found else "-"
    median = f"{stats.median(found):g}" if found else "-"
    parts = [f"<p><a href=\"index.html\">all assignments</a></p><h1>{esc(record.name)}</h1>",
             (f"<p>{len(found)} submissions of {len(record.submissions)} students; mean score {mean}, "
              f"median {median} of {record.max_score:g}.</p>"),
             _split_line(record),
             "<h2>Scores</h2>", figure(figures.score_histogram(found, record.max_score), "histogram of the scores"),
             "<h2>Submissions by status</h2>", figure(figures.status_bars(counts), "submissions by status"),
             table(["status", "submissions"], [[esc(k), str(v)] for k, v in counts.items()], numeric=(1,)),
             _late_section(record, show_students), "<h2>Checks</h2>"]
    if summaries:
        parts.append(figure(figures.pass_share_bars(summaries), "share of the class passing each check"))
    else:
        parts.append("<p class=\"muted\">no check outcome recorded (graded before outcomes were recorded?).</p>")
    for summary in summaries:
        parts.append(f"<h3 id=\"{esc(summary.check)}\">{esc(summary.check)}</h3>"
                     f"<p>{summary.passed} of {summary.submitted} submissions pass ({_share(summary)}).</p>"
                     + _mistakes(summary, show_students))
    return page(f"{record.name}: class report", "\n".join(parts))


def index_page(record: ClassRecord, ranking: Sequence[CheckSummary], pages: dict[str, str]) -> str:
    """The index: one line per assignment (linking its page) and the checks most students fail."""
    rows = []
    for assignment in record.assignments:
        found = scores(assignment)
        mean = f"{stats.mean(found):.2f}" if found else "-"
        rows.append([f"<a href=\"{esc(pages[assignment.name])}\">{esc(assignment.name)}</a>",
                     str(len(found)), str(len(assignment.submissions)), f"{mean} / {assignment.max_score:g}",
                     str(len(late(assignment)))])
    ranked = [[str(s.failed), str(s.submitted), _share(s),
               f"<a href=\"{esc(pages[s.assignment])}#{esc(s.check)}\">{esc(s.check)}</a>", esc(s.assignment),
               esc(s.mistakes[0].mistake) if s.mistakes else ""] for s in ranking]
    body = "\n".join([
        f"<h1>Class report: {esc(record.course_id)}</h1>",
        "<h2>Assignments</h2>",
        table(["assignment", "submissions", "students", "mean score", "late"], rows, numeric=(1, 2, 4)),
        "<h2>Checks, most failed first</h2>",
        table(["students failing", "submissions", "passing", "check", "assignment", "most frequent mistake"],
              ranked, numeric=(0, 1, 2)),
    ])
    return page(f"{record.course_id}: class report", body)
