"""The grading engine that instructors run: sandboxed nbgrader autograding, the isolated judge, reports.

Students never import it; it imports the exercise checks (:mod:`course_lib.checks`) and
drives them on submitted notebooks. Three sub-packages, by role:

- :mod:`course_grader.judge`: the isolated judge. Its trusted side (``trusted``) runs every
  check against the student's cells, which run in an untrusted worker process (``worker``)
  that answers with plain data (``protocol``).
- :mod:`course_grader.sandbox`: where untrusted code runs: bubblewrap (``bwrap``), the warm
  fork servers (``forkserver``, ``warm_pool``, ``kernel_server``) and reading submitted
  files without following what a student planted (``safefs``).
- :mod:`course_grader.pipeline`: the batch behind ``make autograde`` (``python -m
  course_grader``): nbgrader glue, course state, repairs, feedback pages, ``grades.csv``,
  progress, Dask scale-out and the command line.

See ``docs/architecture.md`` for the map and for the path of one submission through it.
"""
