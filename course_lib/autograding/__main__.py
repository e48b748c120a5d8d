"""``python -m course_lib.autograding``: see :mod:`course_lib.autograding.cli`."""
from course_lib.autograding.cli import main

if __name__ == "__main__":  # worker processes re-import this module: keep the guard
    raise SystemExit(main())
