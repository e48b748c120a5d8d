"""``python -m course_grader.term release --to DIR``: each student's feedback pages, ready to upload.

For every graded submission with feedback (``<course>/feedback/<student>/<assignment>/*.html``)
writes ``DIR/<student>/<assignment>/<notebook>.html``, or with ``--zip`` one
``DIR/<student>.zip`` holding ``<assignment>/<notebook>.html``: one folder or archive per
student, to attach to that student in an LMS. ``--assignment`` (repeatable) releases only
those assignments. The pages are self-contained (no network, no script: see
:mod:`course_grader.pipeline.feedback_html`).

For students who submitted through nbgrader's exchange, ``nbgrader release_feedback
ASSIGNMENT`` (run in the course folder) works as well: the batch writes the
``timestamp.txt`` and ``submission_secret.txt`` it needs (:mod:`course_grader.pipeline.exchange_files`).
"""
from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from course_grader.pipeline.course import Course
from course_grader.sandbox import safefs

GRADERS = Path(__file__).resolve().parents[2] / "graders"
#: a feedback page larger than this is not released (the pages are a few MiB at most)
MAX_PAGE_BYTES = 256 * 2**20


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("release", help="write each student's feedback pages to a folder or zip",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--to", type=Path, required=True, metavar="DIR", help="where the folders or zips go")
    parser.add_argument("--zip", action="store_true", help="one DIR/<student>.zip per student instead of folders")
    parser.add_argument("--assignment", action="append", default=[], metavar="ID",
                        help="release only this assignment (repeatable; default: all)")
    parser.add_argument("--course", type=Path, default=GRADERS, help="nbgrader course directory (default: graders/)")
    parser.set_defaults(func=run)


def feedback_pages(course: Course, assignments: tuple[str, ...] = ()) -> dict[str, dict[str, Path]]:
    """``{student: {"<assignment>/<notebook>.html": path}}`` of the course's feedback pages."""
    pages: dict[str, dict[str, Path]] = {}
    for student in safefs.entries(course.feedback):
        if not student.is_dir or safefs.odd_name(student.name) or student.name.startswith("."):
            continue
        for assignment in safefs.entries(course.feedback / student.name):
            if not assignment.is_dir or (assignments and assignment.name not in assignments):
                continue
            for page in safefs.entries(course.feedback / student.name / assignment.name):
                if page.is_file and page.name.endswith(".html") and not safefs.odd_name(page.name):
                    path = course.feedback / student.name / assignment.name / page.name
                    pages.setdefault(student.name, {})[f"{assignment.name}/{page.name}"] = path
    return pages


def release(course: Course, to: Path, as_zip: bool = False, assignments: tuple[str, ...] = ()) -> list[Path]:
    """Write the pages (see the module's docstring); the folders or zips written, one per student."""
    to.mkdir(parents=True, exist_ok=True)
    written = []
    for student, pages in sorted(feedback_pages(course, assignments).items()):
        if as_zip:
            target = to / f"{student}.zip"
            tmp = target.with_name(f".{student}.zip.tmp")
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, path in sorted(pages.items()):
                    archive.writestr(name, safefs.read_regular(path, MAX_PAGE_BYTES))
            tmp.replace(target)
        else:
            target = to / student
            safefs.remove_tree(target)
            for name, path in sorted(pages.items()):
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                safefs.write_new(target / name, safefs.read_regular(path, MAX_PAGE_BYTES))
        written.append(target)
    return written


def run(args: argparse.Namespace) -> int:
    """Exit status 0, or 2 when there is no feedback to release."""
    course = Course.from_directory(args.course)
    written = release(course, args.to, args.zip, tuple(args.assignment))
    if not written:
        print(f"error: no feedback page under {course.feedback}"
              + (f" for {', '.join(args.assignment)}" if args.assignment else ""), file=sys.stderr)
        return 2
    print(f"feedback of {len(written)} student(s) written to {args.to}" + (" (one zip each)" if args.zip else ""))
    return 0
