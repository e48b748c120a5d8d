"""``make grade-demo``: the whole grading pipeline on example submissions, in five minutes.

Builds a scratch course in ``graders/.scratch/demo`` (git-ignored) from the chapters'
student versions (``notebooks/``) and sources (``solutions/``), with these students:

- ``ada``: every chapter complete (solution cells filled from the sources): full marks;
- ``ben``: Adam with epsilon inside the square root (``examples/adam_eps_inside_sqrt.py``):
  loses the points of the checks that see it;
- ``cleo``: a correct chapter 1 followed by an endless loop (``examples/endless_try_it_loop.py``):
  status ``timeout``, the loop's cell interrupted, the tests still graded;
- ``dan``: chapter 1 notebook that is not valid JSON: ``invalid_notebook``;
- ``eve``: chapter 2 pasted into a fresh notebook (all nbgrader metadata gone): graded after
  the metadata is restored;
- ``fay``: chapter 3 renamed ``Copy of ...ipynb``: graded, with a note;
- ``gus``: chapter 4 folder without a notebook: ``missing_notebook``.

It then prints the grade table (``graders/.scratch/demo/grades.csv``) and where the feedback is.

The gradebook is SQLite in the scratch course, or the database ``COURSE_DB_URL`` names (to try a
PostgreSQL gradebook before the real course uses one). nbgrader's assignment names are unique per
database, so the demo refuses a gradebook that holds students other than its own: give it a
database of its own.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
from pathlib import Path

from course_grader.pipeline import isolation, scratch
from course_grader.pipeline.cli import GRADERS, NO_SANDBOX_BANNER, failed_to_grade
from course_grader.pipeline.batch import ConfigurationError, grade_course
from course_grader.pipeline.canary import CanaryFailed
from course_grader.pipeline.grades import failure_summary, grade_table
from course_grader.pipeline.submission import Settings

DEMO_ROOT = GRADERS / ".scratch" / "demo"
DEMO_STUDENTS = ("ada", "ben", "cleo", "dan", "eve", "fay", "gus")


def gradebook_url(root=DEMO_ROOT) -> str:
    """``COURSE_DB_URL`` when it is set, else a SQLite gradebook in the scratch course."""
    return os.environ.get("COURSE_DB_URL") or f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"


def shown_url(db_url: str) -> str:
    """The URL with its password hidden, for printing."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: the pipeline reports it
        return db_url


def check_gradebook_is_the_demo_s(db_url: str) -> None:
    """Refuse a gradebook holding other students: the demo would overwrite its assignments.

    Raises:
        ConfigurationError: when the gradebook cannot be opened or has non-demo students.
    """
    from nbgrader.api import Gradebook

    try:
        with Gradebook(db_url) as gb:
            others = sorted(s.id for s in gb.students if s.id not in DEMO_STUDENTS)
    except Exception as error:
        raise ConfigurationError(f"cannot open the gradebook {shown_url(db_url)}: {error}") from error
    if others:
        raise ConfigurationError(
            f"the gradebook {shown_url(db_url)} holds other students ({', '.join(others[:5])}"
            f"{', ...' if len(others) > 5 else ''}): the demo would overwrite that course's assignments."
            " Point COURSE_DB_URL at an empty database of its own (e.g. .../optim_course_demo)"
        )


def build(root=DEMO_ROOT, db_url: str | None = None):
    """Create the demo course and its submissions; returns the course.

    Args:
        root: the scratch course folder (emptied first).
        db_url: the gradebook's SQLAlchemy URL (default: SQLite in ``root``).
    """
    scratch.reset(root)
    course = scratch.new_course(root)
    if db_url:
        course = dataclasses.replace(course, db_url=db_url)
    chapters = [a for a in scratch.chapters() if any((scratch.NOTEBOOKS / a).glob("*.ipynb"))]
    if not chapters:
        raise ConfigurationError("no chapter has a student version in notebooks/: run `make student` first")
    filled = {}
    for assignment in chapters:
        name, release = scratch.release_notebook(course, assignment)
        filled[assignment] = (name, scratch.filled(release, scratch.source_notebook(course, assignment, name)))
        scratch.submit(course, "ada", assignment, filled[assignment][1], f"{name}.ipynb")

    def chapter(prefix):
        return next(((a, *filled[a]) for a in chapters if a.startswith(prefix)), None)

    if (c := chapter("02")):
        assignment, name, nb = c
        wrong = (scratch.EXAMPLES / "adam_eps_inside_sqrt.py").read_text()
        scratch.submit(course, "ben", assignment, scratch.with_class(nb, "AdamOptimizer", wrong), f"{name}.ipynb")
        stripped = copy.deepcopy(nb)
        for cell in stripped.cells:
            cell.metadata = {}
            cell.pop("id", None)
        scratch.submit(course, "eve", assignment, stripped, f"{name}.ipynb")
    if (c := chapter("01")):
        assignment, name, nb = c
        looping = copy.deepcopy(nb)
        cell = next(c for c in looping.cells if c.metadata.get("nbgrader", {}).get("solution")
                    and scratch.defined_classes(c.source))
        cell.source += "\n\n" + (scratch.EXAMPLES / "endless_try_it_loop.py").read_text()
        scratch.submit(course, "cleo", assignment, looping, f"{name}.ipynb")
        scratch.submit(course, "dan", assignment, '{"cells": [ {"cell_type": "code", "source": "oops"', f"{name}.ipynb")
    if (c := chapter("03")):
        assignment, name, nb = c
        scratch.submit(course, "fay", assignment, nb, f"Copy of {name}.ipynb")
    if (c := chapter("04")):
        assignment, name, _ = c
        scratch.submit(course, "gus", assignment, "I forgot to attach the notebook.", "README.txt")
    return course


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grader.pipeline.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=int, default=10, help="seconds per cell (default 10, for a short demo)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel submissions (default: CPUs)")
    args = parser.parse_args(argv)
    sandbox, why = isolation.sandbox_status()
    if not sandbox:  # the demo grades the course's own examples: trusted code
        print(NO_SANDBOX_BANNER + f"\n(sandbox unavailable: {why}; the demo's examples are trusted code)")
    db_url = gradebook_url()
    try:
        if os.environ.get("COURSE_DB_URL"):
            check_gradebook_is_the_demo_s(db_url)
        course = build(db_url=db_url)
        print(f"demo course: {course.root}\ngradebook: {shown_url(course.db_url)}")
        report = grade_course(course, Settings(timeout=args.timeout, sandbox=sandbox), jobs=args.jobs, canary=True)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CanaryFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 4
    print()
    print(grade_table(report.rows))
    summary = failure_summary(report.rows)
    if summary:
        print("\n" + summary)
    print(f"\n{len(report.results)} submissions in {report.seconds:.0f} s. grades.csv: {course.grades_csv}\n"
          f"feedback (what students get): {course.feedback}/<student>/<assignment>/*.html")
    failed = failed_to_grade(report)
    if failed:
        print(f"{len(failed)} submission(s) FAILED to grade (the grader's fault): "
              + ", ".join(f"{r.student}/{r.assignment}" for r in failed), file=sys.stderr)
    return 5 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
