"""Write the class report: ``index.html`` and one page per assignment, offline, in one folder.

``write_report(course, out)`` reads the class (:mod:`course_grader.review.class_record`) and
writes ``<out>/index.html`` and ``<out>/NN_<assignment>.html``
(:mod:`course_grader.review.report_html`); by default ``out`` is ``<course>/reports/``.
Each file is written to a temporary name and then renamed, so a reader never sees half a page.
"""
from __future__ import annotations

from pathlib import Path

from course_grader.pipeline.course import Course
from course_grader.review import class_record, report_html
from course_grader.review.statistics import course_ranking

REPORT_DIR = "reports"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(course: Course, out: Path | None = None, show_students: bool = False) -> Path:
    """Write the report of ``course`` into ``out`` (default ``<course>/reports``); the index's path.

    Args:
        course: the course whose gradebook, ``grades.csv`` and autograded notebooks are read.
        out: the folder to write (created if needed).
        show_students: name the students (by id) who made each mistake and who were late;
            without it the pages hold no student id.
    """
    out = Path(out) if out is not None else course.root / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    record = class_record.load(course)
    pages = {a.name: report_html.page_name(i + 1, a.name) for i, a in enumerate(record.assignments)}
    for assignment in record.assignments:
        _write(out / pages[assignment.name], report_html.assignment_page(assignment, show_students))
    index = out / "index.html"
    _write(index, report_html.index_page(record, course_ranking(record), pages))
    return index
