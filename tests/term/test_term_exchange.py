"""Collecting through nbgrader's exchange, as docs/instructors.md gives it
(``cd graders && nbgrader collect 02_adam``): the submission lands in
``submitted/<user>/02_adam/`` under its released name, with nbgrader's ``timestamp.txt``.

Marked slow (kept out of ``make test``): four nbgrader commands, about 15 CPU-seconds; it checks
nbgrader's behaviour the documentation relies on, not this project's code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from term.term_course import make_course, tree

NBGRADER = str(Path(sys.executable).parent / "nbgrader")
NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _nbgrader(cwd: Path, env: dict, *args: str) -> None:
    done = subprocess.run([NBGRADER, *args], cwd=cwd, env=env, check=False, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_exchange_collect_fills_submitted(tmp_path):
    graders = make_course(tmp_path, [])
    (tmp_path / "notebooks" / "02_adam" / "adam.ipynb").write_text(NOTEBOOK)
    config = tmp_path / "jupyter_config"  # a cache of its own; the exchange through the course's variable
    config.mkdir()
    (config / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.cache = {str(tmp_path / 'cache')!r}\n"
                                              "c.CourseDirectory.course_id = 'optim-course'\n")
    exchange = tmp_path / "exchange"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "NBGRADER_EXCHANGE": str(exchange),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    _nbgrader(graders, env, "release_assignment", "02_adam")
    student = tmp_path / "student"
    student.mkdir()
    _nbgrader(student, env, "fetch_assignment", "02_adam")
    _nbgrader(student, env, "submit", "02_adam", "--student", "ada")
    _nbgrader(graders, env, "collect", "02_adam")  # the documented command
    assert any((exchange / "optim-course" / "inbound").iterdir())  # not some other exchange
    files = tree(graders / "submitted")
    assert set(files) == {"ada/02_adam/adam.ipynb", "ada/02_adam/timestamp.txt", "ada/02_adam/submission_secret.txt"}
    assert files["ada/02_adam/timestamp.txt"].strip()
    assert files["ada/02_adam/adam.ipynb"].decode() == NOTEBOOK
