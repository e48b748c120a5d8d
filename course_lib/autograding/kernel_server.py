"""The notebook kernels' fork server: ipykernel, torch, numpy and matplotlib imported once.

Started by :class:`course_lib.autograding.sandbox.SandboxedKernelManager` inside the
kernels' sandbox as ``python -m course_lib.autograding.kernel_server``. Each kernel is
forked from it by :mod:`course_lib.grading.forkserver` (its own namespaces, ``/tmp``,
session and user ID, no privileges; of the course's sandbox folders it sees only its
own working folder) and then starts exactly as ``python -m ipykernel_launcher <argv>``
would in a cold sandbox: same environment, same ``sys.argv``, same ``sys.path``.
"""

from __future__ import annotations

import os
import sys

from course_lib.grading import forkserver


def run_kernel(request: dict) -> None:
    """Become ``python -m ipykernel_launcher <argv>`` in the request's environment."""
    import ipykernel_launcher
    from ipykernel import kernelapp

    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request.get("env") or {}).items()})
    sys.argv = [ipykernel_launcher.__file__, *[str(a) for a in request.get("argv") or []]]
    sys.path[0] = os.getcwd()  # what `python -m` puts first: the kernel's working folder
    kernelapp.launch_new_instance()


def main() -> None:
    """Import what every kernel imports, then serve on fd 0 until the trusted side closes it."""
    import ipykernel.kernelapp  # noqa: F401 - IPython, zmq, tornado, jupyter_client
    import matplotlib.pyplot  # noqa: F401 - with the sandbox's MPLBACKEND (agg)
    import numpy  # noqa: F401
    import torch  # noqa: F401

    sys.path[0] = os.getcwd()
    forkserver.serve(forkserver.control_socket(), run_kernel)


if __name__ == "__main__":
    main()
