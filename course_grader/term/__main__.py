"""``python -m course_grader.term VERB [options]``: the term's commands (docs/instructors.md)."""
from __future__ import annotations

import argparse
import importlib
import sys

# One module of this package per verb, in the order of a term.
VERBS: tuple[str, ...] = ("collect", "deadlines", "export", "feedback", "release", "report", "similarity")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_grader.term",
                                     description="The instructor's term: collect, deadlines, export, feedback, release, report, similarity.")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        importlib.import_module(f"course_grader.term.{verb}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
