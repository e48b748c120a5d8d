"""Run-wide reporting: tests skipped for want of something on this machine are named at the end.

Some suites need software outside the pinned pip environment: the grading sandbox (bubblewrap
and user namespaces, or root), a Chromium for the browser tests, a PostgreSQL server for the
PostgreSQL gradebook. Where one is missing its tests are skipped, and the run ends with one
line saying which were skipped and why, so that a green run never hides them.

With ``COURSE_REQUIRE_ALL=1`` (``.ci/run`` sets it) such a skip fails the run instead.
"""
from __future__ import annotations

import os
import re

import pytest

#: What a skip reason names -> the requirement it stands for.
REQUIREMENTS = (
    ("sandbox", re.compile(r"sandbox|bwrap|bubblewrap|user namespace", re.IGNORECASE)),
    ("browser", re.compile(r"chromium|browser|playwright", re.IGNORECASE)),
    ("PostgreSQL", re.compile(r"postgres", re.IGNORECASE)),
)
STRICT_VARIABLE = "COURSE_REQUIRE_ALL"

_skipped: dict[str, list[tuple[str, str]]] = {}  # requirement -> [(test id, reason)]


def _reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


def requirement_of(reason: str) -> str | None:
    """The machine requirement a skip reason names, or None for other skips."""
    return next((name for name, pattern in REQUIREMENTS if pattern.search(reason)), None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = _reason(report)
        requirement = requirement_of(reason)
        if requirement:
            _skipped.setdefault(requirement, []).append((report.nodeid, reason))


def summary_line(skipped: dict[str, list[tuple[str, str]]]) -> str:
    """One line: each requirement, how many tests it kept from running, and the first reason."""
    parts = []
    for requirement, _ in REQUIREMENTS:
        if requirement in skipped:
            tests = {nodeid for nodeid, _ in skipped[requirement]}
            parts.append(f"{requirement}: {len(tests)} test(s), {skipped[requirement][0][1]}")
    return "NOT RUN on this machine -- " + " | ".join(parts)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and os.environ.get(STRICT_VARIABLE) == "1" and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config):
    """After pytest's own summaries (-ra's list included), just above the closing counts."""
    try:
        return (yield)
    finally:
        if _skipped:
            line = summary_line(_skipped)
            if os.environ.get(STRICT_VARIABLE) == "1":
                line += f" ({STRICT_VARIABLE}=1: the run fails)"
            terminalreporter.write_line(line, yellow=True, bold=True)
