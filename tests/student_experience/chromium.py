"""Which Chromium the browser tests drive, and why there is none (import as ``student_experience.chromium``).

In this order:

1. the system's Chromium (Debian's ``chromium`` package, which ``.ci/run`` installs);
2. Playwright's own Chromium, when ``playwright install chromium`` has put it in place;
3. Playwright's own Chromium downloaded now with ``playwright install chromium`` (where the
   machine may download it; ``COURSE_BROWSER_DOWNLOAD=0`` turns this step off).

A browser that is found must also start (``--version``): Playwright's build needs system
libraries that a bare machine may lack (``playwright install-deps chromium`` installs them).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

#: Names of the system's Chromium, in order of preference.
SYSTEM_NAMES = ("chromium", "chromium-browser")
INSTALL_HINT = "install Debian's chromium package (apt-get install chromium), as .ci/run does"
DOWNLOAD_TIMEOUT_S = 600
#: How every browser test starts Chromium.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _starts(path: str) -> str:
    """"" when ``path --version`` runs, else why not."""
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{path} does not start: {error}"
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"{path} does not start (exit {result.returncode}): {last[0]}"
    return ""


def system_chromium(path: str | None = None) -> str | None:
    """The system's Chromium on ``path`` (default: ``PATH``, then ``/usr/bin``), or None."""
    for name in SYSTEM_NAMES:
        found = shutil.which(name, path=path)
        if found:
            return found
    if path is None and os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return None


def playwright_chromium() -> str | None:
    """The Chromium that ``playwright install chromium`` puts in place, if it is there."""
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            path = playwright.chromium.executable_path
    except Exception:  # playwright missing or its driver unable to start: no browser from it
        return None
    return path if path and os.access(path, os.X_OK) else None


def download_playwright_chromium() -> str:
    """Run ``playwright install chromium``; "" on success, else the reason it failed."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "playwright", "install", "chromium"],
            capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`playwright install chromium` failed: {error}"
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        reason = next((line for line in lines if line.startswith("Error")), lines[-1] if lines else "no output")
        return f"`playwright install chromium` failed: {reason}"
    return ""


def find_chromium(path: str | None = None) -> tuple[str | None, str]:
    """``(executable, where it comes from)``, or ``(None, why there is none)``.

    Args:
        path: where to look for the system's Chromium, as in ``PATH`` (default: ``PATH``).
    """
    found = system_chromium(path)
    if found:
        broken = _starts(found)
        return (None, f"{broken}; {INSTALL_HINT}") if broken else (found, "the system's Chromium")
    found = playwright_chromium()
    if not found:
        if os.environ.get("COURSE_BROWSER_DOWNLOAD", "1") == "0":
            return None, f"no Chromium: none on PATH, and COURSE_BROWSER_DOWNLOAD=0; {INSTALL_HINT}"
        failure = download_playwright_chromium()
        found = None if failure else playwright_chromium()
        if not found:
            failure = failure or "`playwright install chromium` installed no browser"
            return None, f"no Chromium: none on PATH, and {failure}; {INSTALL_HINT}"
    broken = _starts(found)
    if broken:
        return None, (f"{broken} (Playwright's Chromium needs system libraries: "
                      f"`playwright install-deps chromium` as root); or {INSTALL_HINT}")
    return found, "Playwright's Chromium"


def launched_browser() -> Iterator:
    """A started Playwright Chromium, closed afterwards: the body of a module-scoped ``browser`` fixture.

    Skips the calling test, saying why, when there is no Chromium or no Playwright.
    """
    path, why = find_chromium()
    if not path:
        pytest.skip(f"browser test skipped: {why}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (requirements-dev.txt) is missing")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
