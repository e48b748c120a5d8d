"""``python -m course_lib.autograding``: the old name of ``python -m course_grader``."""
from course_lib.autograding import run_moved

if __name__ == "__main__":
    run_moved("course_grader", "course_lib.autograding")
