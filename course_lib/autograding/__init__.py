"""Old name of the instructors' command, kept for scripts: the engine is now :mod:`course_grader`.

``python -m course_lib.autograding`` runs ``python -m course_grader`` and
``python -m course_lib.autograding.demo`` runs ``python -m course_grader.pipeline.demo``,
each after one line on stderr that says where the command moved. Nothing in the
teaching library imports this package.
"""
import runpy
import sys


def run_moved(module: str, old: str) -> None:
    """Say where ``old`` moved, then run ``module`` as ``python -m module`` would."""
    print(f"note: `python -m {old}` is now `python -m {module}`", file=sys.stderr)
    sys.argv[0] = module
    runpy.run_module(module, run_name="__main__", alter_sys=True)
