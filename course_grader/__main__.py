"""``python -m course_grader``: see :mod:`course_grader.pipeline.cli`."""
from course_grader.pipeline.cli import main

if __name__ == "__main__":  # worker processes re-import this module: keep the guard
    raise SystemExit(main())
