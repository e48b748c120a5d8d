"""The isolated judge: the checks run on the trusted side, the student's cells in a sandboxed worker.

- ``trusted``: starts the worker, sends it the solution cells, runs each named check
  through a :class:`~course_grader.judge.trusted.RemoteSubject`-style proxy and compares
  what comes back with the check's oracle. Only this side imports the checks' oracles.
- ``worker``: the untrusted process (``python -I -m course_grader.judge.worker``) that
  executes the student's cells and answers requests.
- ``protocol``: the JSON-lines messages between the two, plain data only.
"""
