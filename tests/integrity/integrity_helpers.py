"""Helpers shared by the grading-integrity tests (import as ``integrity.integrity_helpers``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from course_lib.autograding.sandbox import SandboxConfig, command_prefix

REPO = Path(__file__).resolve().parents[2]


def run_sandboxed(
    code: str,
    workdir: Path,
    config: SandboxConfig = SandboxConfig(),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in the sandbox with ``workdir`` as its directory."""
    argv = command_prefix(workdir, config) + [sys.executable, "-c", code]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
