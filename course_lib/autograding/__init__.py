"""The instructor pipeline: nbgrader autograde in a sandbox, feedback, grades.csv.

``python -m course_lib.autograding`` (``make autograde``) grades every submission under
``graders/submitted``; ``python -m course_lib.autograding.demo`` (``make grade-demo``) grades
bundled example submissions in a scratch course. See ``docs/instructors.md``.

Modules: ``course`` (where things are), ``repair`` (locating and repairing submitted
notebooks), ``preprocessors`` (what the course adds to nbgrader), ``worker`` (one
submission), ``pipeline`` (the batch), ``report`` (grades.csv), ``isolation`` (sandbox and
judge access), ``scratch`` (scratch courses and synthetic submissions), ``cli``, ``demo``.
"""
