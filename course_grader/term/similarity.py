"""``python -m course_grader.term similarity``: the code-similarity report (``make similarity``).

Writes ``<course>/reports/similarity.html`` (:mod:`course_grader.review.similarity`): per
assignment, the pairs of submissions whose code is at least ``--threshold`` similar once the
starter code is removed, and the submissions close to the course's reference, side by side.
It decides nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_grader.pipeline.course import Course
from course_grader.review.similarity import DEFAULT_THRESHOLD, write_similarity_report

GRADERS = Path(__file__).resolve().parents[2] / "graders"


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"--threshold must be a number between 0 and 1, got {text!r}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("similarity", help="write the code-similarity report under <course>/reports")
    parser.add_argument("--course", type=Path, default=GRADERS, help="the course directory (default: graders/)")
    parser.add_argument("--out", type=Path, default=None, help="folder to write (default: <course>/reports)")
    parser.add_argument("--threshold", type=_share, default=DEFAULT_THRESHOLD,
                        help=f"smallest similarity listed, 0 to 1 (default {DEFAULT_THRESHOLD})")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if not args.course.is_dir():
        print(f"error: --course must be a course directory, got {str(args.course)!r} (no such folder)",
              file=sys.stderr)
        return 2
    path = write_similarity_report(Course.from_directory(args.course), args.out, threshold=args.threshold)
    print(f"similarity report: {path}")
    return 0
