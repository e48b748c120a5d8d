"""``python -m course_lib.autograding.demo``: the old name of ``python -m course_grader.pipeline.demo``."""
from course_lib.autograding import run_moved

if __name__ == "__main__":
    run_moved("course_grader.pipeline.demo", "course_lib.autograding.demo")
