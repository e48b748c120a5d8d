"""Reviewing a class after grading: the class report (:mod:`course_grader.review.report`) and the
similarity check (:mod:`course_grader.review.similarity`); instructors run them with
``make report`` and ``make similarity`` (docs/instructors.md)."""
