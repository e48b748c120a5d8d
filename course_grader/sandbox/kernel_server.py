"""The notebook kernels' fork server: ipykernel, torch, numpy and matplotlib imported once.

Started by :class:`course_grader.sandbox.bwrap.SandboxedKernelManager` inside the
kernels' sandbox as ``python -m course_grader.sandbox.kernel_server``. Each kernel is
forked from it by :mod:`course_grader.sandbox.forkserver` (its own namespaces, ``/tmp``,
session and user ID, no privileges; of the course's sandbox folders it sees only its
own working folder) and then starts exactly as ``python -m ipykernel_launcher <argv>``
would in a cold sandbox: same environment, same ``sys.argv``, same ``sys.path``.
"""

from __future__ import annotations

import importlib
import os
import sys

from course_grader.sandbox import forkserver


def run_kernel(request: dict) -> None:
    """Become ``python -m ipykernel_launcher <argv>`` in the request's environment."""
    import ipykernel_launcher
    from ipykernel import kernelapp

    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request.get("env") or {}).items()})
    sys.argv = [ipykernel_launcher.__file__, *[str(a) for a in request.get("argv") or []]]
    sys.path[0] = os.getcwd()  # what `python -m` puts first: the kernel's working folder
    kernelapp.launch_new_instance()


#: imported once by the server: what every chapter's kernel imports (its setup cell's modules)
PRELOADED = ("ipykernel.kernelapp", "torch", "numpy", "matplotlib.pyplot", "IPython.display",
             "course_lib.checks", "course_lib.plotting", "course_lib.problems", "course_lib.feedback")


def main() -> None:
    """Import what every kernel imports, then serve on fd 0 until the trusted side closes it."""
    for name in PRELOADED:  # matplotlib with the sandbox's MPLBACKEND (agg)
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - one the kernel then imports itself, as a cold one does
            pass
    sys.path[0] = os.getcwd()
    forkserver.serve(forkserver.control_socket(), run_kernel)


if __name__ == "__main__":
    main()
