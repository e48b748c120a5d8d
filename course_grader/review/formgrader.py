"""``make formgrader``: nbgrader's formgrader for instructors, on the course the pipeline grades.

Students' JupyterLab keeps the formgrader off (:mod:`course_lib.setup_jupyter` writes that into
the environment's ``etc/jupyter``). An instructor's server reads a configuration folder of its
own instead, ``.jupyter/instructor`` (``JUPYTER_CONFIG_DIR``, given precedence over the
environment's folder with ``JUPYTER_PREFER_ENV_PATH=0``), which switches the formgrader's server
extension and JupyterLab plugin back on. ``make lab`` never reads it.

The server starts in the course folder (``graders/``, or ``--course DIR``), so that the formgrader
reads the course's ``nbgrader_config.py``: the same course id and gradebook as ``make
autograde``, SQLite ``graders/gradebook.db`` or the PostgreSQL database ``COURSE_DB_URL`` names.
There the instructor grades the written answers (``Manual Grading``); then ``python -m
course_grader.term feedback`` rewrites grades.csv and the feedback pages with those scores and
comments (docs/instructors.md, "Grading written answers").
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GRADERS = REPO / "graders"
CONFIG_DIR = REPO / ".jupyter" / "instructor"

#: nbgrader's server extensions as an instructor's server has them
SERVER_EXTENSIONS: dict[str, bool] = {
    "nbgrader.server_extensions.formgrader": True,
    "nbgrader.server_extensions.validate_assignment": True,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.course_list": False,
}

#: JupyterLab plugins: ``True`` where an instructor's lab disables them
LAB_PLUGINS_DISABLED: dict[str, bool] = {
    "@jupyter/nbgrader:formgrader": False,
    "@jupyter/nbgrader:create-assignment": True,
    "@jupyter/nbgrader:course-list": True,
    "@jupyter/nbgrader:assignment-list": True,
    "@jupyterlab/apputils-extension:announcements": True,
}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def configure(config_dir: Path = CONFIG_DIR) -> Path:
    """Write the instructor's Jupyter configuration into ``config_dir`` (its own folder); return it."""
    config_dir = Path(config_dir)
    for name, enabled in SERVER_EXTENSIONS.items():
        _write_json(config_dir / "jupyter_server_config.d" / f"{name}.json",
                    {"ServerApp": {"jpserver_extensions": {name: enabled}}})
    _write_json(config_dir / "labconfig" / "page_config.json", {"disabledExtensions": LAB_PLUGINS_DISABLED})
    return config_dir


def environment(config_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an instructor's server: its configuration folder first."""
    env = dict(os.environ if base is None else base)
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_PREFER_ENV_PATH="0")
    return env


def command(course: Path, port: int | None = None, lab: bool = True, open_browser: bool = True) -> list[str]:
    """The command line of the server: JupyterLab (or a plain Jupyter server) rooted at the course."""
    argv = [sys.executable, "-m", "jupyterlab" if lab else "jupyter_server", f"--ServerApp.root_dir={course}"]
    if port is not None:
        argv += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if not open_browser:
        argv.append("--no-browser")
    if os.geteuid() == 0:  # containers often run as root, where Jupyter refuses to start otherwise
        argv.append("--allow-root")
    return argv


def main(argv: list[str] | None = None) -> None:
    """``python -m course_grader.review.formgrader [--course DIR] [--port N] [--no-browser]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=GRADERS, help="nbgrader course folder (default: graders/)")
    parser.add_argument("--port", type=int, default=None, help="port of the server (default: Jupyter's)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").is_file():
        raise SystemExit(f"error: course={str(course)!r} has no nbgrader_config.py: pass the course folder "
                         "(graders/ by default)")
    config_dir = configure()
    os.chdir(course)  # the formgrader reads nbgrader_config.py from the folder it starts in
    print(f"formgrader on {course} (gradebook: COURSE_DB_URL or {course / 'gradebook.db'}); "
          "open the Nbgrader > Formgrader menu, then Manual Grading")
    os.execve(sys.executable, command(course, args.port, open_browser=not args.no_browser),
              environment(config_dir))


if __name__ == "__main__":
    main()
