"""What one feedback page costs: CPU seconds to render a graded chapter's feedback HTML.

    .venv/bin/python bench/feedback_render.py [--chapters 02_adam,09_loss_landscapes] [--pages 5]

A scratch course gets one honest submission per chapter, graded once (no sandbox, no
canary). Then each chapter's feedback page is rendered ``--pages`` times, in this process, with
the pipeline's own step (:func:`course_grader.pipeline.submission.generate_feedback`: nbgrader
``GenerateFeedback`` with the course's preprocessors, template, MathML and sanitising); prints
CPU seconds per page (process time, so the machine's load matters less than for wall time),
the first page (templates compiled) apart from the others.
"""
from __future__ import annotations

import argparse
import logging
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_grader.pipeline import scratch  # noqa: E402
from course_grader.pipeline.batch import grade_course  # noqa: E402
from course_grader.pipeline.course import sqlite_with_busy_timeout  # noqa: E402
from course_grader.pipeline.submission import Settings, generate_feedback  # noqa: E402


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
        logger = logging.getLogger("bench.feedback")
        for chapter in chapters:
            status = next(r.status for r in report.results if r.assignment == chapter)
            times = []
            for _ in range(args.pages):
                start = time.process_time()
                trouble = generate_feedback(course, "honest", chapter, settings, db_url, logger, io.StringIO())
                times.append(time.process_time() - start)
                if trouble:
                    print(f"{chapter}: feedback failed: {trouble}")
                    return 1
            page = next((course.feedback / "honest" / chapter).glob("*.html"))
            later = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0]
            print(f"{chapter} ({status}, page {page.stat().st_size / 1024:.0f} KiB): first page {times[0]:.3f} CPU-s, "
                  f"then median {later:.3f} CPU-s per page over {len(times) - 1}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
