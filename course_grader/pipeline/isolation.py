"""Access to the two isolation layers, the sandbox and the isolated judge, with fallbacks.

Both are written separately (``course_grader/sandbox/bwrap.py`` and
``course_grader/judge/trusted.py``); the pipeline imports them lazily, so that it still runs
(and says what is missing) while either one is absent.

Sandbox API used here: ``probe() -> (ok, why)``, ``SandboxConfig(memory_mb, cpu_seconds,
max_processes, network)``, ``command_prefix(workdir, config) -> list[str]`` and
``SandboxedKernelManager`` (an ``AsyncKernelManager`` subclass launching the kernel inside
the sandbox).

Judge API: ``judge(sources, checks, *, command_prefix, timeout, cwd) -> {check_id: Verdict}``
and ``find_checks(source) -> [(check_id, class_name)]``.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: MiB the judge's worker may write (its working folder and /tmp, each a tmpfs of that size; the
#: largest file too): the kernel's default budget (``Settings.max_write_mb``); it hands nothing
#: back through files, so nothing it writes reaches the host's disk
JUDGE_WRITE_MB = 100

_CHECK_CALL = re.compile(r"""\bcheck\(\s*(['"])([^'"]+)\1\s*,\s*([A-Za-z_][A-Za-z_0-9]*)""")


def load_sandbox() -> ModuleType | None:
    """The sandbox module, or None when it is not installed yet."""
    try:
        return importlib.import_module("course_grader.sandbox.bwrap")
    except ImportError:
        return None


def sandbox_status() -> tuple[bool, str]:
    """Whether the sandbox can run on this machine, and why not."""
    module = load_sandbox()
    if module is None:
        return False, "course_grader.sandbox.bwrap is not available"
    try:
        return module.probe()
    except Exception as error:  # a probe that crashes means: no sandbox
        return False, f"sandbox probe failed: {error!r}"


def command_prefix(workdir: Path, overlays: Sequence[tuple[Path, Path]] = (), private: bool = False) -> list[str]:
    """Argv prefix that runs a command inside the sandbox with ``workdir`` writable.

    ``overlays``: ``(replacement, original)`` pairs mounted over the originals (the judge's
    stubs of implementations an exercise may not run). ``private``: ``workdir`` is a
    size-limited tmpfs of the sandbox's own (the judge's worker), not the host's folder.
    """
    module = load_sandbox()
    config = module.SandboxConfig(file_size_mb=JUDGE_WRITE_MB) if private else module.SandboxConfig()
    return list(module.command_prefix(Path(workdir), config, overlays=overlays, private_workdir=private))


def warm_spawner(overlays: Sequence[tuple[Path, Path]] = (), cold_first: bool = False):  # noqa: ANN201
    """What starts a judge's worker from the warm pool for this forbidden set (None: no sandbox here).

    The pool's fork server runs in the same sandbox as a cold worker (same binds, limits and
    stubs); see :mod:`course_grader.sandbox.warm_pool`. ``cold_first``: start the server only
    when a second worker of this set is asked for in this process.
    """
    module = load_sandbox()
    if module is None:
        return None
    from course_grader.sandbox import warm_pool

    config = module.SandboxConfig(file_size_mb=JUDGE_WRITE_MB)
    overlays = tuple(overlays)
    fresh_uid = module._fresh_id if module.sandbox_mode() == "root" else None
    return warm_pool.spawner(
        key=overlays, fresh_uid=fresh_uid, tmp_mb=JUDGE_WRITE_MB, cold_first=cold_first, private_workdir=True,
        command_for=lambda folder: module.command_prefix(folder, config, overlays=overlays, fork_server=True))


def kernel_manager_class() -> type:
    """The kernel manager that starts notebook kernels inside the sandbox."""
    return load_sandbox().SandboxedKernelManager


def load_judge() -> ModuleType | None:
    """``course_grader.judge.trusted``, or None when the grading package is not installed yet."""
    try:
        return importlib.import_module("course_grader.judge.trusted")
    except ImportError:
        return None


def graded_sources(nb) -> tuple[list[str], list[int]]:  # noqa: ANN001
    """The code cells the judge's worker runs (solution cells and cells the student added).

    Returns ``(sources, indices of the added cells)``; a judge that does not say which
    cells it runs gets the solution cells alone.
    """
    judge = load_judge()
    if judge is not None and hasattr(judge, "graded_sources"):
        return judge.graded_sources(nb)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution") is True], []


def worker_overlays(judge: ModuleType, checks: list[tuple[str, str]]) -> tuple:
    """What the judge mounts over forbidden implementations in its worker's sandbox (none if it says none)."""
    return tuple(judge.worker_overlays(checks)) if hasattr(judge, "worker_overlays") else ()


def find_checks(source: str) -> list[tuple[str, str]]:
    """``(check_id, class_name)`` of every ``check("<id>", <Class>)`` call in a cell source."""
    judge = load_judge()
    if judge is not None and hasattr(judge, "find_checks"):
        return list(judge.find_checks(source))
    return [(m.group(2), m.group(3)) for m in _CHECK_CALL.finditer(source)]
