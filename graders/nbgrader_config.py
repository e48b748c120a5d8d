"""nbgrader configuration of the course (run nbgrader from this folder).

Layout, relative to this folder:
  ../solutions/<assignment>/<notebook>.ipynb   sources (solutions + hidden tests)
  ../notebooks/<assignment>/<notebook>.ipynb   student versions (generate_assignment)
  submitted/<student>/<assignment>/            submissions to grade
  autograded/, feedback/                       nbgrader's outputs
  gradebook.db                                 the gradebook (SQLite; COURSE_DB_URL overrides)

`make autograde` (python -m course_grader) reads this file; see docs/instructors.md.
"""
import os
from pathlib import Path

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

HERE = Path(__file__).resolve().parent

c.CourseDirectory.root = str(HERE)
c.CourseDirectory.course_id = "optim-course"
c.CourseDirectory.source_directory = "../solutions"
c.CourseDirectory.release_directory = "../notebooks"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# Any SQLAlchemy URL works (PostgreSQL for a shared server); SQLite by default.
c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL", f"sqlite:///{HERE / 'gradebook.db'}")

# Student versions ship without outputs; every exercise starts from NotImplementedError.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearOutputPreprocessor.enabled = True
c.GenerateAssignment.create_assignment = True

# Feedback never shows hidden tests, also when `nbgrader generate_feedback` is run by hand:
# each hidden region becomes "# hidden test: <check id>" (course_grader/pipeline/preprocessors.py).
# `make autograde` (python -m course_grader) sets this itself, with its other steps.
try:
    from course_grader.pipeline.preprocessors import HideHiddenTests
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
except ImportError:  # course_lib not installed in this Python: nbgrader's default feedback
    pass
else:
    c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
