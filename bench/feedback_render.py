"""What one feedback page costs: CPU seconds to render a graded chapter's feedback HTML.

    .venv/bin/python bench/feedback_render.py [--chapters 02_adam,09_loss_landscapes] [--pages 5]

A scratch course gets one honest submission per chapter, graded once (no sandbox, no
canary). Then each chapter's feedback page is rendered ``--pages`` times, in this process, with
the pipeline's own step (:func:`course_grader.pipeline.submission.generate_feedback`: nbgrader
``GenerateFeedback`` with the course's preprocessors, template, MathML and sanitising); prints
the median CPU seconds per page (process time, so the machine's load matters less than for
wall time). The grading run has already rendered each page once in this process, as a
grading worker has after its first submission (compiled templates are then cached). The same pages are rendered
with nbconvert's stock ``HTMLExporter`` too (what the pipeline used before
:class:`~course_grader.pipeline.feedback_html.CourseHTMLExporter`), alternating, for a paired
figure.
"""
from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbconvert.exporters import HTMLExporter

from course_grader.pipeline import scratch, submission
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.course import sqlite_with_busy_timeout
from course_grader.pipeline.submission import Settings, generate_feedback

COURSE_CONFIG = submission.nbgrader_config


def _stock_config(*args, **kwargs):
    config = COURSE_CONFIG(*args, **kwargs)
    config.SafeGenerateFeedback.exporter_class = HTMLExporter
    return config


def _page_seconds(course, chapter, settings, db_url, stock: bool) -> float:
    submission.nbgrader_config = _stock_config if stock else COURSE_CONFIG
    try:
        start = time.process_time()
        trouble = generate_feedback(course, "honest", chapter, settings, db_url, logging.getLogger("bench"),
                                    io.StringIO())
        if trouble:
            raise SystemExit(f"{chapter}: feedback failed: {trouble}")
        return time.process_time() - start
    finally:
        submission.nbgrader_config = COURSE_CONFIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", default="02_adam,09_loss_landscapes")
    parser.add_argument("--pages", type=int, default=5, help="pages rendered per chapter (default 5)")
    args = parser.parse_args(argv)
    chapters = args.chapters.split(",")
    settings = Settings(timeout=60, sandbox=False)
    with tempfile.TemporaryDirectory() as tmp:
        course = scratch.new_course(Path(tmp) / "course")
        for chapter in chapters:
            name, release = scratch.release_notebook(course, chapter)
            filled = scratch.filled(release, scratch.source_notebook(course, chapter, name))
            scratch.submit(course, "honest", chapter, filled, f"{name}.ipynb")
        report = grade_course(course, settings, jobs=1, log=lambda _: None)
        settings = Settings(timeout=60, sandbox=False, check_seed=0)
        db_url = sqlite_with_busy_timeout(course.db_url)
        for chapter in chapters:
            status = next(r.status for r in report.results if r.assignment == chapter)
            times = {False: [], True: []}
            for _ in range(args.pages):
                for stock in (False, True):
                    times[stock].append(_page_seconds(course, chapter, settings, db_url, stock))
            page = next((course.feedback / "honest" / chapter).glob("*.html"))
            print(f"{chapter} ({status}, page {page.stat().st_size / 1024:.0f} KiB, {page.read_text().count('<math')} "
                  f"formulas), median CPU-s per page over {args.pages}:")
            median = {stock: sorted(found)[len(found) // 2] for stock, found in times.items()}
            print(f"  stock HTMLExporter: {median[True]:.3f}; CourseHTMLExporter: {median[False]:.3f} "
                  f"({median[False] / median[True]:.0%} of stock)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
