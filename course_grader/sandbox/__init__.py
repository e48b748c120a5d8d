"""Where untrusted code runs: the bubblewrap sandbox, warm fork servers, safe file access.

- ``bwrap``: the bubblewrap command line, its probe, and the sandboxed Jupyter kernel manager.
- ``forkserver``: a sandboxed server that imports torch once and forks one worker per request.
- ``warm_pool``: the trusted side of the fork servers (start, reuse, fall back to cold).
- ``kernel_server``: the fork server's entry point for notebook kernels.
- ``safefs``: reading and writing inside a student's folder without following links.
"""
