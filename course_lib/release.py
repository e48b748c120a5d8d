"""Regenerate the student notebooks (``notebooks/``) from the nbgrader sources (``solutions/``).

``python -m course_lib.release [ASSIGNMENT ...]`` runs ``nbgrader generate_assignment``
for each assignment (all of them by default), with the course configuration in
``graders/``. The student version keeps the prose, signatures and docstrings,
replaces every solution region by ``raise NotImplementedError()``, drops the
hidden tests and carries no outputs.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
GRADERS = ROOT / "graders"


def assignments() -> list[str]:
    """The assignment ids: one folder per chapter under ``solutions/``."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def generate(assignment: str, db_url: str | None = None) -> None:
    """Run ``nbgrader generate_assignment`` for one assignment, overwriting its student version.

    ``db_url`` selects the gradebook that records the assignment's cells (the course's
    gradebook by default; tests pass a scratch one).
    """
    cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", "--log-level=WARN"]
    if db_url:
        cmd.append(f"--CourseDirectory.db_url={db_url}")
    subprocess.run(cmd, cwd=GRADERS, check=True, env=tool_env())


def tool_env() -> dict[str, str]:
    """The environment with this interpreter's scripts first on PATH.

    nbgrader creates a new gradebook by running ``alembic``, which it finds on PATH.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def main(argv: list[str] | None = None) -> None:
    names = argv if argv is not None else sys.argv[1:]
    for name in names or ["*"]:  # nbgrader expands "*" to every assignment in one run
        generate(name)
    for name in names or assignments():
        print(f"notebooks/{name}: regenerated from solutions/{name}")


if __name__ == "__main__":
    main()
