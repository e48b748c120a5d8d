"""An instructor's term around the grading batch: ``python -m course_grader.term VERB ...``.

Each verb is one module of this package with ``add_parser(subparsers)``, which registers the
verb and its options and sets ``func(args) -> int`` (the exit status). The grading batch itself
stays ``python -m course_grader`` (:mod:`course_grader.pipeline.cli`).
"""
