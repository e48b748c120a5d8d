"""The instructor pipeline: nbgrader autograde in a sandbox, feedback, grades.csv.

``python -m course_grader`` (``make autograde``) grades every submission under
``graders/submitted``; ``python -m course_grader.pipeline.demo`` (``make grade-demo``) grades
bundled example submissions in a scratch course. See ``docs/instructors.md``.

Modules: ``course`` (where things are), ``repair`` (locating and repairing submitted
notebooks), ``preprocessors`` (what the course adds to nbgrader), ``submission`` (one
submission), ``batch`` (the course), ``grades`` (grades.csv and the table), ``isolation`` (sandbox and
judge access), ``dask_cluster`` (grading on a Dask cluster), ``progress``, ``feedback_html``,
``scratch`` (scratch courses and synthetic submissions), ``cli``, ``demo``.
"""
