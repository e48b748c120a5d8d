"""A run ends with one line naming the tests this machine could not run (tests/conftest.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SUITE = '''
import pytest

def test_passes():
    pass

def test_sandboxed():
    pytest.skip("grading sandbox unavailable: bwrap not found on PATH")

@pytest.mark.parametrize("chapter", [1, 2])
def test_in_the_browser(chapter):
    pytest.skip("browser test skipped: no Chromium: none on PATH")

def test_not_written_yet():
    pytest.skip("solutions/06 does not exist yet")
'''


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_suite.py").write_text(SUITE)
    environment = {k: v for k, v in os.environ.items() if k != "COURSE_REQUIRE_ALL"} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"),
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=120,
    )


def test_one_line_names_what_was_skipped_and_why(tmp_path):
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("NOT RUN on this machine")]
    assert len(lines) == 1, result.stdout
    line = lines[0]
    assert "sandbox: 1 test(s), grading sandbox unavailable: bwrap not found on PATH" in line
    assert "browser: 2 test(s), browser test skipped: no Chromium" in line
    assert "does not exist yet" not in line  # not a missing piece of the machine


def test_course_require_all_turns_those_skips_into_a_failed_run(tmp_path):
    result = _run(tmp_path, COURSE_REQUIRE_ALL="1")
    assert result.returncode == 1, result.stdout
    assert "COURSE_REQUIRE_ALL=1: the run fails" in result.stdout
